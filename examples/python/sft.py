"""Supervised fine-tuning: teach lathe-tiny four question/answer pairs.

Only the answer tokens carry weight, so the model learns to answer, not to ask. The loss per
step falls and, at the end, greedy samples from the trained adapter give the answers.

    LATHE_API_KEY=tml-... python examples/python/sft.py [--base-url http://localhost:8080]
"""

import argparse
import os
import sys
import time

import lathe
from lathe import AdamParams, Datum, ModelInput, SamplingParams

PAIRS = [
    ("sky? ", "blue."),
    ("grass? ", "green."),
    ("snow? ", "white."),
    ("coal? ", "black."),
]


def datum(question: str, answer: str) -> Datum:
    q, a = list(question.encode()), list(answer.encode())
    tokens = q + a
    # Predict token i+1 from tokens[:i+1]; only the answer's tokens count.
    weights = [0.0] * (len(q) - 1) + [1.0] * len(a)
    return Datum(
        model_input=ModelInput.from_ints(tokens[:-1]),
        loss_fn_inputs={"target_tokens": tokens[1:], "weights": weights},
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-url", default=os.environ.get("LATHE_BASE_URL", "http://localhost:8080"))
    p.add_argument("--steps", type=int, default=80)
    args = p.parse_args()

    service = lathe.ServiceClient(base_url=args.base_url, api_key=os.environ.get("LATHE_API_KEY"))
    training = service.create_lora_training_client(base_model="lathe-tiny", rank=32, seed=0)
    data = [datum(q, a) for q, a in PAIRS]
    tokens = sum(d.model_input.length for d in data)

    first = last = None
    start = time.monotonic()
    for step in range(1, args.steps + 1):
        fb = training.forward_backward(data, "cross_entropy")
        # Linear decay to zero: a constant rate keeps the loss bouncing at the end.
        lr = 5e-3 * (1 - (step - 1) / args.steps)
        opt = training.optim_step(AdamParams(learning_rate=lr))
        loss = fb.result().metrics["loss:sum"] / sum(len(a) for _, a in PAIRS)
        opt.result()
        first = loss if first is None else first
        last = loss
        rate = step * tokens / (time.monotonic() - start)
        print(f"step {step:3d}  loss/answer-token {loss:7.4f}  {rate:6.0f} tokens/s", flush=True)

    sampler = training.save_weights_and_get_sampling_client("sft-final")
    right = 0
    for q, a in PAIRS:
        out = sampler.sample(list(q.encode()), sampling_params=SamplingParams(max_tokens=len(a), temperature=0)).result()
        said = bytes(out.sequences[0].tokens).decode(errors="replace")
        right += said == a
        print(f"{q!r:>10} -> {said!r}  (expected {a!r})")
    service.close()
    print(f"loss {first:.3f} -> {last:.3f}; {right}/{len(PAIRS)} answers right")
    return 0 if last < 0.2 * first and right >= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
