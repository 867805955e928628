#!/usr/bin/env bash
# Engine throughput: forward_backward and sampling on lathe-tiny and lathe-tiny-bench, each
# against a baseline measured in the same run (see EngineBenchmark's javadoc).
#   bench/engine.sh [tiny|bench|smollm2|all] [batch] [seq]
if [ "${1:-}" = smollm2 ]; then
  "$(dirname "$0")/../scripts/install-model.sh" smollm2-135m-instruct "$(dirname "$0")/../.models" >/dev/null
fi
exec "$(dirname "$0")/worker-main.sh" EngineBenchmark "$@"
