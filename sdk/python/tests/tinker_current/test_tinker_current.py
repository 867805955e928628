"""The current official tinker SDK (0.38.0, protobuf forward_backward) trains and samples against
Lathe unchanged: the same loops as the JSON-protocol suite (test_tinker_compat.py), plus what this
SDK adds. Runs in its own venv (.venv-tinker): test.sh."""

import pytest
import tinker
import torch
from tinker import types

TEXT = b"lathe trains loras"


def datum():
    tokens = list(TEXT)
    return types.Datum(
        model_input=types.ModelInput.from_ints(tokens[:-1]),
        loss_fn_inputs={"target_tokens": tokens[1:], "weights": [1.0] * (len(tokens) - 1)},
    )


def test_sdk_is_the_current_release():
    assert tinker.__version__ == "0.38.0"


def test_the_server_asks_for_zstd_and_its_own_chunk_limits(server, api_key):
    service = tinker.ServiceClient(base_url=server.base_url, api_key=api_key)
    config = service.holder._client_config
    assert config.proto_compress_fwdbwd is True
    assert config.fwdbwd_max_chunk_len == 4096
    assert config.sample_use_retrieve_futures is False and config.custom_loss_server_side is False


def test_sft_loop_with_the_current_sdk(server, api_key):
    service = tinker.ServiceClient(base_url=server.base_url, api_key=api_key)
    caps = tinker.RestClient(base_url=server.base_url, api_key=api_key).get_server_capabilities().result()
    assert [m.model_name for m in caps.supported_models] == ["lathe-tiny"]

    # Fixed seeds and the median of the last three steps: at these rates Adam on the tiny model now
    # and then spikes for one step and recovers (test_tinker_compat.py).
    training = service.create_lora_training_client(base_model="lathe-tiny", rank=16, seed=7).result()
    info = training.get_info()
    assert info.model_data.model_name == "lathe-tiny" and info.lora_rank == 16

    losses = []
    for _ in range(12):
        fb = training.forward_backward([datum(), datum()], "cross_entropy")
        step = training.optim_step(types.AdamParams(learning_rate=5e-3))
        out = fb.result()
        step.result()
        losses.append(out.metrics["loss:sum"])
        assert [len(o["logprobs"].tolist()) for o in out.loss_fn_outputs] == [len(TEXT) - 1] * 2
    assert sorted(losses[-3:])[1] < 0.6 * losses[0], losses

    sampler = training.save_weights_and_get_sampling_client().result()
    result = sampler.sample(
        prompt=types.ModelInput.from_ints(list(TEXT[:5])),
        num_samples=3,
        sampling_params=types.SamplingParams(max_tokens=6, temperature=0.0, seed=1),
    ).result()
    assert len(result.sequences) == 3
    assert len({s.sequence_id for s in result.sequences}) == 3
    for seq in result.sequences:
        assert 1 <= len(seq.tokens) <= 6
        assert len(seq.logprobs) == len(seq.tokens)
        assert seq.stop_reason in ("length", "stop")
    assert len({tuple(s.tokens) for s in result.sequences}) == 1


def test_forward_logprobs_agree_with_the_samplers(server, api_key):
    service = tinker.ServiceClient(base_url=server.base_url, api_key=api_key)
    training = service.create_lora_training_client(base_model="lathe-tiny", rank=4).result()
    training.forward_backward([datum()], "cross_entropy").result()
    training.optim_step(types.AdamParams(learning_rate=1e-2)).result()
    forward = training.forward([datum()], "cross_entropy").result()
    sampler = training.save_weights_and_get_sampling_client().result()
    prompt = types.ModelInput.from_ints(list(TEXT))
    scored = sampler.compute_logprobs(prompt).result()
    assert scored[0] is None
    assert scored[1:] == pytest.approx(forward.loss_fn_outputs[0]["logprobs"].tolist(), abs=1e-4)


def test_topk_logprobs_of_sampled_tokens(server, api_key):
    service = tinker.ServiceClient(base_url=server.base_url, api_key=api_key)
    sampler = service.create_sampling_client(base_model="lathe-tiny").result()
    out = sampler.sample(
        prompt=types.ModelInput.from_ints([1, 2, 3, 4]),
        num_samples=2,
        sampling_params=types.SamplingParams(max_tokens=5, temperature=0.0),
        topk_sample_logprobs=3,
    ).result()
    for seq in out.sequences:
        assert len(seq.topk_logprobs) == len(seq.tokens)
        for token, logprob, top in zip(seq.tokens, seq.logprobs, seq.topk_logprobs, strict=True):
            assert len(top) == 3
            # Greedy: the sampled token is the most likely one.
            assert top[0][0] == token and top[0][1] == pytest.approx(logprob, abs=1e-5)
            assert top[0][1] >= top[1][1] >= top[2][1]


def test_checkpoints_resume_with_optimizer_state(server, api_key):
    service = tinker.ServiceClient(base_url=server.base_url, api_key=api_key)
    training = service.create_lora_training_client(base_model="lathe-tiny", rank=8).result()
    training.forward_backward([datum()], "cross_entropy").result()
    training.optim_step(types.AdamParams(learning_rate=1e-3)).result()
    path = training.save_state("ckpt").result().path
    assert path.startswith("tinker://") and path.endswith("/weights/ckpt")

    rest = tinker.RestClient(base_url=server.base_url, api_key=api_key)
    info = rest.get_weights_info_by_tinker_path(path).result()
    assert info.base_model == "lathe-tiny" and info.lora_rank == 8
    run = rest.get_training_run_by_tinker_path(path).result()
    assert run.training_run_id == training.model_id

    # Created by load_weights (session_id + model_seq_id), with the optimizer state: one more
    # identical step on each keeps them equal; a weights-only copy starts its moments afresh.
    resumed = service.create_training_client_from_state_with_optimizer(path).result()
    fresh = service.create_training_client_from_state(path).result()
    assert resumed.get_info().lora_rank == 8
    for client in (training, resumed, fresh):
        client.forward_backward([datum()], "cross_entropy").result()
        client.optim_step(types.AdamParams(learning_rate=1e-3)).result()
    losses = [c.forward([datum()], "cross_entropy").result().metrics["loss:sum"] for c in (training, resumed, fresh)]
    assert losses[1] == pytest.approx(losses[0], abs=1e-4)
    assert abs(losses[2] - losses[0]) > 1e-3


def test_a_client_side_custom_loss_trains(server, api_key):
    service = tinker.ServiceClient(base_url=server.base_url, api_key=api_key)
    training = service.create_lora_training_client(base_model="lathe-tiny", rank=8, seed=7).result()

    def mean_nll(data, logprobs_list):
        loss = torch.stack([-lp.mean() for lp in logprobs_list]).sum()
        return loss, {"nll:mean": float(loss.detach())}

    losses = []
    for _ in range(8):
        out = training.forward_backward_custom([datum()], mean_nll).result()
        training.optim_step(types.AdamParams(learning_rate=1e-2)).result()
        losses.append(out.metrics["loss:sum"])
        assert "surrogate_loss:sum" in out.metrics
    assert sorted(losses[-3:])[1] < 0.7 * losses[0], losses


def test_prompt_logprobs_and_errors_reach_the_user(server, api_key):
    service = tinker.ServiceClient(base_url=server.base_url, api_key=api_key)
    sampler = service.create_sampling_client(base_model="lathe-tiny").result()
    out = sampler.sample(
        prompt=types.ModelInput.from_ints([1, 2, 3, 4]),
        num_samples=1,
        sampling_params=types.SamplingParams(max_tokens=2, stop=[7]),
        include_prompt_logprobs=True,
        topk_prompt_logprobs=2,
    ).result()
    assert out.prompt_logprobs[0] is None and len(out.prompt_logprobs) == 4
    assert len(out.topk_prompt_logprobs[1]) == 2

    training = service.create_lora_training_client(base_model="lathe-tiny", rank=4).result()
    bad = types.Datum(
        model_input=types.ModelInput.from_ints([1, 2, 3]),
        loss_fn_inputs={"target_tokens": [2, 3, 99999], "weights": [1.0, 1.0, 1.0]},
    )
    with pytest.raises(tinker.BadRequestError, match=r"target_tokens\[2\]"):
        training.forward_backward([bad], "cross_entropy").result()

    with pytest.raises(tinker.BadRequestError, match="record_stability_info"):
        stable = service.create_sampling_client(
            base_model="lathe-tiny", record_stability_info=True
        ).result()
        stable.sample(
            prompt=types.ModelInput.from_ints([1, 2]),
            num_samples=1,
            sampling_params=types.SamplingParams(max_tokens=1),
        ).result()


def test_rest_client_manages_checkpoints(server, api_key):
    service = tinker.ServiceClient(base_url=server.base_url, api_key=api_key)
    training = service.create_lora_training_client(base_model="lathe-tiny", rank=4).result()
    training.forward_backward([datum()], "cross_entropy").result()
    training.optim_step(types.AdamParams(learning_rate=1e-3)).result()
    training.save_state("keep").result()
    sampler_path = training.save_weights_for_sampler("for-sampling").result().path

    rest = tinker.RestClient(base_url=server.base_url, api_key=api_key)
    runs = rest.list_training_runs().result()
    assert [r.training_run_id for r in runs.training_runs] == [training.model_id]
    listed = rest.list_checkpoints(training.model_id).result()
    assert {c.checkpoint_id for c in listed.checkpoints} == {"weights/keep", "sampler_weights/for-sampling"}
    assert all(c.size_bytes > 0 for c in listed.checkpoints)

    rest.publish_checkpoint_from_tinker_path(sampler_path).result()
    published = rest.list_checkpoints(training.model_id).result()
    assert [c.public for c in published.checkpoints if c.checkpoint_id.startswith("sampler")] == [True]
    rest.unpublish_checkpoint_from_tinker_path(sampler_path).result()

    rest.delete_checkpoint_from_tinker_path(sampler_path).result()
    left = rest.list_checkpoints(training.model_id).result()
    assert [c.checkpoint_id for c in left.checkpoints] == ["weights/keep"]


def test_sessions_keep_their_name_and_finish(server, api_key):
    service = tinker.ServiceClient(
        base_url=server.base_url, api_key=api_key, display_name="nightly sft", user_metadata={"team": "a"}
    )
    training = service.create_lora_training_client(base_model="lathe-tiny", rank=4).result()
    training.forward_backward([datum()], "cross_entropy").result()
    training.optim_step(types.AdamParams(learning_rate=1e-3)).result()
    training.save_state("kept").result()
    session_id = service.holder.get_session_id()

    rest = tinker.RestClient(base_url=server.base_url, api_key=api_key)
    session = rest.get_session(session_id).result()
    assert session.display_name == "nightly sft" and session.user_metadata == {"team": "a"}
    assert session.training_run_ids == [training.model_id]

    usage = tinker.AdminClient(base_url=server.base_url, api_key=api_key).get_current_checkpoint_storage_usage().result()
    assert [(u.checkpoint_count, u.size_bytes > 0) for u in usage.data] == [(1, True)]

    # close() finishes the session on the server (and raises if that call fails).
    service.close("success").result()


def test_what_lathe_does_not_serve_says_so(server, api_key):
    rest = tinker.RestClient(base_url=server.base_url, api_key=api_key)
    with pytest.raises(tinker.NotFoundError, match="not supported by Lathe"):
        rest.copy_weights("tinker://run/weights/x", "proj-1").result()
    with pytest.raises(tinker.NotFoundError, match="no external weights"):
        rest.get_external_weights_urls("tinker://run-1/external_weights/x").result()


def test_the_forgetting_probe_through_the_official_sdk(server, api_key):
    service = tinker.ServiceClient(base_url=server.base_url, api_key=api_key)
    training = service.create_lora_training_client(base_model="lathe-tiny", rank=4, seed=3).result()
    training.forward_backward([datum()], "cross_entropy").result()
    training.optim_step(types.AdamParams(learning_rate=1e-2)).result()
    out = training.forward([datum(), datum()], "cross_entropy", {"kl_from_base": 1.0}).result()
    kl = [o["kl_from_base"].tolist() for o in out.loss_fn_outputs]
    assert [len(k) for k in kl] == [len(TEXT) - 1] * 2 and kl[0] == pytest.approx(kl[1], rel=1e-5, abs=1e-9)
    assert out.metrics["kl_from_base:mean"] > 0
    assert out.metrics["kl_from_base:sum"] == pytest.approx(sum(kl[0]) * 2, rel=1e-5)
