"""Adapters that Lathe saves load in Hugging Face PEFT and compute the same logits.

AdapterFilesTest (mvn verify) writes worker/target/peft-interop: a trained adapter in PEFT's
layout, the logits Lathe computes with it on lathe-tiny, and its forgetting probe (the KL from the
base model per position).
"""

import json
import pathlib

import peft
import torch
import transformers
from safetensors import safe_open

OUT = pathlib.Path(__file__).resolve().parents[3] / "target" / "peft-interop"


def test_peft_loads_our_adapter_and_agrees_on_logits():
    tokens, expected, _, model = _expected_and_peft()
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


def test_the_kl_from_the_base_model_agrees_with_peft_with_and_without_its_adapter():
    tokens, _, kl, model = _expected_and_peft()
    with torch.no_grad():
        adapted = torch.log_softmax(model(input_ids=tokens).logits.double(), -1)
        with model.disable_adapter():
            base = torch.log_softmax(model(input_ids=tokens).logits.double(), -1)
    reference = (adapted.exp() * (adapted - base)).sum(-1)  # [1, T]
    assert kl.shape == reference.shape
    assert reference.min().item() > 1e-6  # the adapter is trained: every position moved
    torch.testing.assert_close(kl.double(), reference, rtol=1e-3, atol=1e-6)


def _expected_and_peft():
    with safe_open(OUT / "expected.safetensors", "pt") as f:
        tokens = f.get_tensor("tokens").long()
        expected = f.get_tensor("logits")
        kl = f.get_tensor("kl_from_base")
        model_dir = f.metadata()["model"]
    base = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    return tokens, expected, kl, peft.PeftModel.from_pretrained(base, OUT / "adapter")
