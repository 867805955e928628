"""What DoRA costs against LoRA, measured from outside: through the REST API with real concurrent
clients (bench/multitenant_http.py's loop), in one server run. For each tenant count, the same
steps (forward_backward + optim_step of 8 datums of 64 tokens in all, rank 16) with every tenant
on LoRA, every tenant on DoRA, and half of them on each (one fused batch of both kinds): tokens/s,
its ratio to LoRA's, and step latency p50/p99.

    .venv/bin/python bench/dora_http.py [tiny|bench] [--seconds 20] [--warmup 10] [--settle 120]
        [--tenants 1,8]
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from multitenant_http import arguments, datum, run, running, settle  # noqa: E402

KINDS = {"lora": lambda i: False, "dora": lambda i: True, "mixed": lambda i: i % 2 == 1}


def main():
    args = arguments("1,8")
    model = args.model
    rows = []
    with running(LATHE_BASE_MODEL=model, LATHE_ADAPTER_SLOTS="16") as server:
        settle(server, model, args.settle)
        for n in args.tenants:
            per = max(1, 8 // n)
            for kind, dora in KINDS.items():
                if kind == "mixed" and n == 1:
                    continue
                rows.append((n, per, kind, run(server, model, n, per, args.seconds, args.warmup, dora)))
    print(f"{model}: each step = forward_backward + optim_step, rank 16, {datum().model_input.length} tokens a datum, "
          f"{args.seconds:.0f} s each")
    print(f"{'tenants':>7} {'datums':>6} {'adapters':>8} {'tok/s':>7} {'vs LoRA':>7} {'p50 s':>6} {'p99 s':>6}")
    lora = {n: r for n, _, kind, r in rows if kind == "lora"}
    for n, per, kind, r in rows:
        print(f"{n:>7} {per:>6} {kind:>8} {r['tokens_per_s']:>7.0f} {r['tokens_per_s'] / lora[n]['tokens_per_s']:>7.2f} "
              f"{r['p50']:>6.3f} {r['p99']:>6.3f}")


if __name__ == "__main__":
    main()
