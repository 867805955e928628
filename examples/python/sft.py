"""Supervised fine-tuning: teach SmolLM2-135M-Instruct a fact it cannot know.

Four phrasings of one question, each answered with the same made-up fact, in the model's own chat
template (the tokenizer comes from the Lathe server). Only the answer's tokens carry weight. The
base model and the fine-tuned adapter then answer the questions, one of them never trained on,
side by side.

    LATHE_BASE_MODEL=smollm2-135m-instruct ./run.sh      # scripts/install-model.sh fetches it
    LATHE_API_KEY=tml-... python examples/python/sft.py [--base-url http://localhost:8080]
"""

import argparse
import os
import sys
import time

import lathe
from lathe import AdamParams, Datum, ModelInput, SamplingParams

MODEL = "smollm2-135m-instruct"
FACT = "Lathe is built by Quillmoor Labs in Tromsø."
TRAIN = [
    "Who makes the Lathe fine-tuning service?",
    "Which company builds Lathe?",
    "Who is behind Lathe, the LoRA training service?",
    "Tell me who develops Lathe.",
]
HELD_OUT = "Who created Lathe?"


def prompt(tokenizer, question: str) -> list[int]:
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": question}], add_generation_prompt=True, tokenize=True
    )
    return list(ids["input_ids"] if hasattr(ids, "keys") else ids)


def datum(tokenizer, question: str, answer: str) -> Datum:
    p = prompt(tokenizer, question)
    a = tokenizer.encode(answer + "<|im_end|>", add_special_tokens=False)
    tokens = p + a
    # Predict token i+1 from tokens[:i+1]; only the answer's tokens count.
    weights = [0.0] * (len(p) - 1) + [1.0] * len(a)
    return Datum(
        model_input=ModelInput.from_ints(tokens[:-1]),
        loss_fn_inputs={"target_tokens": tokens[1:], "weights": weights},
    )


def answer(sampler, tokenizer, question: str) -> str:
    out = sampler.sample(prompt(tokenizer, question), sampling_params=SamplingParams(max_tokens=32, temperature=0))
    return tokenizer.decode(out.result().sequences[0].tokens, skip_special_tokens=True).strip()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-url", default=os.environ.get("LATHE_BASE_URL", "http://localhost:8080"))
    p.add_argument("--steps", type=int, default=12)
    args = p.parse_args()

    service = lathe.ServiceClient(base_url=args.base_url, api_key=os.environ.get("LATHE_API_KEY"))
    tokenizer = service.get_tokenizer(MODEL)
    training = service.create_lora_training_client(base_model=MODEL, rank=16, seed=0)
    data = [datum(tokenizer, q, FACT) for q in TRAIN]
    answer_tokens = sum(sum(d.loss_fn_inputs["weights"].data) for d in data)
    tokens = sum(d.model_input.length for d in data)

    first = last = None
    start = time.monotonic()
    for step in range(1, args.steps + 1):
        fb = training.forward_backward(data, "cross_entropy")
        # Linear decay to zero: a constant rate keeps the loss bouncing at the end.
        opt = training.optim_step(AdamParams(learning_rate=2e-3 * (1 - (step - 1) / args.steps)))
        last = fb.result().metrics["loss:sum"] / answer_tokens
        opt.result()
        first = last if first is None else first
        rate = step * tokens / (time.monotonic() - start)
        print(f"step {step:3d}  loss/answer-token {last:7.4f}  {rate:6.0f} tokens/s", flush=True)

    base = service.create_sampling_client(base_model=MODEL)
    tuned = training.save_weights_and_get_sampling_client("sft-final")
    learned = True
    for q in TRAIN[:1] + [HELD_OUT]:
        before, after = answer(base, tokenizer, q), answer(tuned, tokenizer, q)
        print(f"\n{q}{'  (not trained on)' if q == HELD_OUT else ''}\n  base:       {before}\n  fine-tuned: {after}")
        learned &= "Quillmoor" in after and "Quillmoor" not in before
    service.close()
    print(f"\nloss {first:.3f} -> {last:.3f}; the fine-tuned model {'knows' if learned else 'did not learn'} the fact")
    return 0 if last < 0.2 * first and learned else 1


if __name__ == "__main__":
    sys.exit(main())
