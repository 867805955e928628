#!/usr/bin/env bash
# Runs every test: the Maven reactor (unit, real PostgreSQL, real HTTP, the Java SDK), the Python
# suites (the lathe SDK, the pinned official tinker SDK, PEFT interop, the examples; installed into
# .venv on first use), then the deployment files' check (compose and helm, in Go).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/jdk.sh
echo "JDK: $JAVA_HOME"
if [ ! -x .venv/bin/python ] || ! cmp -s requirements-test.txt .venv/requirements-test.txt; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-test.txt
  cp requirements-test.txt .venv/requirements-test.txt
fi
# GPU workers build with -Pcuda (DESIGN §4): the engine must compile against that DJL too.
mvn -B -ntp -q -Pcuda -pl worker -am compile
mvn -B -ntp clean verify
.venv/bin/python -m pytest -q web-contracts/src/test/python worker/src/test/python sdk/python/tests
(cd deploy/check && go run . -root ../..)
