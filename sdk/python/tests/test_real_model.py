"""The real base model out of the box: SmolLM2-135M-Instruct from its GGUF file, its tokenizer and
chat template served by Lathe, so that no client needs a model hub."""

import pathlib

import lathe
from transformers import AutoTokenizer

GGUF = pathlib.Path(__file__).resolve().parents[3] / ".models" / "smollm2-135m-instruct" / "SmolLM2-135M-Instruct.Q4_1.gguf"
TEXTS = ["Hello, world!", "def f(x):\n    return x * 2\n", "naïve café 12345", "<|im_start|>user\nhi<|im_end|>"]


def test_the_served_tokenizer_is_the_gguf_files(smollm2_server, smollm2_key, tmp_path, monkeypatch):
    monkeypatch.setenv("LATHE_CACHE", str(tmp_path))
    service = lathe.ServiceClient(base_url=smollm2_server.base_url, api_key=smollm2_key)
    served = service.get_tokenizer("smollm2-135m-instruct")
    reference = AutoTokenizer.from_pretrained(str(GGUF.parent), gguf_file=GGUF.name)
    for text in TEXTS:
        assert served.encode(text, add_special_tokens=False) == reference.encode(text, add_special_tokens=False)
    chat = served.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False)
    assert chat.startswith("<|im_start|>system\n") and chat.endswith("<|im_start|>assistant\n")
    assert served.eos_token == "<|im_end|>"

    training = service.create_lora_training_client(base_model="smollm2-135m-instruct", rank=4)
    info = training.get_info()
    assert info["model_data"]["tokenizer_id"] == "smollm2-135m-instruct"
    assert training.get_tokenizer().encode("hi") == served.encode("hi")
    template = service.http.request("GET", "/api/v1/models/smollm2-135m-instruct/chat_template")
    assert "<|im_start|>" in template["chat_template"]
    service.close()
