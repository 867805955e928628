"""Writes the golden files of the GGUF tests (worker/src/test/resources/gguf/), each from an
implementation independent of Lathe's:

* quants.gguf + quants.json: a small file with one tensor of every type Lathe reads (F32, F16,
  BF16, Q8_0, Q4_0, Q4_1), quantised and dequantised by the `gguf` package;
* smollm2-tensors.json: real tensors of SmolLM2-135M-Instruct.Q4_1.gguf dequantised by `gguf`
  (shape, sums, the first values and values at fixed positions);
* smollm2-tokens.json: token ids of a corpus by llama.cpp (llama-cpp-python, vocab only) and by
  transformers' GGUF tokenizer;
* smollm2-logits.json: logits of prompts from transformers loading the same GGUF (its gguf
  support dequantises to float32, as Lathe does): per position the logsumexp, the top 10, and the
  logits of fixed token ids.

    scripts/install-model.sh smollm2-135m-instruct .models
    pip install gguf==0.19.0 transformers==5.23.0 torch   # and, for llama.cpp's tokens, in any venv:
    pip install llama-cpp-python==0.3.36
    python worker/src/test/python/make_smollm2_golden.py .models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf \
        --llama-cpp-python /path/to/venv/bin/python

The output is committed; the build only reads it.
"""

import argparse
import json
import pathlib
import subprocess
import sys

import gguf
import numpy as np
import torch
from gguf import GGMLQuantizationType as Q

OUT = pathlib.Path(__file__).resolve().parents[1] / "resources" / "gguf"

CORPUS = [
    "Hello, world!",
    "The capital of France is Paris.",
    "  leading spaces and trailing   ",
    "numbers 12345 and 3.14159 and 2026-12-02",
    "def add(a, b):\n    return a + b\n",
    "Tabs\tand\nnew\n\nlines\r\n",
    "naïve café — déjà vu",
    "日本語のテキストと中文",
    "emoji 🚀🔥 and symbols ©®™",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "It's they're we've I'd you'll",
    "CamelCaseWords and snake_case_words",
    "https://example.com/path?query=1&x=y",
    "",
    " ",
    "a",
    "Ünïcödé ÅÆØ",
    "$100,000.00 (approx.)",
    "<|endoftext|>",
    "multiple     spaces",
]

PROMPTS = ["The quick brown fox jumps over the", "1, 2, 3, 4,"]
CHAT = [{"role": "user", "content": "What is the capital of France?"}]
FIXED_IDS = [0, 1, 2, 28, 198, 253, 314, 3365, 10000, 49151]


def quant_fixture():
    rng = np.random.default_rng(0)
    writer = gguf.GGUFWriter(OUT / "quants.gguf", "llama")
    expected = {}
    for qtype in (Q.F32, Q.F16, Q.BF16, Q.Q8_0, Q.Q4_0, Q.Q4_1):
        values = (rng.standard_normal((3, 64)) * 2).astype(np.float32)
        raw = gguf.quants.quantize(values, qtype)
        name = f"t.{qtype.name.lower()}"
        writer.add_tensor(name, raw, raw_shape=raw.shape, raw_dtype=qtype)
        expected[name] = {
            "type": qtype.name,
            "shape": [3, 64],
            "values": gguf.quants.dequantize(raw, qtype).astype(np.float32).ravel().tolist(),
        }
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    (OUT / "quants.json").write_text(json.dumps(expected) + "\n")


def tensor_fixture(path):
    reader = gguf.GGUFReader(path)
    rng = np.random.default_rng(1)
    out = {}
    for t in reader.tensors:
        if t.name not in ("token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight",
                          "blk.0.ffn_down.weight", "blk.29.ffn_up.weight", "blk.0.attn_norm.weight",
                          "output_norm.weight"):
            continue
        values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).ravel()
        positions = sorted(rng.choice(values.size, 64, replace=False).tolist())
        out[t.name] = {
            "type": t.tensor_type.name,
            "shape": [int(d) for d in reversed(t.shape.tolist())],
            "sum": float(values.astype(np.float64).sum()),
            "sum_of_squares": float((values.astype(np.float64) ** 2).sum()),
            "first": values[:64].tolist(),
            "positions": positions,
            "at": values[positions].tolist(),
        }
    (OUT / "smollm2-tensors.json").write_text(json.dumps(out, indent=1) + "\n")


LLAMA_CPP = """
import json, sys
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], vocab_only=True, verbose=False)
texts = json.loads(sys.stdin.read())
print(json.dumps([llm.tokenize(t.encode(), add_bos=False, special=True) for t in texts]))
"""


def token_fixture(path, llama_cpp_python):
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(pathlib.Path(path).parent), gguf_file=pathlib.Path(path).name)
    out = {"texts": CORPUS, "transformers": [hf.encode(t, add_special_tokens=False) for t in CORPUS]}
    if llama_cpp_python:
        done = subprocess.run(
            [llama_cpp_python, "-c", LLAMA_CPP, str(path)],
            input=json.dumps(CORPUS), capture_output=True, text=True, check=True,
        )
        out["llama_cpp"] = json.loads(done.stdout)
    (OUT / "smollm2-tokens.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")


def logits_fixture(path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(pathlib.Path(path).parent), gguf_file=pathlib.Path(path).name)
    prompts = [hf.encode(t, add_special_tokens=False) for t in PROMPTS]
    field = gguf.GGUFReader(path).fields["tokenizer.chat_template"]
    template = bytes(field.parts[field.data[0]]).decode()
    chat = hf.apply_chat_template(CHAT, chat_template=template, add_generation_prompt=True)
    prompts.append(list(chat["input_ids"] if hasattr(chat, "keys") else chat))
    model = AutoModelForCausalLM.from_pretrained(
        str(pathlib.Path(path).parent), gguf_file=pathlib.Path(path).name, dtype=torch.float32
    ).eval()
    out = []
    with torch.no_grad():
        for prompt in prompts:
            logits = model(torch.tensor([prompt])).logits[0]  # [T, V]
            top = torch.topk(logits, 10, dim=-1)
            out.append({
                "prompt": prompt,
                "logsumexp": torch.logsumexp(logits, -1).tolist(),
                "top_ids": top.indices.tolist(),
                "top_logits": top.values.tolist(),
                "fixed_ids": FIXED_IDS,
                "fixed_logits": logits[:, FIXED_IDS].tolist(),
            })
    (OUT / "smollm2-logits.json").write_text(json.dumps(out) + "\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("gguf_file")
    p.add_argument("--llama-cpp-python", help="a python with llama-cpp-python, for llama.cpp's tokens")
    args = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    quant_fixture()
    tensor_fixture(args.gguf_file)
    token_fixture(args.gguf_file, args.llama_cpp_python)
    logits_fixture(args.gguf_file)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
