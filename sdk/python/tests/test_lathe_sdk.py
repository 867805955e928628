"""The lathe Python SDK against the real server: training, sampling, asyncio, chunking, custom
losses, checkpoints, and errors that name the field."""

import asyncio
import io
import math
import tarfile

import pydantic
import pytest
import lathe
from lathe import AdamParams, Datum, ModelInput, SamplingParams

TEXT = b"lathe trains loras"


def datum(text=TEXT):
    tokens = list(text)
    return Datum(
        model_input=ModelInput.from_ints(tokens[:-1]),
        loss_fn_inputs={"target_tokens": tokens[1:], "weights": [1.0] * (len(tokens) - 1)},
    )


@pytest.fixture
def service(server, api_key):
    with lathe.ServiceClient(base_url=server.base_url, api_key=api_key) as s:
        yield s


def test_sft_loop_trains_saves_and_samples(service):
    assert service.get_server_capabilities()["supported_models"][0]["model_name"] == "lathe-tiny"
    training = service.create_lora_training_client(base_model="lathe-tiny", rank=16, seed=3)
    losses = []
    for _ in range(40):
        fb = training.forward_backward([datum()], "cross_entropy")
        step = training.optim_step(AdamParams(learning_rate=5e-3))
        losses.append(fb.result().metrics["loss:sum"])
        assert step.result().metrics["step:max"] >= 1
    assert losses[-1] < 0.05 * losses[0], losses

    sampler = training.save_weights_and_get_sampling_client("final")
    out = sampler.sample(list(TEXT[:5]), num_samples=2, sampling_params=SamplingParams(max_tokens=6, temperature=0)).result()
    assert len(out.sequences) == 2 and all(s.tokens for s in out.sequences)
    # Greedy decoding of the trained pattern continues the text it learned.
    assert bytes(out.sequences[0].tokens[:3]) == TEXT[5:8]

    # The sampler's prompt logprobs equal the training forward's.
    lps = sampler.compute_logprobs(ModelInput.from_ints(list(TEXT))).result()
    fwd = training.forward([datum()]).result().loss_fn_outputs[0]["logprobs"].tolist()
    assert lps[0] is None
    assert max(abs(a - b) for a, b in zip(lps[1:], fwd)) < 1e-4


def test_futures_are_awaitable(service):
    training = service.create_lora_training_client(rank=4)

    async def loop():
        futures = [training.forward([datum(t)]) for t in (b"one two", b"three four", b"five six")]
        return await asyncio.gather(*(f.result_async() for f in futures))

    outs = asyncio.run(loop())
    assert [len(o.loss_fn_outputs[0]["logprobs"].tolist()) for o in outs] == [6, 9, 7]


def test_a_big_batch_goes_in_chunks_and_comes_back_as_one(service):
    training = service.create_lora_training_client(rank=4)
    data = [datum(f"example {i} of five".encode()) for i in range(5)]
    whole = training.forward(data).result()
    training.chunk_size = 2
    chunked = training.forward(data).result()
    assert len(chunked.loss_fn_outputs) == 5
    assert math.isclose(chunked.metrics["loss:sum"], whole.metrics["loss:sum"], rel_tol=1e-6)
    assert [o["logprobs"].tolist() for o in chunked.loss_fn_outputs] == [o["logprobs"].tolist() for o in whole.loss_fn_outputs]


def test_a_custom_loss_trains_as_its_built_in_twin(service):
    import torch

    custom = service.create_lora_training_client(rank=8, seed=11)
    builtin = service.create_lora_training_client(rank=8, seed=11)
    data = [datum(), datum(b"many loras at once")]

    def nll(batch, logprobs):
        loss = -sum(lp.sum() for lp in logprobs)
        return loss, {"tokens": float(sum(len(lp) for lp in logprobs))}

    for _ in range(3):
        out = custom.forward_backward_custom(data, nll)
        assert out.metrics["tokens"] == 34
        custom.optim_step(AdamParams(learning_rate=1e-2)).result()
        builtin.forward_backward(data).result()
        builtin.optim_step(AdamParams(learning_rate=1e-2)).result()
    a = custom.forward(data).result().loss_fn_outputs
    b = builtin.forward(data).result().loss_fn_outputs
    diff = max(abs(x - y) for oa, ob in zip(a, b) for x, y in zip(oa["logprobs"].tolist(), ob["logprobs"].tolist()))
    assert diff < 1e-4
    assert torch.is_tensor(torch.tensor(0.0))


def test_checkpoints_list_ttl_publish_download_delete(service):
    training = service.create_lora_training_client(rank=4)
    path = training.save_state("resume-me").result()
    rest = service.create_rest_client()
    listed = rest.list_checkpoints(training.model_id).checkpoints
    assert [c.tinker_path for c in listed] == [path]
    assert listed[0].size_bytes > 0
    rest.set_checkpoint_ttl(path, 3600)
    rest.publish_checkpoint(path)
    assert rest.list_checkpoints(training.model_id).checkpoints[0].public
    names = tarfile.open(fileobj=io.BytesIO(rest.download_checkpoint_archive(path))).getnames()
    assert any(n.endswith("adapter_model.safetensors") for n in names)
    training.load_state(path).result()
    rest.delete_checkpoint(path)
    assert rest.list_checkpoints(training.model_id).checkpoints == []


def test_bad_input_is_refused_before_sending_naming_the_field():
    with pytest.raises(pydantic.ValidationError, match=r"loss_fn_inputs\.weights\.data\.1"):
        Datum(model_input=ModelInput.from_ints([1, 2]), loss_fn_inputs={"weights": [1.0, float("nan")]})
    with pytest.raises(pydantic.ValidationError, match="target_tokens has 3 values for 2 tokens"):
        Datum(model_input=ModelInput.from_ints([1, 2]), loss_fn_inputs={"target_tokens": [1, 2, 3]})
    with pytest.raises(pydantic.ValidationError, match="learning_rate"):
        AdamParams(learning_rate=-1)
    with pytest.raises(pydantic.ValidationError, match="top_p"):
        SamplingParams(top_p=0)


def test_server_errors_arrive_with_status_category_and_field(server, service, api_key):
    training = service.create_lora_training_client(rank=4)
    bad = Datum(model_input=ModelInput.from_ints([1, 2, 99999]), loss_fn_inputs={"target_tokens": [2, 3, 4]})
    with pytest.raises(lathe.APIStatusError) as e:
        training.forward_backward([bad]).result()
    assert e.value.status == 400
    assert "model_input" in e.value.field
    assert e.value.problem["status"] == 400

    # Another tenant's run does not exist for this one.
    other = lathe.ServiceClient(base_url=server.base_url, api_key=server.new_api_key("other"))
    with pytest.raises(lathe.APIStatusError) as e:
        other.create_rest_client().get_training_run(training.model_id)
    assert e.value.status == 404
    other.close()

    with pytest.raises(lathe.APIStatusError) as e:
        lathe.ServiceClient(base_url=server.base_url, api_key="tml-not-a-key")
    assert e.value.status == 401


def test_the_forgetting_probe_measures_the_kl_from_the_base_model_per_step(server, service):
    training = service.create_lora_training_client(base_model="lathe-tiny", rank=8, seed=5)
    training.chunk_size = 2  # a probe set of five datums goes as three requests, joined here
    probe = [datum(t) for t in (b"what the base knew", b"about trees", b"and rivers", b"long ago", b"ok")]
    tokens = sum(len(d.model_input.to_ints()) for d in probe)

    def kl():
        out = training.forward(probe, kl_from_base=True).result()
        per_token = [v for o in out.loss_fn_outputs for v in o["kl_from_base"].data]
        assert [len(o["kl_from_base"].data) for o in out.loss_fn_outputs] == [len(d.model_input.to_ints()) for d in probe]
        assert min(per_token) >= 0
        assert out.metrics["kl_from_base:sum"] == pytest.approx(sum(per_token), rel=1e-5)
        assert out.metrics["kl_from_base:mean"] == pytest.approx(sum(per_token) / tokens, rel=1e-5)
        return out.metrics["kl_from_base:mean"]

    measured = [kl()]
    for _ in range(4):
        training.forward_backward([datum()], "cross_entropy").result()
        training.optim_step(AdamParams(learning_rate=1e-2)).result()
        measured.append(kl())
    assert measured[0] == 0  # a fresh adapter is the base model
    assert measured[-1] > 1e-3 and measured[-1] > measured[1]  # training on one text moves the rest

    # The server kept each step's mean over all three chunks, for the dashboard.
    steps = server.admin("GET", f"/admin/v1/training_runs/{training.model_id}/metrics")["steps"]
    kept = {s["step"]: s["kl_from_base"] for s in steps}
    assert sorted(kept) == [0, 1, 2, 3, 4]
    assert [kept[s] for s in range(5)] == pytest.approx(measured, rel=1e-5, abs=1e-12)

    # Only forward measures it, and only as 0 or 1.
    with pytest.raises(lathe.APIStatusError) as e:
        training.forward_backward([datum()], "cross_entropy", {"kl_from_base": 1.0}).result()
    assert e.value.status == 400 and e.value.field == "forward_backward_input.loss_fn_config.kl_from_base"
    with pytest.raises(lathe.APIStatusError) as e:
        training.forward([datum()], "cross_entropy", {"kl_from_base": 0.5}).result()
    assert e.value.field == "forward_input.loss_fn_config.kl_from_base"
