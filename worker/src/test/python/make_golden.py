"""Golden vectors for the engine, from Hugging Face transformers + PEFT.

Loads lathe-tiny (written by the worker tests to worker/target/lathe-tiny), puts a rank-4 LoRA
adapter with fixed non-zero weights on every linear and lm_head, and records, in float64, for a
few sequences: logits, per-token log-probabilities of the targets, the weighted cross-entropy
summed over all of them, and the gradient of that loss with respect to every LoRA tensor.

    mvn -pl worker -am test -Dtest=GoldenVectorsTest   # writes worker/target/lathe-tiny
    pip install torch transformers peft safetensors
    python worker/src/test/python/make_golden.py

The output (the PEFT adapter and golden.safetensors) is committed; the build only reads it.
"""

import hashlib
import json
import pathlib

import peft
import torch
import transformers
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[4]
MODEL = ROOT / "worker" / "target" / "lathe-tiny"
OUT = ROOT / "worker" / "src" / "test" / "resources" / "golden"
LENGTHS = [7, 12, 5]
RANK = 4
ALPHA = 32.0


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    base = transformers.AutoModelForCausalLM.from_pretrained(MODEL, dtype=torch.float32)
    config = peft.LoraConfig(
        r=RANK,
        lora_alpha=ALPHA,
        lora_dropout=0.0,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                        "down_proj", "lm_head"],
        bias="none",
        task_type="CAUSAL_LM",
    )
    model = peft.get_peft_model(base, config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    OUT.mkdir(parents=True, exist_ok=True)
    model.peft_config["default"].base_model_name_or_path = "lathe-tiny"
    model.save_pretrained(OUT / "adapter", save_embedding_layers=False)
    (OUT / "adapter" / "README.md").unlink(missing_ok=True)  # PEFT's model card template

    model = model.double()
    model.train()
    tensors = {}
    loss = torch.zeros((), dtype=torch.float64)
    vocab = base.config.vocab_size
    for i, n in enumerate(LENGTHS):
        tokens = torch.randint(0, 256, (n,), generator=gen)
        targets = torch.randint(0, vocab, (n,), generator=gen)
        weights = torch.rand((n,), generator=gen, dtype=torch.float64)
        logits = model(input_ids=tokens[None]).logits[0]  # [T, V]
        logprobs = torch.log_softmax(logits, -1).gather(-1, targets[:, None])[:, 0]
        loss = loss - (weights * logprobs).sum()
        tensors[f"seq{i}.tokens"] = tokens.double()
        tensors[f"seq{i}.targets"] = targets.double()
        tensors[f"seq{i}.weights"] = weights
        tensors[f"seq{i}.logits"] = logits.detach()
        tensors[f"seq{i}.logprobs"] = logprobs.detach()
    loss.backward()
    tensors["loss"] = loss.detach().reshape(1)
    for name, p in model.named_parameters():
        if "lora_" in name:
            # PEFT's saved name: drop the adapter name ("default").
            saved = name.replace(".default", "")
            tensors["grad." + saved] = p.grad.detach().clone()
    save_file({k: v.contiguous() for k, v in tensors.items()}, OUT / "golden.safetensors")
    meta = {
        "model_sha256": hashlib.sha256((MODEL / "model.safetensors").read_bytes()).hexdigest(),
        "lengths": LENGTHS,
        "rank": RANK,
        "alpha": ALPHA,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
    }
    (OUT / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote golden vectors to {OUT}: loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
