"""forward_backward on the wire: JSON (tinker <= 0.24) vs protobuf vs protobuf + zstd (tinker 0.38).

One batch of 8 datums x 2,048 tokens (SFT: target_tokens int64, weights float32), built with the
current SDK's own classes and encoders. Reports per codec, all in one run:
  * request bytes;
  * client encode time (what the SDK spends before sending);
  * server decode time, from WireDecodeBenchmark (the api's own decoders, in a JVM: Jackson into
    the records, or zstd + ProtoCodec into the same records), median of many;
  * what users see: POST /api/v1/forward_backward until the future is accepted, over real HTTP
    against the jar with 4 concurrent clients, codecs interleaved, p50 and p99. The jar serves
    smollm2-135m-instruct as an api process (LATHE_ROLE=api, installed into .models first), so no
    worker competes for the CPU: this is the accept path alone (decode, validation, the row).

    .venv-tinker/bin/python bench/wire_codecs.py [--posts 60]
"""

import argparse
import concurrent.futures
import json
import pathlib
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import zstandard
from tinker import types
from tinker.proto.request_conv import forward_backward_request_to_proto

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sdk" / "python" / "tests"))
from conftest import _java, running  # noqa: E402

DATUMS, TOKENS, VOCAB = 8, 2048, 49152  # SmolLM2's vocabulary: token ids as a real model has them


def batch():
    rng = random.Random(0)
    data = []
    for _ in range(DATUMS):
        tokens = [rng.randrange(VOCAB) for _ in range(TOKENS + 1)]
        data.append(
            types.Datum(
                model_input=types.ModelInput.from_ints(tokens[:-1]),
                loss_fn_inputs={
                    "target_tokens": tokens[1:],
                    "weights": [rng.choice([0.0, 1.0]) for _ in range(TOKENS)],
                },
            )
        )
    return data


def json_body(model_id, seq, data):
    """The body tinker 0.24 sends: every tensor as JSON numbers."""
    return json.dumps(
        {
            "model_id": model_id,
            "seq_id": seq,
            "forward_backward_input": {
                "loss_fn": "cross_entropy",
                "data": [
                    {
                        "model_input": {"chunks": [{"type": "encoded_text", "tokens": d.model_input.to_ints()}]},
                        "loss_fn_inputs": {
                            k: {"data": v.data, "dtype": v.dtype, "shape": v.shape}
                            for k, v in d.loss_fn_inputs.items()
                        },
                    }
                    for d in data
                ],
            },
        }
    ).encode()


def proto_body(model_id, seq, data):
    request = types.ForwardBackwardRequest(
        forward_backward_input=types.ForwardBackwardInput(data=data, loss_fn="cross_entropy"),
        model_id=model_id,
        seq_id=seq,
    )
    return forward_backward_request_to_proto(request).SerializeToString()


CODECS = {
    "json": (lambda m, s, d: json_body(m, s, d), {"Content-Type": "application/json"}),
    "protobuf": (lambda m, s, d: proto_body(m, s, d), {"Content-Type": "application/x-protobuf"}),
    "protobuf+zstd": (
        lambda m, s, d: zstandard.ZstdCompressor().compress(proto_body(m, s, d)),
        {"Content-Type": "application/x-protobuf", "Content-Encoding": "zstd"},
    ),
}


def timed(fn, repeat=15):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, statistics.median(times)


def server_decode(payloads):
    """Runs WireDecodeBenchmark on the payload files; returns codec -> median seconds."""
    cp_file = payloads / "classpath.txt"
    subprocess.run(
        ["mvn", "-B", "-q", "-ntp", "-pl", "web-contracts", "dependency:build-classpath",
         f"-Dmdep.outputFile={cp_file}", "-Dmdep.includeScope=test"],
        cwd=ROOT, check=True, capture_output=True,
    )
    cp = cp_file.read_text().strip()
    classes = f"{ROOT}/web-contracts/target/classes:{ROOT}/web-contracts/target/test-classes:{cp}"
    out = subprocess.run(
        [_java(), "-cp", classes, "dev.lathe.contracts.bench.WireDecodeBenchmark", str(payloads)],
        check=True, capture_output=True, text=True,
    ).stdout
    return {line.split()[0]: float(line.split()[1]) for line in out.splitlines() if line.strip() and line[0] != " "}


def post(base, key, body, headers):
    req = urllib.request.Request(base + "/api/v1/forward_backward", data=body, method="POST",
                                 headers={"X-API-Key": key, **headers})
    start = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as r:
        r.read()
        assert r.status == 200
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--posts", type=int, default=60, help="POSTs per codec")
    args = p.parse_args()
    data = batch()

    payloads = pathlib.Path(tempfile.mkdtemp(prefix="lathe-wire-"))
    sizes, encode = {}, {}
    for name, (make, _) in CODECS.items():
        body, encode[name] = timed(lambda: make("run-1", 1, data))
        sizes[name] = len(body)
        (payloads / name).write_bytes(body)
    decode = server_decode(payloads)

    subprocess.run(["bash", str(ROOT / "scripts/install-model.sh"), "smollm2-135m-instruct", str(ROOT / ".models")],
                   check=True, capture_output=True)
    with running(LATHE_ROLE="api", LATHE_BASE_MODEL="smollm2-135m-instruct",
                 LATHE_MODEL_DIR=str(ROOT / ".models")) as server:
        key = server.new_api_key("bench-wire")
        def call(path, body):
            req = urllib.request.Request(server.base_url + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"X-API-Key": key, "Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read())
        session = call("/api/v1/create_session", {"tags": [], "sdk_version": "bench"})["session_id"]
        models = {}
        for i, name in enumerate(CODECS):
            models[name] = call("/api/v1/create_model", {
                "session_id": session, "model_seq_id": i, "base_model": "smollm2-135m-instruct",
                "lora_config": {"rank": 8}})["model_id"]
        # Codecs interleaved, so that the worker's load on the two cores falls on each alike.
        jobs = [(name, seq) for seq in range(1, args.posts + 1) for name in CODECS]
        latency = {name: [] for name in CODECS}
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            futures = {}
            for name, seq in jobs:
                make, headers = CODECS[name]
                body = make(models[name], seq, data)
                futures[pool.submit(post, server.base_url, key, body, headers)] = name
            for f in concurrent.futures.as_completed(futures):
                latency[futures[f]].append(f.result())

    base = "json"
    print(f"forward_backward of {DATUMS} x {TOKENS} tokens; {args.posts} POSTs per codec, 4 clients")
    print(f"{'codec':<15}{'bytes':>11}{'vs json':>9}{'encode ms':>11}{'decode ms':>11}{'vs json':>9}"
          f"{'POST p50 ms':>13}{'p99 ms':>9}{'vs json':>9}")
    p50 = {n: statistics.median(v) for n, v in latency.items()}
    for name in CODECS:
        p99 = sorted(latency[name])[int(0.99 * (len(latency[name]) - 1))]
        print(f"{name:<15}{sizes[name]:>11,}{sizes[name] / sizes[base]:>9.3f}{encode[name] * 1e3:>11.1f}"
              f"{decode[name] * 1e3:>11.2f}{decode[name] / decode[base]:>9.3f}"
              f"{p50[name] * 1e3:>13.1f}{p99 * 1e3:>9.1f}{p50[name] / p50[base]:>9.3f}")


if __name__ == "__main__":
    main()
