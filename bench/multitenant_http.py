"""Many tenants training at once, measured from outside: through the REST API, with real
concurrent clients (the `lathe` SDK, one thread per tenant), against the jar.

Each step of a tenant is forward_backward + optim_step, and the client waits for both futures.
For N tenants each steps N-th of the datums one tenant steps alone (8 datums of 64 tokens; 1 each
for 8 and 16 tenants, against 8 and 16 alone), so every configuration trains the same tokens per
round. Reported per configuration, in one run: tokens/s and its ratio to one tenant with the same
total datums, step latency p50/p99, and where the worker's time went per clock cycle (its own
timers, lathe_worker_phase_seconds, read from /actuator/prometheus before and after).

    .venv/bin/python bench/multitenant_http.py [tiny|bench] [--seconds 20] [--tenants 1,2,4,8,16]
"""

import argparse
import pathlib
import re
import statistics
import sys
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sdk" / "python" / "tests"))
sys.path.insert(0, str(ROOT / "sdk" / "python" / "src"))
import lathe  # noqa: E402
from conftest import running  # noqa: E402
from lathe import AdamParams, Datum, ModelInput  # noqa: E402

TEXT = b"Lathe trains many tenants' LoRA adapters in one fused batch! 0123"  # 64 tokens a datum
MODELS = {"tiny": "lathe-tiny", "bench": "lathe-tiny-bench"}


def datum():
    tokens = list(TEXT)
    return Datum(model_input=ModelInput.from_ints(tokens[:-1]), loss_fn_inputs={"target_tokens": tokens[1:]})


def phases(base):
    """Seconds per worker phase and the cycle count so far."""
    with urllib.request.urlopen(base + "/actuator/prometheus", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for m in re.finditer(r'^lathe_worker_phase_seconds_sum\{[^}]*phase="([a-z_]+)"[^}]*\} (\S+)$', text, re.M):
        out[m.group(1)] = float(m.group(2))
    cycles = re.search(r"^lathe_worker_cycle_seconds_count\{[^}]*\} (\S+)$", text, re.M)
    out["cycles"] = float(cycles.group(1)) if cycles else 0.0
    return out


def run(server, model, tenants, per_tenant, seconds):
    clients = []
    for i in range(tenants):
        key = server.new_api_key(f"bench-{tenants}-{per_tenant}-{i}-{time.time_ns()}")
        service = lathe.ServiceClient(base_url=server.base_url, api_key=key)
        clients.append((service, service.create_lora_training_client(base_model=model, rank=16, seed=i)))
    data = [datum() for _ in range(per_tenant)]
    tokens_per_step = sum(d.model_input.length for d in data)

    def step(training):
        fb = training.forward_backward(data)
        opt = training.optim_step(AdamParams(learning_rate=1e-4))
        fb.result()
        opt.result()

    for _, training in clients:  # warm-up: the adapter is created and resident
        step(training)
    before = phases(server.base_url)
    latencies, steps = [], [0] * tenants
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def loop(i, training):
        while time.monotonic() < stop:
            t = time.monotonic()
            step(training)
            with lock:
                latencies.append(time.monotonic() - t)
                steps[i] += 1

    start_time = time.monotonic()
    threads = [threading.Thread(target=loop, args=(i, t)) for i, (_, t) in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start_time
    after = phases(server.base_url)
    for service, _ in clients:
        service.close()
    cycles = max(1.0, after["cycles"] - before["cycles"])
    per_cycle = {k: (after.get(k, 0) - before.get(k, 0)) / cycles * 1e3 for k in after if k != "cycles"}
    latencies.sort()
    return {
        "tokens_per_s": sum(steps) * tokens_per_step / wall,
        "p50": statistics.median(latencies),
        "p99": latencies[int(0.99 * (len(latencies) - 1))],
        "steps": sum(steps),
        "cycles": cycles,
        "per_cycle_ms": per_cycle,
        "fairness": (min(steps) / max(steps)) if max(steps) else 0,
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model", nargs="?", default="tiny", choices=sorted(MODELS))
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--tenants", default="1,2,4,8,16")
    args = p.parse_args()
    model = MODELS[args.model]
    with running(LATHE_BASE_MODEL=model, LATHE_ADAPTER_SLOTS="16") as server:
        counts = [int(n) for n in args.tenants.split(",")]
        alone = {}
        rows = []
        for n in counts:
            per = max(1, 8 // n)
            total = n * per
            if total not in alone:
                alone[total] = run(server, model, 1, total, args.seconds)
            r = run(server, model, n, per, args.seconds) if n > 1 else alone[total]
            rows.append((n, per, r, alone[total]))
    print(f"{model}: each step = forward_backward + optim_step, {datum().model_input.length} tokens a datum, {args.seconds:.0f} s each")
    phase_names = ["claim", "fused", "optimizer", "snapshot", "results", "idle", "heartbeat"]
    print(f"{'tenants':>7} {'datums':>6} {'tok/s':>7} {'vs 1':>6} {'p50 s':>6} {'p99 s':>6} {'fair':>5} "
          + " ".join(f"{n:>9}" for n in phase_names) + "  (ms per cycle)")
    for n, per, r, a in rows:
        print(f"{n:>7} {per:>6} {r['tokens_per_s']:>7.0f} {r['tokens_per_s'] / a['tokens_per_s']:>6.2f} "
              f"{r['p50']:>6.3f} {r['p99']:>6.3f} {r['fairness']:>5.2f} "
              + " ".join(f"{r['per_cycle_ms'].get(k, 0):>9.1f}" for k in phase_names))


if __name__ == "__main__":
    main()
