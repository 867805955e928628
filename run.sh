#!/usr/bin/env bash
# Builds Lathe if needed and starts it all-in-one: api + in-process worker + embedded
# PostgreSQL (data in ./lathe-data) on http://127.0.0.1:${LATHE_PORT:-8080}.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/jdk.sh
mvn -B -q -ntp -DskipTests package
exec java -jar api/target/lathe.jar "$@"
