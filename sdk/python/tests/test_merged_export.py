"""merged_export (a Lathe extension): a checkpoint merged into its base model downloads as a plain
Hugging Face model directory that transformers loads without PEFT and that computes Lathe's own
logprobs; it is kept with its checkpoint, counted in its size, and goes when the checkpoint goes."""

import io
import tarfile

import pytest
import torch
import transformers

import lathe
from lathe import AdamParams, Datum, ModelInput

TEXT = b"merged weights load anywhere"


def datum():
    tokens = list(TEXT)
    return Datum(model_input=ModelInput.from_ints(tokens[:-1]), loss_fn_inputs={"target_tokens": tokens[1:]})


def extract(archive, into):
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        names = []
        for member in tar.getmembers():
            (into / member.name).write_bytes(tar.extractfile(member).read())
            names.append(member.name)
    return sorted(names)


@pytest.mark.parametrize("use_dora", [False, True], ids=["lora", "dora"])
def test_a_merged_checkpoint_loads_in_transformers_and_computes_our_logprobs(server, api_key, tmp_path, use_dora):
    service = lathe.ServiceClient(base_url=server.base_url, api_key=api_key)
    training = service.create_lora_training_client(base_model="lathe-tiny", rank=8, seed=2, use_dora=use_dora)
    for _ in range(6):
        training.forward_backward([datum()]).result()
        training.optim_step(AdamParams(learning_rate=1e-2)).result()
    path = training.save_state("to-merge").result()
    rest = service.create_rest_client()
    with pytest.raises(lathe.APIStatusError) as e:
        rest.download_merged_archive(path)
    assert (e.value.status, e.value.field) == (404, "checkpoint_id") and "merged_export" in str(e.value)
    before = rest.list_checkpoints(training.model_id).checkpoints[0].size_bytes

    result = rest.merged_export(path).result(timeout=300)
    assert result["model_path"] == path
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(result["files"])
    assert rest.list_checkpoints(training.model_id).checkpoints[0].size_bytes == before + result["size_bytes"]
    assert extract(rest.download_merged_archive(path), tmp_path) == sorted(result["files"])

    model = transformers.AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
    tokens = list(TEXT)
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([tokens[:-1]])).logits[0].double(), -1)
    merged = logp[torch.arange(len(tokens) - 1), torch.tensor(tokens[1:])].tolist()
    ours = training.forward([datum()]).result().loss_fn_outputs[0]["logprobs"].tolist()
    assert max(abs(a - b) for a, b in zip(merged, ours)) < 1e-4
    base = service.create_lora_training_client(base_model="lathe-tiny", rank=8, seed=2)
    untrained = base.forward([datum()]).result().loss_fn_outputs[0]["logprobs"].tolist()
    assert max(abs(a - b) for a, b in zip(merged, untrained)) > 1e-2  # the merge holds the training

    run_dir = training.model_id.replace(":", "_")
    stored = [p for p in (server.data / "adapters").rglob("merged") if run_dir in str(p)]
    assert len(stored) == 1 and (stored[0] / "model.safetensors").is_file()
    rest.delete_checkpoint(path)
    assert not stored[0].exists()
    with pytest.raises(lathe.APIStatusError) as e:
        rest.download_merged_archive(path)
    assert e.value.status == 404


def test_merged_export_refuses_other_tenants_and_bad_paths(server, api_key):
    service = lathe.ServiceClient(base_url=server.base_url, api_key=api_key)
    training = service.create_lora_training_client(base_model="lathe-tiny", rank=4)
    path = training.save_state("mine").result()
    other = lathe.ServiceClient(base_url=server.base_url, api_key=server.new_api_key("merged-other"))
    with pytest.raises(lathe.APIStatusError) as e:
        other.create_rest_client().merged_export(path).result()
    assert e.value.status == 404
    with pytest.raises(lathe.APIStatusError) as e:
        other.create_rest_client().download_merged_archive(path)
    assert e.value.status == 404
    for body in ({}, {"model_path": "weights/x"}, {"model_path": 7}):
        with pytest.raises(lathe.APIStatusError) as e:
            service.http.request("POST", "/api/v1/merged_export", body)
        assert (e.value.status, e.value.field) == (400, "model_path"), body
