"""The official tinker SDK (pinned 0.24.1) trains and samples against Lathe unchanged:
only base_url and the API key differ from using Tinker itself."""

import tinker
from tinker import types

TEXT = b"lathe trains loras"


def datum():
    tokens = list(TEXT)
    return types.Datum(
        model_input=types.ModelInput.from_ints(tokens[:-1]),
        loss_fn_inputs={"target_tokens": tokens[1:], "weights": [1.0] * (len(tokens) - 1)},
    )


def test_sdk_version_is_pinned():
    assert tinker.__version__ == "0.24.1"


def test_sft_loop_with_the_official_sdk(server, api_key):
    service = tinker.ServiceClient(base_url=server.base_url, api_key=api_key)
    caps = service.get_server_capabilities()
    assert [m.model_name for m in caps.supported_models] == ["lathe-tiny"]

    # A fixed seed: from a random one, Adam at this rate on the tiny model now and then spikes for a
    # step and recovers; the median of the last three steps is robust to one such step.
    training = service.create_lora_training_client(base_model="lathe-tiny", rank=16, seed=7)
    info = training.get_info()
    assert info.model_data.model_name == "lathe-tiny" and info.lora_rank == 16

    losses = []
    for _ in range(12):
        fb = training.forward_backward([datum()], "cross_entropy")
        step = training.optim_step(types.AdamParams(learning_rate=5e-3))
        out = fb.result()
        step.result()
        losses.append(out.metrics["loss:sum"])
        assert len(out.loss_fn_outputs[0]["logprobs"].tolist()) == len(TEXT) - 1
    assert sorted(losses[-3:])[1] < 0.6 * losses[0], losses

    sampler = training.save_weights_and_get_sampling_client()
    result = sampler.sample(
        prompt=types.ModelInput.from_ints(list(TEXT[:5])),
        num_samples=3,
        sampling_params=types.SamplingParams(max_tokens=6, temperature=0.0, seed=1),
    ).result()
    assert len(result.sequences) == 3
    for seq in result.sequences:
        assert 1 <= len(seq.tokens) <= 6
        assert len(seq.logprobs) == len(seq.tokens)
        assert seq.stop_reason in ("length", "stop")
    # Greedy samples of one prompt agree.
    assert len({tuple(s.tokens) for s in result.sequences}) == 1


def test_checkpoints_resume_with_optimizer_state(server, api_key):
    service = tinker.ServiceClient(base_url=server.base_url, api_key=api_key)
    training = service.create_lora_training_client(base_model="lathe-tiny", rank=8)
    training.forward_backward([datum()], "cross_entropy").result()
    training.optim_step(types.AdamParams(learning_rate=1e-3)).result()
    path = training.save_state("ckpt").result().path
    assert path.startswith("tinker://") and path.endswith("/weights/ckpt")

    rest = service.create_rest_client()
    info = rest.get_weights_info_by_tinker_path(path).result()
    assert info.base_model == "lathe-tiny" and info.lora_rank == 8

    resumed = service.create_training_client_from_state_with_optimizer(path)
    before = training.forward([datum()], "cross_entropy").result().metrics["loss:sum"]
    after = resumed.forward([datum()], "cross_entropy").result().metrics["loss:sum"]
    assert abs(before - after) < 1e-4


def test_prompt_logprobs_and_errors_reach_the_user(server, api_key):
    service = tinker.ServiceClient(base_url=server.base_url, api_key=api_key)
    sampler = service.create_sampling_client(base_model="lathe-tiny")
    out = sampler.sample(
        prompt=types.ModelInput.from_ints([1, 2, 3, 4]),
        num_samples=1,
        sampling_params=types.SamplingParams(max_tokens=2, stop=[7]),
        include_prompt_logprobs=True,
        topk_prompt_logprobs=2,
    ).result()
    assert out.prompt_logprobs[0] is None and len(out.prompt_logprobs) == 4
    assert len(out.topk_prompt_logprobs[1]) == 2

    training = service.create_lora_training_client(base_model="lathe-tiny", rank=4)
    bad = types.Datum(
        model_input=types.ModelInput.from_ints([1, 2, 3]),
        loss_fn_inputs={"target_tokens": [2, 3, 99999], "weights": [1.0, 1.0, 1.0]},
    )
    try:
        training.forward_backward([bad], "cross_entropy").result()
    except tinker.BadRequestError as e:
        assert "target_tokens[2]" in str(e)
    else:
        raise AssertionError("a target past the vocabulary must be refused")


def test_rest_client_manages_checkpoints(server, api_key):
    import io
    import json
    import tarfile
    import urllib.request

    service = tinker.ServiceClient(base_url=server.base_url, api_key=api_key)
    training = service.create_lora_training_client(base_model="lathe-tiny", rank=4)
    training.forward_backward([datum()], "cross_entropy").result()
    training.optim_step(types.AdamParams(learning_rate=1e-3)).result()
    training.save_state("keep").result()
    sampler_path = training.save_weights_for_sampler("for-sampling").result().path

    rest = service.create_rest_client()
    runs = rest.list_training_runs().result()
    assert [r.training_run_id for r in runs.training_runs] == [training.model_id]
    listed = rest.list_checkpoints(training.model_id).result()
    assert {c.checkpoint_id for c in listed.checkpoints} == {"weights/keep", "sampler_weights/for-sampling"}
    assert all(c.size_bytes > 0 for c in listed.checkpoints)

    rest.publish_checkpoint_from_tinker_path(sampler_path).result()
    published = rest.list_checkpoints(training.model_id).result()
    assert [c.public for c in published.checkpoints if c.checkpoint_id.startswith("sampler")] == [True]

    url = rest.get_checkpoint_archive_url_from_tinker_path(sampler_path).result().url
    with urllib.request.urlopen(url, timeout=30) as r:  # a signed link: no API key
        archive = tarfile.open(fileobj=io.BytesIO(r.read()))
    assert sorted(archive.getnames()) == ["adapter_config.json", "adapter_model.safetensors"]
    config = json.load(archive.extractfile("adapter_config.json"))
    assert config["peft_type"] == "LORA" and config["r"] == 4

    rest.delete_checkpoint_from_tinker_path(sampler_path).result()
    left = rest.list_checkpoints(training.model_id).result()
    assert [c.checkpoint_id for c in left.checkpoints] == ["weights/keep"]
