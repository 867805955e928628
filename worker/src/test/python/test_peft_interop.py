"""Adapters that Lathe saves load in Hugging Face PEFT and compute the same logits.

AdapterFilesTest (mvn verify) writes worker/target/peft-interop: a trained adapter in PEFT's
layout and the logits Lathe computes with it on lathe-tiny.
"""

import json
import pathlib

import peft
import torch
import transformers
from safetensors import safe_open

OUT = pathlib.Path(__file__).resolve().parents[3] / "target" / "peft-interop"


def test_peft_loads_our_adapter_and_agrees_on_logits():
    with safe_open(OUT / "expected.safetensors", "pt") as f:
        tokens = f.get_tensor("tokens").long()
        expected = f.get_tensor("logits")
        model_dir = f.metadata()["model"]
    base = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = peft.PeftModel.from_pretrained(base, OUT / "adapter")
    config = json.loads((OUT / "adapter" / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 8
    with torch.no_grad():
        logits = model(input_ids=tokens).logits
    assert logits.shape == expected.shape
    assert torch.max(torch.abs(logits - expected)).item() < 1e-4
    # The adapter is trained, so PEFT's output differs from the base model's.
    with model.disable_adapter(), torch.no_grad():
        plain = model(input_ids=tokens).logits
    assert torch.max(torch.abs(plain - expected)).item() > 1e-3
