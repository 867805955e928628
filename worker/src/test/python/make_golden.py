"""Golden vectors for the engine, from Hugging Face transformers + PEFT.

Loads lathe-tiny (written by the worker tests to worker/target/lathe-tiny), puts a rank-4 LoRA
adapter with fixed non-zero weights on every linear and lm_head, and records, in float64, for a
few sequences: logits, per-token log-probabilities of the targets, the weighted cross-entropy
summed over all of them, and the gradient of that loss with respect to every LoRA tensor.

    mvn -pl worker -am test -Dtest=GoldenVectorsTest   # writes worker/target/lathe-tiny
    pip install torch transformers peft safetensors
    python worker/src/test/python/make_golden.py

The output (the PEFT adapter and golden.safetensors) is committed; the build only reads it.

Two more cases cover what lathe-tiny does not: a Qwen2 model (biases on q, k and v, tied
embeddings) and a Llama model with llama3 RoPE scaling and an untied lm_head, both small random
models that transformers writes in its own current config format (rope_parameters). Each goes to
golden/<case>/ with its model directory:

    python worker/src/test/python/make_golden.py qwen2 llama3-rope   # only these cases
"""

import hashlib
import json
import pathlib
import shutil
import sys

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


def lora(base, out, gen):
    """A rank-4 PEFT adapter with fixed non-zero weights on every linear and lm_head, saved."""
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
    out.mkdir(parents=True, exist_ok=True)
    model.peft_config["default"].base_model_name_or_path = base.config.name_or_path
    model.save_pretrained(out / "adapter", save_embedding_layers=False)
    (out / "adapter" / "README.md").unlink(missing_ok=True)  # PEFT's model card template
    return model


def record(model, out, gen, vocab, meta):
    """Logits, target logprobs, the weighted cross-entropy and every LoRA gradient, in float64."""
    model = model.double()
    model.train()
    tensors = {}
    loss = torch.zeros((), dtype=torch.float64)
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
    save_file({k: v.contiguous() for k, v in tensors.items()}, out / "golden.safetensors")
    meta.update({
        "lengths": LENGTHS,
        "rank": RANK,
        "alpha": ALPHA,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
    })
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote golden vectors to {out}: loss {loss.item():.6f}")


def lathe_tiny():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    base = transformers.AutoModelForCausalLM.from_pretrained(MODEL, dtype=torch.float32)
    base.config.name_or_path = "lathe-tiny"
    model = lora(base, OUT, gen)
    meta = {"model_sha256": hashlib.sha256((MODEL / "model.safetensors").read_bytes()).hexdigest()}
    record(model, OUT, gen, base.config.vocab_size, meta)


def small(case, config, biases):
    """A small random model of another family, saved as a Hugging Face directory beside its vectors."""
    torch.manual_seed(7)
    gen = torch.Generator().manual_seed(4321)
    out = OUT / case
    base = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    with torch.no_grad():
        for name, p in base.named_parameters():
            if name.endswith("bias") and biases:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)  # zero by default: make them count
    model_dir = out / "model"
    base.save_pretrained(model_dir)
    shutil.copy(MODEL / "tokenizer.json", model_dir / "tokenizer.json")
    (model_dir / "generation_config.json").unlink(missing_ok=True)
    base.config.name_or_path = case
    model = lora(base, out, gen)
    record(model, out, gen, config.vocab_size, {"case": case})


def qwen2():
    small("qwen2", transformers.Qwen2Config(
        vocab_size=259, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        rms_norm_eps=1e-6, tie_word_embeddings=True), biases=True)


def llama3_rope():
    small("llama3-rope", transformers.LlamaConfig(
        vocab_size=259, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=512,
        rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=False,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 64}),
        biases=False)


CASES = {"lathe-tiny": lathe_tiny, "qwen2": qwen2, "llama3-rope": llama3_rope}


def main():
    for case in sys.argv[1:] or CASES:
        CASES[case]()


if __name__ == "__main__":
    main()
