"""Many tenants training at once, measured from outside: through the REST API, with real
concurrent clients (the `lathe` SDK, one thread per tenant), against the jar.

Each step of a tenant is forward_backward + optim_step, and the client waits for both futures.
For N tenants each steps N-th of the datums one tenant steps alone (8 datums of 64 tokens; 1 each
for 8 and 16 tenants, against 8 and 16 alone), so every configuration trains the same tokens per
round. Reported per configuration, in one run: tokens/s and its ratio to one tenant with the same
total datums, step latency p50/p99, requests per fused batch, the clients' round trip (ms from a
run's result written to its next request claimed), where the worker's time went per clock cycle
(its own timers, lathe_worker_phase_seconds, read from /actuator/prometheus before and after),
and where the machine's cores went: the engine (the worker thread and PyTorch's threads), the rest
of the server's JVM (HTTP, JSON, JDBC), its JIT compilers, the snapshot thread, PostgreSQL and the
clients (this process), in % of one core, from /proc. Each configuration first runs untimed for
--warmup seconds (JIT, allocator, connection pools).

    .venv/bin/python bench/multitenant_http.py [tiny|bench] [--seconds 20] [--warmup 10]
        [--tenants 1,2,4,8,16]
"""

import argparse
import collections
import os
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
    for name in ("fused_requests", "round_trip_seconds"):
        for stat in ("sum", "count"):
            m = re.search(rf"^lathe_worker_{name}_{stat}\{{[^}}]*\}} (\S+)$", text, re.M)
            out[f"{name}_{stat}"] = float(m.group(1)) if m else 0.0
    return out


TICK = os.sysconf("SC_CLK_TCK")
CPU_GROUPS = ["engine", "jvm", "jit", "snapshots", "postgres", "clients"]


def _ticks(stat_path):
    with open(stat_path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def cpu(server_pid):
    """CPU seconds so far by group: the server's threads by name, PostgreSQL, this process."""
    out = collections.Counter()
    for task in pathlib.Path(f"/proc/{server_pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            ticks = _ticks(task / "stat")
        except OSError:
            continue  # the thread ended
        group = ("engine" if name.startswith("lathe-worker") else "jit" if name.startswith(("C1 ", "C2 "))
                 else "snapshots" if name.startswith("lathe-snapshot") else "jvm")
        out[group] += ticks / TICK
    for proc in pathlib.Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "comm").read_text().strip() == "postgres":
                    out["postgres"] += _ticks(proc / "stat") / TICK
            except OSError:
                pass
    out["clients"] = _ticks("/proc/self/stat") / TICK
    return out


def run(server, model, tenants, per_tenant, seconds, warmup, dora=lambda tenant: False):
    """One configuration: `tenants` clients stepping `per_tenant` datums each; tenant i trains DoRA
    where dora(i)."""
    clients = []
    for i in range(tenants):
        key = server.new_api_key(f"bench-{tenants}-{per_tenant}-{i}-{time.time_ns()}")
        service = lathe.ServiceClient(base_url=server.base_url, api_key=key)
        training = service.create_lora_training_client(base_model=model, rank=16, seed=i, use_dora=dora(i))
        clients.append((service, training))
    data = [datum() for _ in range(per_tenant)]
    tokens_per_step = sum(d.model_input.length for d in data)

    def step(training):
        fb = training.forward_backward(data)
        opt = training.optim_step(AdamParams(learning_rate=1e-4))
        fb.result()
        opt.result()

    latencies, steps = [], [0] * tenants
    lock = threading.Lock()

    def loop(i, training, stop, timed):
        while time.monotonic() < stop:
            t = time.monotonic()
            step(training)
            if timed:
                with lock:
                    latencies.append(time.monotonic() - t)
                    steps[i] += 1

    def all_tenants(duration, timed):
        stop = time.monotonic() + duration
        threads = [threading.Thread(target=loop, args=(i, t, stop, timed)) for i, (_, t) in enumerate(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    for _, training in clients:  # the adapter is created and resident
        step(training)
    all_tenants(warmup, False)
    before, cpu_before = phases(server.base_url), cpu(server.proc.pid)
    start_time = time.monotonic()
    all_tenants(seconds, True)
    wall = time.monotonic() - start_time
    after, cpu_after = phases(server.base_url), cpu(server.proc.pid)
    for service, _ in clients:
        service.close()
    cycles = max(1.0, after["cycles"] - before["cycles"])
    per_cycle = {k: (after.get(k, 0) - before.get(k, 0)) / cycles * 1e3 for k in after if k != "cycles"}
    batches = max(1.0, after["fused_requests_count"] - before["fused_requests_count"])
    per_batch = (after["fused_requests_sum"] - before["fused_requests_sum"]) / batches
    trips = max(1.0, after["round_trip_seconds_count"] - before["round_trip_seconds_count"])
    round_trip = (after["round_trip_seconds_sum"] - before["round_trip_seconds_sum"]) / trips
    latencies.sort()
    return {
        "tokens_per_s": sum(steps) * tokens_per_step / wall,
        "p50": statistics.median(latencies),
        "p99": latencies[int(0.99 * (len(latencies) - 1))],
        "steps": sum(steps),
        "cycles": cycles,
        "per_batch": per_batch,
        "round_trip_ms": round_trip * 1e3,
        "per_cycle_ms": per_cycle,
        "fairness": (min(steps) / max(steps)) if max(steps) else 0,
        "cpu": {g: (cpu_after[g] - cpu_before[g]) / wall * 100 for g in CPU_GROUPS},
    }


def arguments(tenants):
    """The command line: model, --seconds, --warmup, and --tenants (default `tenants`)."""
    p = argparse.ArgumentParser()
    p.add_argument("model", nargs="?", default="tiny", choices=sorted(MODELS))
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--warmup", type=float, default=10)
    p.add_argument("--tenants", default=tenants)
    args = p.parse_args()
    args.model = MODELS[args.model]
    args.tenants = [int(n) for n in args.tenants.split(",")]
    return args


def main():
    args = arguments("1,2,4,8,16")
    model = args.model
    with running(LATHE_BASE_MODEL=model, LATHE_ADAPTER_SLOTS="16") as server:
        counts = args.tenants
        alone = {}
        rows = []
        for n in counts:
            per = max(1, 8 // n)
            total = n * per
            if total not in alone:
                alone[total] = run(server, model, 1, total, args.seconds, args.warmup)
            r = run(server, model, n, per, args.seconds, args.warmup) if n > 1 else alone[total]
            rows.append((n, per, r, alone[total]))
    print(f"{model}: each step = forward_backward + optim_step, {datum().model_input.length} tokens a datum, {args.seconds:.0f} s each")
    phase_names = ["claim", "fused", "engine", "optimizer", "snapshot", "results", "idle", "heartbeat"]
    print(f"{'tenants':>7} {'datums':>6} {'tok/s':>7} {'vs 1':>6} {'p50 s':>6} {'p99 s':>6} {'fair':>5} {'batch':>5} {'trip':>5} "
          + " ".join(f"{n:>9}" for n in phase_names) + "  (ms per cycle)")
    for n, per, r, a in rows:
        print(f"{n:>7} {per:>6} {r['tokens_per_s']:>7.0f} {r['tokens_per_s'] / a['tokens_per_s']:>6.2f} "
              f"{r['p50']:>6.3f} {r['p99']:>6.3f} {r['fairness']:>5.2f} {r['per_batch']:>5.1f} {r['round_trip_ms']:>5.1f} "
              + " ".join(f"{r['per_cycle_ms'].get(k, 0):>9.1f}" for k in phase_names))
    print(f"\nwhere the {os.cpu_count()} cores went, % of one core:")
    print(f"{'tenants':>7} {'datums':>6} " + " ".join(f"{g:>9}" for g in CPU_GROUPS) + f" {'total':>9}")
    for n, per, r, _ in rows:
        print(f"{n:>7} {per:>6} " + " ".join(f"{r['cpu'][g]:>9.0f}" for g in CPU_GROUPS)
              + f" {sum(r['cpu'].values()):>9.0f}")


if __name__ == "__main__":
    main()
