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
# A venv per requirements file, rebuilt when the file changes.
venv() {
  local dir=$1 reqs=$2
  shift 2
  if [ ! -x "$dir/bin/python" ] || ! cmp -s "$reqs" "$dir/$reqs"; then
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install -q --disable-pip-version-check -r "$reqs"
    for extra in "$@"; do
      "$dir/bin/pip" install -q --disable-pip-version-check --no-deps "$extra"
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
.venv/bin/python -m pytest -q web-contracts/src/test/python worker/src/test/python sdk/python/tests \
  --ignore=web-contracts/src/test/python/current --ignore=sdk/python/tests/tinker_current
.venv-tinker/bin/python -m pytest -q web-contracts/src/test/python/current sdk/python/tests/tinker_current
(cd deploy/check && go run . -root ../..)
