"""A long run under load, against the jar: 16 tenants in training loops (forward_backward +
optim_step, the `lathe` SDK) and 2 tenants sampling, for --minutes, with finished requests kept
--retention minutes. Every --every seconds it reports steps and samples done, step latency
p50/p99, errors, the queue, and the server's footprint: RSS, threads and open files of its JVM,
the size of its PostgreSQL data (all of it, and its tables and indexes). At the end: whether
anything failed, each tenant's share of the steps against the mean (fair within ±20%), and the
footprint after warm-up against the end (flat: RSS within +20%, threads and files within +16,
PostgreSQL's tables within +20% once the oldest requests have passed the retention). Exits 1
when a check fails.

    .venv/bin/python bench/soak.py [--minutes 10] [--every 30] [--tenants 16] [--samplers 2] [--retention 2]
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
from lathe import AdamParams, Datum, ModelInput, SamplingParams  # noqa: E402


def datum(i, step):
    tokens = list(f"tenant {i} step {step % 7}: soak".encode())
    return Datum(model_input=ModelInput.from_ints(tokens[:-1]), loss_fn_inputs={"target_tokens": tokens[1:]})


def footprint(server):
    pid = server.proc.pid
    status = pathlib.Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) * 1024
    threads = int(re.search(r"^Threads:\s+(\d+)", status, re.M).group(1))
    files = len(list(pathlib.Path(f"/proc/{pid}/fd").iterdir()))
    pg = sum(p.stat().st_size for p in (server.data / "postgres").rglob("*") if p.is_file())
    tables = sum(p.stat().st_size for p in (server.data / "postgres" / "base").rglob("*") if p.is_file())
    with urllib.request.urlopen(server.base_url + "/actuator/prometheus", timeout=10) as r:
        text = r.read().decode()
    queue = sum(float(m.group(1)) for m in re.finditer(r"^lathe_queue_depth\{[^}]*\} (\S+)$", text, re.M))
    return {"rss": rss, "threads": threads, "files": files, "pg": pg, "tables": tables, "queue": queue}


class Load:
    def __init__(self, server, tenants, samplers):
        self.lock = threading.Lock()
        self.latencies, self.samples, self.errors = [], 0, []
        self.steps = [0] * tenants
        self.stop = threading.Event()
        self.threads = []
        for i in range(tenants):
            service = lathe.ServiceClient(base_url=server.base_url, api_key=server.new_api_key(f"soak-{i}"))
            training = service.create_lora_training_client(base_model="lathe-tiny", rank=8, seed=i)
            self.threads.append(threading.Thread(target=self.train, args=(i, training), daemon=True))
        for i in range(samplers):
            service = lathe.ServiceClient(base_url=server.base_url, api_key=server.new_api_key(f"soak-sampler-{i}"))
            sampler = service.create_sampling_client(base_model="lathe-tiny")
            self.threads.append(threading.Thread(target=self.sample, args=(i, sampler), daemon=True))

    def train(self, i, training):
        step = 0
        while not self.stop.is_set():
            t = time.monotonic()
            try:
                fb = training.forward_backward([datum(i, step)])
                opt = training.optim_step(AdamParams(learning_rate=1e-4))
                fb.result()
                opt.result()
            except Exception as e:  # counted and reported: a soak must see none
                with self.lock:
                    self.errors.append(f"tenant {i}: {e!r}")
                continue
            step += 1
            with self.lock:
                self.latencies.append(time.monotonic() - t)
                self.steps[i] += 1

    def sample(self, i, sampler):
        n = 0
        while not self.stop.is_set():
            try:
                sampler.sample(list(f"sampler {i}: {n % 5}".encode()), 1, SamplingParams(max_tokens=16, seed=n)).result()
            except Exception as e:
                with self.lock:
                    self.errors.append(f"sampler {i}: {e!r}")
                continue
            n += 1
            with self.lock:
                self.samples += 1

    def take(self):
        with self.lock:
            lat, self.latencies = self.latencies, []
            samples, self.samples = self.samples, 0
            return lat, samples, len(self.errors)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--every", type=float, default=30)
    p.add_argument("--tenants", type=int, default=16)
    p.add_argument("--samplers", type=int, default=2)
    p.add_argument("--retention", type=float, default=2, help="minutes finished requests are kept")
    args = p.parse_args()
    retention = f"{int(args.retention * 60)}s"
    with running(LATHE_ADAPTER_SLOTS=str(args.tenants), LATHE_REQUEST_RETENTION=retention) as server:
        load = Load(server, args.tenants, args.samplers)
        for t in load.threads:
            t.start()
        print(f"{'min':>5} {'steps/s':>8} {'p50 s':>6} {'p99 s':>6} {'samples':>8} {'errors':>6} {'queue':>6} "
              f"{'RSS MB':>7} {'threads':>7} {'files':>6} {'PG MB':>6} {'tables':>6}", flush=True)
        start = time.monotonic()
        rows = []
        while time.monotonic() - start < args.minutes * 60:
            time.sleep(args.every)
            lat, samples, errors = load.take()
            lat.sort()
            f = footprint(server)
            row = {
                "min": (time.monotonic() - start) / 60, "steps": len(lat) / args.every,
                "p50": statistics.median(lat) if lat else float("nan"),
                "p99": lat[int(0.99 * (len(lat) - 1))] if lat else float("nan"),
                "samples": samples, "errors": errors, **f,
            }
            rows.append(row)
            print(f"{row['min']:>5.1f} {row['steps']:>8.1f} {row['p50']:>6.3f} {row['p99']:>6.3f} {samples:>8} "
                  f"{errors:>6} {f['queue']:>6.0f} {f['rss'] / 2**20:>7.0f} {f['threads']:>7} {f['files']:>6} "
                  f"{f['pg'] / 2**20:>6.1f} {f['tables'] / 2**20:>6.1f}", flush=True)
        load.stop.set()
        for t in load.threads:
            t.join(timeout=120)

    steps = load.steps
    mean = statistics.mean(steps)
    warm = rows[min(2, len(rows) - 1)]  # a minute in: JIT, pools and caches warm
    last = rows[-1]
    # The request log stops growing once its oldest rows pass the retention and are pruned.
    pruned = next((r for r in rows if r["min"] >= args.retention + 2), last)
    checks = {
        "no errors": not load.errors,
        "every tenant within ±20% of the mean share": all(abs(s - mean) <= 0.2 * mean for s in steps),
        "RSS flat after warm-up (≤ +20%)": last["rss"] <= 1.2 * warm["rss"],
        "threads flat after warm-up (≤ +16)": last["threads"] <= warm["threads"] + 16,
        "open files flat after warm-up (≤ +16)": last["files"] <= warm["files"] + 16,
        "PostgreSQL tables flat once pruning runs (≤ +20%)": last["tables"] <= 1.2 * pruned["tables"],
        "queue bounded (≤ 2 requests a client)": max(r["queue"] for r in rows) <= 2 * (args.tenants + args.samplers),
    }
    print(f"\nsteps per tenant: min {min(steps)}, max {max(steps)}, mean {mean:.0f}; "
          f"PostgreSQL data {warm['pg'] / 2**20:.1f} → {last['pg'] / 2**20:.1f} MB (tables "
          f"{pruned['tables'] / 2**20:.1f} at {pruned['min']:.1f} min → {last['tables'] / 2**20:.1f} MB)")
    for e in load.errors[:20]:
        print("error:", e)
    for name, ok in checks.items():
        print(("PASS " if ok else "FAIL ") + name)
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
