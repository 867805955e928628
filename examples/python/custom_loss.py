"""A custom loss computed on your side: length-normalised negative log-likelihood.

forward_backward_custom runs a forward pass, hands the per-token logprobs to the loss below as
torch tensors, and sends the loss's gradient back as cross_entropy weights −dL/dlogp, so the
adapter receives exactly dL/dθ. The loss printed per step falls.

    LATHE_API_KEY=tml-... python examples/python/custom_loss.py [--base-url http://localhost:8080]
"""

import argparse
import os
import sys
import time

import lathe
from lathe import AdamParams, Datum, ModelInput

TEXTS = [b"short one.", b"a rather longer sentence to learn.", b"mid-sized text."]


def mean_nll_per_sequence(data, logprobs):
    """Each sequence's mean NLL, averaged: long sequences do not outweigh short ones."""
    per_sequence = [-lp.mean() for lp in logprobs]
    loss = sum(per_sequence) / len(per_sequence)
    return loss, {"longest_nll": max(float(x.detach()) for x in per_sequence)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-url", default=os.environ.get("LATHE_BASE_URL", "http://localhost:8080"))
    p.add_argument("--steps", type=int, default=40)
    args = p.parse_args()

    service = lathe.ServiceClient(base_url=args.base_url, api_key=os.environ.get("LATHE_API_KEY"))
    training = service.create_lora_training_client(base_model="lathe-tiny", rank=16, seed=0)
    data = []
    for t in TEXTS:
        tokens = list(t)
        data.append(Datum(model_input=ModelInput.from_ints(tokens[:-1]), loss_fn_inputs={"target_tokens": tokens[1:]}))
    tokens = sum(d.model_input.length for d in data)

    losses = []
    start = time.monotonic()
    for step in range(1, args.steps + 1):
        out = training.forward_backward_custom(data, mean_nll_per_sequence)
        training.optim_step(AdamParams(learning_rate=5e-3)).result()
        losses.append(out.metrics["loss:custom"])
        rate = 2 * step * tokens / (time.monotonic() - start)  # a forward and a forward_backward
        print(
            f"step {step:3d}  loss {losses[-1]:.4f}  worst sequence {out.metrics['longest_nll']:.4f}"
            f"  {rate:6.0f} tokens/s",
            flush=True,
        )
    service.close()
    print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    return 0 if losses[-1] < 0.3 * losses[0] else 1


if __name__ == "__main__":
    sys.exit(main())
