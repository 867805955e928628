#!/usr/bin/env bash
# Runs every test: the Maven reactor (unit, real PostgreSQL, real HTTP, the Java SDK), the Python
# suites (installed into venvs on first use): the lathe SDK, the pinned JSON-protocol tinker SDK,
# PEFT interop, the examples and the reliability suites in .venv (the API fuzzer, schemathesis, in
# .venv-fuzz); the current tinker SDK (protobuf) in .venv-tinker; then
# the deployment files' check (compose and helm, in Go).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/jdk.sh
echo "JDK: $JAVA_HOME"
# A venv per requirements file, rebuilt when the file changes, by uv (itself in .uv): from its
# cache the second venv's torch is linked, not downloaded and unpacked again.
[ -x .uv/bin/uv ] || { python3 -m venv .uv && .uv/bin/pip install -q --disable-pip-version-check uv==0.9.30; }
export UV_NATIVE_TLS=1
venv() {
  local dir=$1 reqs=$2
  shift 2
  if [ ! -x "$dir/bin/python" ] || ! cmp -s "$reqs" "$dir/$reqs"; then
    rm -rf "$dir"
    .uv/bin/uv venv -q --python "$(command -v python3)" "$dir"
    VIRTUAL_ENV=$dir .uv/bin/uv pip install -q -r "$reqs"
    for extra in "$@"; do
      VIRTUAL_ENV=$dir .uv/bin/uv pip install -q --no-deps "$extra"
    done
    cp "$reqs" "$dir/$reqs"
  fi
}
venv .venv requirements-test.txt
venv .venv-tinker requirements-tinker.txt tinker-cookbook==0.6.1
venv .venv-fuzz requirements-fuzz.txt
# GPU workers build with -Pcuda (DESIGN §4): the engine must compile against that DJL too.
mvn -B -ntp -q -Pcuda -pl worker -am compile
mvn -B -ntp clean verify
.venv/bin/python -m pytest -q --durations=8 web-contracts/src/test/python worker/src/test/python sdk/python/tests \
  --ignore=web-contracts/src/test/python/current --ignore=sdk/python/tests/tinker_current
.venv-tinker/bin/python -m pytest -q --durations=5 web-contracts/src/test/python/current sdk/python/tests/tinker_current
(cd deploy/check && go run . -root ../..)
