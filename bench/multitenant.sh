#!/usr/bin/env bash
# Many tenants on one base model: fused forward_backward against one tenant alone and against
# tenant by tenant with adapter swaps, measured in the same run (see MultiTenantBenchmark).
#   bench/multitenant.sh [tiny|bench|all] [examples per tenant] [seq] [max tenants]
exec "$(dirname "$0")/worker-main.sh" MultiTenantBenchmark "$@"
