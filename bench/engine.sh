#!/usr/bin/env bash
# Engine throughput: forward_backward and sampling on lathe-tiny and lathe-tiny-bench, each
# against a baseline measured in the same run (see EngineBenchmark's javadoc).
#   bench/engine.sh [tiny|bench|all] [batch] [seq]
exec "$(dirname "$0")/worker-main.sh" EngineBenchmark "$@"
