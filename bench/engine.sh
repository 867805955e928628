#!/usr/bin/env bash
# Engine throughput: forward_backward and sampling on lathe-tiny and lathe-tiny-bench, each
# against a baseline measured in the same run (see EngineBenchmark's javadoc).
#   bench/engine.sh [tiny|bench|all] [batch] [seq]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/jdk.sh
mvn -B -q -ntp -pl worker -am -DskipTests install
mvn -B -q -ntp -pl worker dependency:build-classpath -Dmdep.includeScope=runtime -Dmdep.outputFile="$PWD/worker/target/classpath.txt"
cp=$(cat worker/target/classpath.txt)
exec java -cp "worker/target/classes:$cp" dev.lathe.worker.bench.EngineBenchmark "$@"
