"""Many tenants training at once, measured from outside: through the REST API, with real
concurrent clients (the `lathe` SDK, a process per tenant as each tenant runs its own training
loop), against the jar.

Each step of a tenant is forward_backward + optim_step, and the client waits for both futures.
For N tenants each steps N-th of the datums one tenant steps alone (8 datums of 64 tokens; 1 each
for 8 and 16 tenants, against 8 and 16 alone), so every configuration trains the same tokens per
round. Reported per configuration, in one run: tokens/s and its ratio to one tenant with the same
total datums, step latency p50/p99, requests per fused batch, the clients' round trip (ms from a
run's result written to its next request queued), where the worker's time went per clock cycle
(its own timers, lathe_worker_phase_seconds, read from /actuator/prometheus before and after),
and where the machine's cores went: the engine (the worker thread and PyTorch's threads), the rest
of the server's JVM (HTTP, JSON, JDBC), its JIT compilers, the snapshot thread, PostgreSQL and the
clients (their processes' own CPU time), in % of one core, from /proc. The server first runs
--settle seconds of 8 tenants untimed (the JIT compiles the HTTP and JDBC paths for minutes: with
a short warm-up it took a fifth of a core in the timed runs), then each configuration runs untimed
for --warmup seconds (allocator, connection pools, the adapters resident).

    .venv/bin/python bench/multitenant_http.py [tiny|bench] [--seconds 20] [--warmup 10]
        [--settle 120] [--tenants 1,2,4,8,16]
"""

import argparse
import collections
import multiprocessing
import os
import pathlib
import re
import statistics
import sys
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
    """CPU seconds so far by group: the server's threads by name and PostgreSQL (the clients report their own)."""
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
    return out


def tenant(base_url, key, model, seed, dora, per_tenant, ready, go, times, out):
    """One tenant's program, in a process of its own (as each tenant's training loop is): a client,
    its first step (the adapter is created and resident), then steps until times[1] and reports the
    latencies of those started after times[0] and its CPU seconds from times[0] on."""
    service = lathe.ServiceClient(base_url=base_url, api_key=key)
    training = service.create_lora_training_client(base_model=model, rank=16, seed=seed, use_dora=dora)
    data = [datum() for _ in range(per_tenant)]

    def step():
        fb = training.forward_backward(data)
        opt = training.optim_step(AdamParams(learning_rate=1e-4))
        fb.result()
        opt.result()

    step()
    ready.wait()
    go.wait()
    timed_from, stop = times[0], times[1]
    latencies, cpu_from = [], None
    while time.monotonic() < stop:
        t = time.monotonic()
        if cpu_from is None and t >= timed_from:
            cpu_from = time.process_time()
        step()
        if t >= timed_from:
            latencies.append(time.monotonic() - t)
    out.put((latencies, time.process_time() - (cpu_from or time.process_time())))
    service.close()


def run(server, model, tenants, per_tenant, seconds, warmup, dora=lambda tenant: False):
    """One configuration: `tenants` clients, each a process of its own, stepping `per_tenant`
    datums each; tenant i trains DoRA where dora(i)."""
    ctx = multiprocessing.get_context("fork")
    ready, go = ctx.Barrier(tenants + 1), ctx.Barrier(tenants + 1)
    times, out = ctx.Array("d", 2), ctx.Queue()
    procs = []
    for i in range(tenants):
        key = server.new_api_key(f"bench-{tenants}-{per_tenant}-{i}-{time.time_ns()}")
        args = (server.base_url, key, model, i, dora(i), per_tenant, ready, go, times, out)
        procs.append(ctx.Process(target=tenant, args=args))
    for p in procs:
        p.start()
    ready.wait(timeout=300)
    times[0] = time.monotonic() + warmup
    times[1] = times[0] + seconds
    go.wait(timeout=60)
    time.sleep(max(0.0, times[0] - time.monotonic()))
    before, cpu_before = phases(server.base_url), cpu(server.proc.pid)
    reports = [out.get(timeout=seconds + 600) for _ in procs]
    wall = time.monotonic() - times[0]
    after, cpu_after = phases(server.base_url), cpu(server.proc.pid)
    for p in procs:
        p.join()
    tokens_per_step = per_tenant * datum().model_input.length
    steps = [len(latencies) for latencies, _ in reports]
    latencies = sorted(t for ts, _ in reports for t in ts)
    cycles = max(1.0, after["cycles"] - before["cycles"])
    per_cycle = {k: (after.get(k, 0) - before.get(k, 0)) / cycles * 1e3 for k in after if k != "cycles"}
    batches = max(1.0, after["fused_requests_count"] - before["fused_requests_count"])
    per_batch = (after["fused_requests_sum"] - before["fused_requests_sum"]) / batches
    trips = max(1.0, after["round_trip_seconds_count"] - before["round_trip_seconds_count"])
    round_trip = (after["round_trip_seconds_sum"] - before["round_trip_seconds_sum"]) / trips
    used = {g: (cpu_after[g] - cpu_before[g]) / wall * 100 for g in CPU_GROUPS if g != "clients"}
    used["clients"] = sum(c for _, c in reports) / wall * 100  # the tenants' own processes
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
        "cpu": used,
    }


def settle(server, model, seconds):
    """Untimed load until the server's JIT has compiled its hot paths."""
    if seconds > 0:
        run(server, model, 8, 1, seconds, 0)


def arguments(tenants):
    """The command line: model, --seconds, --warmup, --settle and --tenants (default `tenants`)."""
    p = argparse.ArgumentParser()
    p.add_argument("model", nargs="?", default="tiny", choices=sorted(MODELS))
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--warmup", type=float, default=10)
    p.add_argument("--settle", type=float, default=120)
    p.add_argument("--tenants", default=tenants)
    args = p.parse_args()
    args.model = MODELS[args.model]
    args.tenants = [int(n) for n in args.tenants.split(",")]
    return args


def main():
    args = arguments("1,2,4,8,16")
    model = args.model
    with running(LATHE_BASE_MODEL=model, LATHE_ADAPTER_SLOTS="16") as server:
        settle(server, model, args.settle)
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
    # On a machine whose cores are all busy, tokens/s is the cores over what a token costs them: N
    # tenants reach 0.9x one tenant's only if their tokens cost at most 1.11x as much core time.
    print("\nwhat 1,000 tokens trained cost, core-ms (and its ratio to one tenant's):")
    print(f"{'tenants':>7} {'datums':>6} " + " ".join(f"{g:>9}" for g in CPU_GROUPS) + f" {'total':>9} {'vs 1':>6} {'server vs 1':>11}")
    for n, per, r, a in rows:
        cost, alone_cost = token_cost(r), token_cost(a)
        server = sum(cost.values()) - cost["clients"]  # all but the clients: remote in a deployment
        alone_server = sum(alone_cost.values()) - alone_cost["clients"]
        print(f"{n:>7} {per:>6} " + " ".join(f"{cost[g]:>9.1f}" for g in CPU_GROUPS)
              + f" {sum(cost.values()):>9.1f} {sum(cost.values()) / sum(alone_cost.values()):>6.2f}"
              + f" {server / alone_server:>11.2f}")


def token_cost(r):
    """Core-milliseconds by group per 1,000 tokens trained, from the CPU used and the tokens/s."""
    return {g: r["cpu"][g] / 100 / r["tokens_per_s"] * 1e6 for g in CPU_GROUPS}


if __name__ == "__main__":
    main()
