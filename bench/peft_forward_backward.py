"""forward_backward tokens/s of the same model in Hugging Face transformers + PEFT (PyTorch, CPU),
for comparison with bench/engine.sh on the same machine.

    bench/engine.sh bench 4 128                       # writes the model to $TMPDIR/lathe-bench
    python bench/peft_forward_backward.py [model_dir] [batch] [seq]

Same shapes as EngineBenchmark: LoRA rank 32 (alpha 32) on every linear and lm_head, random
tokens, cross-entropy summed over tokens, the median of 10 timed steps after 3 warm-up steps.
"""

import pathlib
import statistics
import sys
import tempfile
import time

import peft
import torch
import transformers


def main():
    model_dir = sys.argv[1] if len(sys.argv) > 1 else str(
        pathlib.Path(tempfile.gettempdir()) / "lathe-bench" / "models" / "lathe-tiny-bench")
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    seq = int(sys.argv[3]) if len(sys.argv) > 3 else 128
    torch.manual_seed(0)
    # A GGUF model's directory (bench/engine.sh smollm2 prints it): transformers dequantises the
    # same file to float32, as Lathe does.
    gguf = {"gguf_file": "model.gguf"} if (pathlib.Path(model_dir) / "model.gguf").exists() else {}
    base = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, **gguf)
    model = peft.get_peft_model(base, peft.LoraConfig(
        r=32, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM",
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"]))
    tokens = torch.randint(0, 256, (batch, seq))
    targets = torch.randint(0, base.config.vocab_size, (batch, seq))

    def step():
        logits = model(input_ids=tokens).logits
        lp = torch.log_softmax(logits, -1).gather(-1, targets[..., None])[..., 0]
        (-lp.sum()).backward()

    for _ in range(3):
        step()
    times = []
    for _ in range(10):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    s = statistics.median(times)
    print(f"PEFT forward_backward ({torch.get_num_threads()} threads, batch {batch} x {seq}): "
          f"{batch * seq / s:.0f} tokens/s ({s * 1e3:.1f} ms/batch)")


if __name__ == "__main__":
    main()
