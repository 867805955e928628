"""tinker-cookbook 0.6.1 runs unchanged against Lathe on the real SmolLM2-135M-Instruct: its
supervised loop (supervised.train on the cookbook's own example conversations) and its RL loop
(rl.train on the arithmetic environment of the math_rl recipe), each for a few steps.

The cookbook looks a tokenizer up by the model's name; with no model hub, a directory of that name
in the working directory is what it loads: the tokenizer files Lathe serves are put there.
"""

import asyncio
import json
import pathlib
import urllib.request

import tinker
import tinker_cookbook
from tinker_cookbook.recipes.math_rl.arithmetic_env import ArithmeticDatasetBuilder
from tinker_cookbook.rl import train as rl_train
from tinker_cookbook.supervised import train as sl_train
from tinker_cookbook.supervised.data import FromConversationFileBuilder
from tinker_cookbook.supervised.types import ChatDatasetBuilderCommonConfig

MODEL = "smollm2-135m-instruct"
RENDERER = "qwen3_instruct"  # ChatML, as SmolLM2's chat template


def served_tokenizer(base_url, key, into):
    """The model's tokenizer files, from Lathe, in a directory named like the model."""
    directory = into / MODEL
    directory.mkdir()
    for name, path in (("tokenizer.json", "tokenizer"), ("tokenizer_config.json", "tokenizer_config")):
        request = urllib.request.Request(f"{base_url}/api/v1/models/{MODEL}/{path}", headers={"X-API-Key": key})
        with urllib.request.urlopen(request, timeout=30) as r:
            (directory / name).write_bytes(r.read())


def metrics(log_path):
    return [json.loads(line) for line in (log_path / "metrics.jsonl").read_text().splitlines()]


def final_checkpoints(base_url, key):
    rest = tinker.RestClient(base_url=base_url, api_key=key)
    (run,) = rest.list_training_runs().result().training_runs
    return {c.checkpoint_id for c in rest.list_checkpoints(run.training_run_id).result().checkpoints}


def test_the_supervised_recipe_trains(smollm2_server, smollm2_key, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TINKER_API_KEY", smollm2_key)
    served_tokenizer(smollm2_server.base_url, smollm2_key, tmp_path)
    conversations = pathlib.Path(tinker_cookbook.__file__).parent / "example_data" / "conversations.jsonl"
    common = ChatDatasetBuilderCommonConfig(
        model_name_for_tokenizer=MODEL, renderer_name=RENDERER, max_length=512, batch_size=8
    )
    config = sl_train.Config(
        log_path=str(tmp_path / "sl"),
        model_name=MODEL,
        recipe_name="lathe_ci_sl",
        renderer_name=RENDERER,
        dataset_builder=FromConversationFileBuilder(common_config=common, file_path=str(conversations)),
        learning_rate=1e-3,
        lora_rank=8,
        base_url=smollm2_server.base_url,
        save_every=0,
        eval_every=0,
        max_steps=4,
        ttl_seconds=None,
    )
    asyncio.run(sl_train.main(config))

    steps = metrics(tmp_path / "sl")
    nll = [m["train_mean_nll"] for m in steps if "train_mean_nll" in m]
    assert len(nll) == 4 and min(nll[1:]) < nll[0], nll
    assert {"weights/final", "sampler_weights/final"} <= final_checkpoints(smollm2_server.base_url, smollm2_key)


def test_the_rl_recipe_samples_scores_and_trains(smollm2_server, smollm2_key, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TINKER_API_KEY", smollm2_key)
    served_tokenizer(smollm2_server.base_url, smollm2_key, tmp_path)
    builder = ArithmeticDatasetBuilder(
        batch_size=4, model_name_for_tokenizer=MODEL, renderer_name=RENDERER, n_batches=3, group_size=4
    )
    config = rl_train.Config(
        learning_rate=1e-4,
        dataset_builder=builder,
        model_name=MODEL,
        recipe_name="lathe_ci_rl",
        max_tokens=16,
        log_path=str(tmp_path / "rl"),
        renderer_name=RENDERER,
        lora_rank=8,
        base_url=smollm2_server.base_url,
        eval_every=0,
        save_every=0,
        ttl_seconds=None,
    )
    asyncio.run(rl_train.main(config))

    steps = [m for m in metrics(tmp_path / "rl") if "env/all/reward/total" in m]
    assert len(steps) == 3
    assert all(m["env/all/total_episodes"] == 16 and m["env/all/total_ac_tokens"] > 0 for m in steps)
    assert {"weights/final", "sampler_weights/final"} <= final_checkpoints(smollm2_server.base_url, smollm2_key)
