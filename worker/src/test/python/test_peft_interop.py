"""Adapters that Lathe saves load in Hugging Face PEFT and compute the same logits.

AdapterFilesTest (mvn verify) writes worker/target/peft-interop: a trained adapter in PEFT's
layout, the logits Lathe computes with it on lathe-tiny, and its forgetting probe (the KL from the
base model per position); and the same for a DoRA adapter under worker/target/peft-interop/dora.
"""

import json
import pathlib

import peft
import pytest
import torch
import transformers
from safetensors import safe_open

OUT = pathlib.Path(__file__).resolve().parents[3] / "target" / "peft-interop"


@pytest.mark.parametrize("kind", ["lora", "dora"])
def test_peft_loads_our_adapter_and_agrees_on_logits(kind):
    out = OUT / "dora" if kind == "dora" else OUT
    tokens, expected, _, model = _expected_and_peft(out)
    config = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 8 and config["use_dora"] == (kind == "dora")
    magnitudes = [n for n, _ in model.named_parameters() if "lora_magnitude_vector" in n]
    assert len(magnitudes) == (len(_adapted(model)) if kind == "dora" else 0)
    with torch.no_grad():
        logits = model(input_ids=tokens).logits
    assert logits.shape == expected.shape
    assert torch.max(torch.abs(logits - expected)).item() < 1e-4
    # The adapter is trained, so PEFT's output differs from the base model's.
    with model.disable_adapter(), torch.no_grad():
        plain = model(input_ids=tokens).logits
    assert torch.max(torch.abs(plain - expected)).item() > 1e-3


def test_the_kl_from_the_base_model_agrees_with_peft_with_and_without_its_adapter():
    tokens, _, kl, model = _expected_and_peft(OUT)
    with torch.no_grad():
        adapted = torch.log_softmax(model(input_ids=tokens).logits.double(), -1)
        with model.disable_adapter():
            base = torch.log_softmax(model(input_ids=tokens).logits.double(), -1)
    reference = (adapted.exp() * (adapted - base)).sum(-1)  # [1, T]
    assert kl.shape == reference.shape
    assert reference.min().item() > 1e-6  # the adapter is trained: every position moved
    torch.testing.assert_close(kl.double(), reference, rtol=1e-3, atol=1e-6)


def _expected_and_peft(out):
    with safe_open(out / "expected.safetensors", "pt") as f:
        tokens = f.get_tensor("tokens").long()
        expected = f.get_tensor("logits")
        kl = f.get_tensor("kl_from_base")
        model_dir = f.metadata()["model"]
    base = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    return tokens, expected, kl, peft.PeftModel.from_pretrained(base, out / "adapter")


def _adapted(model):
    return [n for n, m in model.named_modules() if isinstance(m, peft.tuners.lora.LoraLayer)]
