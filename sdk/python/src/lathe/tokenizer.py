"""A base model's tokenizer, from the Lathe server that serves it: no model hub involved."""

from __future__ import annotations

import json
import os
import pathlib
import urllib.parse

from ._http import Http


def cache_dir(http: Http, base_model: str) -> pathlib.Path:
    """Where the tokenizer files of a server's model are kept ($LATHE_CACHE, else ~/.cache/lathe)."""
    root = pathlib.Path(os.environ.get("LATHE_CACHE", pathlib.Path.home() / ".cache" / "lathe"))
    host = urllib.parse.urlsplit(http.base_url).netloc.replace(":", "_")
    return root / "tokenizers" / host / base_model


def download(http: Http, base_model: str) -> pathlib.Path:
    """Fetches tokenizer.json and tokenizer_config.json into a directory that
    ``transformers.AutoTokenizer.from_pretrained`` loads offline; returns it."""
    model = urllib.parse.quote(base_model, safe="")
    out = cache_dir(http, base_model)
    out.mkdir(parents=True, exist_ok=True)
    for name, path in (("tokenizer.json", "tokenizer"), ("tokenizer_config.json", "tokenizer_config")):
        try:
            body = http.request("GET", f"/api/v1/models/{model}/{path}")
        except Exception:
            if name == "tokenizer.json":
                raise
            body = {}  # a model without a tokenizer_config.json (lathe-tiny) still has a tokenizer
        tmp = out / (name + ".part")
        tmp.write_text(json.dumps(body))
        tmp.replace(out / name)
    return out


def get_tokenizer(http: Http, base_model: str):
    """A ``transformers`` fast tokenizer (with the model's chat template) when transformers is
    installed, else a ``tokenizers.Tokenizer``."""
    directory = download(http, base_model)
    try:
        from transformers import AutoTokenizer
    except ImportError:
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(directory / "tokenizer.json"))
    return AutoTokenizer.from_pretrained(str(directory))
