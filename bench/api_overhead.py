"""API overhead on loopback: latency of calls through HTTP and PostgreSQL, p50/p99, each next to
GET /api/v1/healthz (HTTP alone) measured in the same run against the same server.

    python bench/api_overhead.py [calls]     # needs api/target/lathe.jar and a JDK >= 21

It starts the all-in-one jar (embedded PostgreSQL, lathe-tiny) on a free port. The "forward"
figure is a full future round trip of a one-token forward: POST /forward, then retrieve_future
until the result is there, so it includes the worker's claim and the engine call.
"""

import http.client
import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
ADMIN = "lta-bench-admin"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, port, key):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.key = key

    def call(self, method, path, body=None):
        headers = {"X-API-Key": self.key, "Content-Type": "application/json"}
        self.conn.request(method, path, None if body is None else json.dumps(body), headers)
        r = self.conn.getresponse()
        data = r.read()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
        return json.loads(data) if data else None


def percentiles(samples):
    s = sorted(samples)
    return s[len(s) // 2] * 1e3, s[min(len(s) - 1, int(len(s) * 0.99))] * 1e3


def timed(n, fn):
    for _ in range(max(3, n // 10)):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    java = pathlib.Path(os.environ["JAVA_HOME"]) / "bin" / "java" if "JAVA_HOME" in os.environ else "java"
    data = pathlib.Path(tempfile.mkdtemp(prefix="lathe-bench-"))
    port = free_port()
    env = dict(os.environ, LATHE_PORT=str(port), LATHE_DATA_DIR=str(data), LATHE_ADMIN_KEY=ADMIN)
    proc = subprocess.Popen([str(java), "-jar", str(ROOT / "api/target/lathe.jar")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        admin = Client(port, ADMIN)
        for _ in range(240):
            try:
                admin.call("GET", "/api/v1/healthz")
                break
            except (OSError, RuntimeError, http.client.HTTPException):
                admin = Client(port, ADMIN)
                time.sleep(0.5)
        tenant = admin.call("POST", "/admin/v1/tenants", {"name": "bench"})
        key = admin.call("POST", f"/admin/v1/tenants/{tenant['tenant_id']}/api_keys", {})["api_key"]
        c = Client(port, key)
        session = c.call("POST", "/api/v1/create_session", {"tags": [], "sdk_version": "bench"})["session_id"]
        created = c.call("POST", "/api/v1/create_model", {
            "session_id": session, "model_seq_id": 0, "base_model": "lathe-tiny", "lora_config": {"rank": 8}})
        model = created["model_id"]
        while "model_id" not in c.call("POST", "/api/v1/retrieve_future", {"request_id": created["request_id"]}):
            pass
        seq = [0]

        def forward():
            seq[0] += 1
            r = c.call("POST", "/api/v1/forward", {
                "model_id": model, "seq_id": seq[0], "forward_input": {"loss_fn": "cross_entropy", "data": [{
                    "model_input": {"chunks": [{"type": "encoded_text", "tokens": [1]}]},
                    "loss_fn_inputs": {"target_tokens": {"data": [2], "dtype": "int64"}}}]}})
            while c.call("POST", "/api/v1/retrieve_future", {"request_id": r["request_id"]}).get("type") == "try_again":
                pass

        rows = [
            ("GET /healthz (HTTP only)", timed(n, lambda: c.call("GET", "/api/v1/healthz"))),
            ("POST /session_heartbeat (auth + 1 UPDATE)",
             timed(n, lambda: c.call("POST", "/api/v1/session_heartbeat", {"session_id": session}))),
            ("POST /get_info (auth + 1 SELECT)", timed(n, lambda: c.call("POST", "/api/v1/get_info", {"model_id": model}))),
            ("forward future round trip (1 token)", timed(n, forward)),
        ]
        base50, _ = percentiles(rows[0][1])
        print(f"{n} calls each, one keep-alive connection, loopback")
        for name, samples in rows:
            p50, p99 = percentiles(samples)
            print(f"{name:45s} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  ({p50 / base50:5.1f}x healthz p50)")
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
