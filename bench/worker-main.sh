#!/usr/bin/env bash
# Builds the worker and runs one of its benchmark mains: bench/worker-main.sh <Class> [args...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/jdk.sh
mvn -B -q -ntp -pl worker -am -DskipTests install
mvn -B -q -ntp -pl worker dependency:build-classpath -Dmdep.includeScope=runtime -Dmdep.outputFile="$PWD/worker/target/classpath.txt"
main="$1"
shift
exec java -cp "worker/target/classes:$(cat worker/target/classpath.txt)" "dev.lathe.worker.bench.$main" "$@"
