"""Reinforcement learning, GRPO-style: lathe-tiny is rewarded for saying "lathe".

Each step samples a group of completions per prompt from the current adapter, scores each byte
with a verifiable reward (how close it is to the target's byte at that position), centres each
position's reward within the group (the advantage), and trains with importance_sampling on the
sampled tokens. The mean
reward printed per step rises (about 0.07 to 0.67 in 40 steps). lathe-tiny is a small random
model: it settles on one byte near all of the target's letters, a local optimum a bigger model or
a longer run with an entropy bonus gets past.

    LATHE_API_KEY=tml-... python examples/python/rl.py [--base-url http://localhost:8080]
"""

import argparse
import os
import sys
import time

import lathe
from lathe import AdamParams, Datum, ModelInput, SamplingParams

TARGET = b"lathe"
PROMPTS = [b"say: ", b"name: ", b"tool: "]
GROUP = 16


def scores(tokens: list[int]) -> list[float]:
    """Per position: 1 for the target's byte, partial credit by distance, 0 far away or missing."""
    out = []
    for i, want in enumerate(TARGET):
        got = tokens[i] if i < len(tokens) else None
        out.append(0.0 if got is None else max(0.0, 1.0 - abs(got - want) / 16))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-url", default=os.environ.get("LATHE_BASE_URL", "http://localhost:8080"))
    p.add_argument("--steps", type=int, default=40)
    args = p.parse_args()

    service = lathe.ServiceClient(base_url=args.base_url, api_key=os.environ.get("LATHE_API_KEY"))
    training = service.create_lora_training_client(base_model="lathe-tiny", rank=16, seed=0)
    params = SamplingParams(max_tokens=len(TARGET), temperature=1.0, seed=None)

    means = []
    start = time.monotonic()
    sampled_tokens = 0
    for step in range(1, args.steps + 1):
        sampler = training.save_weights_and_get_sampling_client(f"rl-{step}")
        futures = [(prompt, sampler.sample(list(prompt), GROUP, params)) for prompt in PROMPTS]
        data, rewards = [], []
        for prompt, fut in futures:
            seqs = fut.result().sequences
            per_token = [scores(s.tokens) for s in seqs]
            rewards += [sum(p) / len(TARGET) for p in per_token]
            baseline = [sum(p[i] for p in per_token) / len(seqs) for i in range(len(TARGET))]
            for s, p in zip(seqs, per_token):
                sampled_tokens += len(s.tokens)
                advantages = [p[i] - baseline[i] for i in range(len(s.tokens))]
                if all(abs(a) < 1e-9 for a in advantages):
                    continue  # no signal in this completion
                prompt_ids = list(prompt)
                tokens = prompt_ids + s.tokens
                n_prompt = len(prompt_ids) - 1
                data.append(
                    Datum(
                        model_input=ModelInput.from_ints(tokens[:-1]),
                        loss_fn_inputs={
                            "target_tokens": tokens[1:],
                            # The sampler's logprobs of the completion; prompt positions are masked
                            # by a zero advantage.
                            "logprobs": [0.0] * n_prompt + list(s.logprobs),
                            "advantages": [0.0] * n_prompt + advantages,
                        },
                    )
                )
        mean_reward = sum(rewards) / len(rewards)
        means.append(mean_reward)
        if data:
            training.forward_backward(data, "importance_sampling").result()
            training.optim_step(AdamParams(learning_rate=1e-3)).result()
        rate = sampled_tokens / (time.monotonic() - start)
        print(f"step {step:3d}  mean reward {mean_reward:.3f}  {rate:5.0f} sampled tokens/s", flush=True)

    sampler = training.save_weights_and_get_sampling_client("rl-final")
    greedy = sampler.sample(list(PROMPTS[0]), 1, SamplingParams(max_tokens=len(TARGET), temperature=0)).result()
    print("greedy:", bytes(greedy.sequences[0].tokens))
    service.close()
    early, late = sum(means[:3]) / 3, sum(means[-3:]) / 3
    print(f"mean reward {early:.3f} (first 3 steps) -> {late:.3f} (last 3)")
    return 0 if late > early + 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
