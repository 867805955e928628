"""What adapter_diagnostics costs, through the HTTP API: the time to diagnose one saved adapter
(rank --rank on every module of --model), and what it does meanwhile to another tenant's training
loop — its step latency while a diagnosis runs against the same loop alone, measured in the same
run. The diagnosis runs on a worker thread beside the clock cycle, so on a machine with cores to
spare the ratio stays near 1; on 2 cores it shares them with the engine.

    .venv/bin/python bench/diagnostics.py [--model smollm2-135m-instruct] [--rank 8] [--steps 20]
"""

import argparse
import pathlib
import statistics
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sdk" / "python" / "tests"))
sys.path.insert(0, str(ROOT / "sdk" / "python" / "src"))
import lathe  # noqa: E402
from conftest import MODELS, running  # noqa: E402
from lathe import AdamParams, Datum, ModelInput  # noqa: E402


def step_latencies(training, steps, datum):
    out = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fb = training.forward_backward([datum])
        training.optim_step(AdamParams(learning_rate=1e-3)).result()
        fb.result()
        out.append(time.perf_counter() - t0)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--steps", type=int, default=20)
    args = p.parse_args()
    settings = {"LATHE_BASE_MODEL": args.model}
    if args.model == "smollm2-135m-instruct":
        subprocess.run(["bash", str(ROOT / "scripts" / "install-model.sh"), args.model, str(MODELS)], check=True)
        settings["LATHE_MODEL_DIR"] = str(MODELS)
    with running(**settings) as server:
        diagnosed = lathe.ServiceClient(base_url=server.base_url, api_key=server.new_api_key("diag"))
        saved = diagnosed.create_lora_training_client(base_model=args.model, rank=args.rank, seed=1)
        tokens = list(range(10, 74))
        datum = Datum(model_input=ModelInput.from_ints(tokens[:-1]), loss_fn_inputs={"target_tokens": tokens[1:]})
        step_latencies(saved, 3, datum)
        path = saved.save_state("diagnosed").result()

        trainer = lathe.ServiceClient(base_url=server.base_url, api_key=server.new_api_key("trainer"))
        training = trainer.create_lora_training_client(base_model=args.model, rank=args.rank, seed=2)
        step_latencies(training, 3, datum)  # warm-up
        alone = step_latencies(training, args.steps, datum)

        took = {}

        def diagnose():
            t0 = time.perf_counter()
            result = diagnosed.adapter_diagnostics(path).result(timeout=3600)
            took["s"], took["modules"] = time.perf_counter() - t0, len(result["modules"])

        t = threading.Thread(target=diagnose)
        t.start()
        beside = []
        while t.is_alive():
            beside += step_latencies(training, 1, datum)
        t.join()

    a, b = statistics.median(alone), statistics.median(beside)
    print(f"model {args.model}, rank {args.rank}: diagnosis of {took['modules']} modules took {took['s']:.1f} s "
          f"through HTTP ({took['s'] / took['modules'] * 1000:.0f} ms a module)")
    print(f"another tenant's step (forward_backward + optim_step, 63 tokens): p50 {a * 1000:.0f} ms alone, "
          f"{b * 1000:.0f} ms beside the diagnosis ({len(beside)} steps): {b / a:.2f}x")


if __name__ == "__main__":
    main()
