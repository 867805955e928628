"""DoRA through the API (lora_config use_dora, a Lathe extension): a run trains, its checkpoint is a
PEFT DoRA adapter that Hugging Face PEFT loads and agrees with on every logprob, greedy sampling
from it decodes what PEFT decodes, and it reloads only into a DoRA run."""

import io
import json
import tarfile

import peft
import pytest
import safetensors.torch
import torch
import transformers

import lathe
from lathe import AdamParams, Datum, ModelInput, SamplingParams

TEXT = b"dora learns a magnitude and a direction"


def datum(text=TEXT):
    tokens = list(text)
    return Datum(model_input=ModelInput.from_ints(tokens[:-1]), loss_fn_inputs={"target_tokens": tokens[1:]})


@pytest.fixture(scope="module")
def run(server):
    service = lathe.ServiceClient(base_url=server.base_url, api_key=server.new_api_key("dora"))
    training = service.create_lora_training_client(base_model="lathe-tiny", rank=8, seed=5, use_dora=True)
    losses = []
    for _ in range(25):
        losses.append(training.forward_backward([datum()]).result().metrics["loss:sum"])
        training.optim_step(AdamParams(learning_rate=5e-3)).result()
    return service, training, losses, training.save_state("trained").result()


def peft_model(server, service, path, tmp_path):
    archive = service.create_rest_client().download_checkpoint_archive(path)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if member.isfile():
                (tmp_path / member.name.rsplit("/", 1)[-1]).write_bytes(tar.extractfile(member).read())
    base = transformers.AutoModelForCausalLM.from_pretrained(server.data / "models" / "lathe-tiny", dtype=torch.float32)
    return peft.PeftModel.from_pretrained(base, tmp_path).eval()


def test_a_dora_run_trains_and_peft_agrees_on_its_checkpoint(server, run, tmp_path):
    service, training, losses, path = run
    assert losses[-1] < 0.5 * losses[0], losses

    model = peft_model(server, service, path, tmp_path)
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert config["use_dora"] is True and config["r"] == 8
    tensors = safetensors.torch.load_file(tmp_path / "adapter_model.safetensors")
    assert sum(k.endswith(".lora_magnitude_vector") for k in tensors) == sum(k.endswith(".lora_A.weight") for k in tensors) > 0

    tokens = list(TEXT)
    got = training.forward([datum()]).result().loss_fn_outputs[0]["logprobs"].tolist()
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([tokens[:-1]])).logits[0].double(), -1)
        want = logp[torch.arange(len(tokens) - 1), torch.tensor(tokens[1:])].tolist()
        with model.disable_adapter():
            plain = torch.log_softmax(model(input_ids=torch.tensor([tokens[:-1]])).logits[0].double(), -1)
    assert max(abs(a - b) for a, b in zip(got, want)) < 1e-4
    assert (logp - plain).abs().max().item() > 1e-2  # the adapter really moved the model

    # Greedy sampling from the checkpoint decodes what PEFT decodes.
    sampler = service.create_sampling_client(model_path=training.save_weights_for_sampler("sampler").result())
    prompt = tokens[:6]
    out = sampler.sample(prompt, sampling_params=SamplingParams(max_tokens=8, temperature=0)).result()
    with torch.no_grad():
        greedy = model.generate(torch.tensor([prompt]), max_new_tokens=8, do_sample=False)[0, len(prompt):].tolist()
    assert out.sequences[0].tokens == greedy


def test_a_dora_checkpoint_loads_into_a_dora_run_only(run):
    service, _, _, path = run
    lora = service.create_lora_training_client(base_model="lathe-tiny", rank=8)
    with pytest.raises(lathe.APIStatusError) as e:
        lora.load_state(path).result()
    assert (e.value.status, e.value.field) == (400, "path") and "DoRA" in str(e.value)

    dora = service.create_lora_training_client(base_model="lathe-tiny", rank=8, use_dora=True)
    dora.load_state(path).result()
    again = dora.save_state("reloaded").result()
    rest = service.create_rest_client()
    assert tensors_of(rest, again) == tensors_of(rest, path)


def tensors_of(rest, path):
    with tarfile.open(fileobj=io.BytesIO(rest.download_checkpoint_archive(path))) as tar:
        (member,) = [m for m in tar.getmembers() if m.name.endswith("adapter_model.safetensors")]
        loaded = safetensors.torch.load(tar.extractfile(member).read())
    return {k: v.tolist() for k, v in loaded.items()}
