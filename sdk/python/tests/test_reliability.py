"""Process faults: the all-in-one server is killed with SIGKILL in the middle of a training loop and
started again on the same data directory and port. The client's loop goes on through its retries,
and the adapter it ends with is bit for bit the one an uninterrupted run ends with: no step lost,
none applied twice, no future left pending."""

import io
import tarfile
import threading

import numpy as np
import pytest
import safetensors.numpy
import tinker
from tinker import types

import lathe
from conftest import _free_port, running
from lathe import AdamParams, Datum, ModelInput

STEPS = 8
KILL_AFTER = 3  # steps done before the kill; the next step's requests are in flight


def text(step):
    return f"step {step}: lathe survives kill -9".encode()


def lathe_datum(step):
    tokens = list(text(step))
    return Datum(model_input=ModelInput.from_ints(tokens[:-1]), loss_fn_inputs={"target_tokens": tokens[1:]})


def tinker_datum(step):
    tokens = list(text(step))
    return types.Datum(
        model_input=types.ModelInput.from_ints(tokens[:-1]), loss_fn_inputs={"target_tokens": tokens[1:]}
    )


class LatheLoop:
    """A training loop on the `lathe` SDK."""

    def __init__(self, base_url, api_key):
        self.service = lathe.ServiceClient(base_url=base_url, api_key=api_key)
        self.training = self.service.create_lora_training_client(base_model="lathe-tiny", rank=8, seed=11)
        self.rest = self.service.create_rest_client()

    def send(self, step):
        fb = self.training.forward_backward([lathe_datum(step)])
        opt = self.training.optim_step(AdamParams(learning_rate=1e-2))
        return fb, opt

    def finish(self, futures):
        fb, opt = futures
        return fb.result().metrics["loss:sum"], opt.result().metrics["step:max"]

    def save(self):
        path = self.training.save_state("final").result()
        return self.rest.download_checkpoint_archive(path)


class TinkerLoop:
    """The same loop on the official tinker SDK (0.24.1, JSON)."""

    def __init__(self, base_url, api_key):
        self.service = tinker.ServiceClient(base_url=base_url, api_key=api_key, max_retries=10)
        self.training = self.service.create_lora_training_client(base_model="lathe-tiny", rank=8, seed=11)
        self.rest = lathe.ServiceClient(base_url=base_url, api_key=api_key).create_rest_client()

    def send(self, step):
        fb = self.training.forward_backward([tinker_datum(step)], "cross_entropy")
        opt = self.training.optim_step(types.AdamParams(learning_rate=1e-2))
        return fb, opt

    def finish(self, futures):
        fb, opt = futures
        return fb.result().metrics["loss:sum"], opt.result().metrics["step:max"]

    def save(self):
        path = self.training.save_state("final").result().path
        return self.rest.download_checkpoint_archive(path)


def tensors(archive):
    """Every tensor of the checkpoint (adapter and optimizer state), by file and name."""
    out = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if member.name.endswith(".safetensors"):
                loaded = safetensors.numpy.load(tar.extractfile(member).read())
                out.update({f"{member.name.rsplit('/', 1)[-1]}:{k}": v for k, v in loaded.items()})
    assert any(k.startswith("adapter_model.safetensors:") for k in out), sorted(out)
    return out


def train(loop, on_sent=None):
    """STEPS steps; on_sent(step) runs once a step's requests are sent, before their results."""
    metrics = []
    for step in range(STEPS):
        futures = loop.send(step)
        if on_sent:
            on_sent(step)
        metrics.append(loop.finish(futures))
    return metrics, tensors(loop.save())


@pytest.mark.parametrize("sdk", [LatheLoop, TinkerLoop], ids=["lathe", "tinker"])
def test_kill_9_mid_loop_then_restart_loses_and_repeats_nothing(server, sdk, tmp_path):
    reference_metrics, reference = train(sdk(server.base_url, server.new_api_key(f"ref-{sdk.__name__}")))

    port = _free_port()
    first = running(data=tmp_path, port=port)
    killed = first.__enter__()
    loop = sdk(killed.base_url, killed.new_api_key(f"killed-{sdk.__name__}"))
    gone = threading.Event()

    def kill_once(step):
        if step == KILL_AFTER:
            killed.proc.kill()  # SIGKILL: no shutdown hook, no clean release, the database orphaned
            killed.proc.wait(timeout=30)
            gone.set()

    result = {}
    client = threading.Thread(target=lambda: result.update(out=train(loop, kill_once)), daemon=True)
    client.start()
    assert gone.wait(timeout=300), "the loop never reached the kill"
    first.__exit__(None, None, None)
    with running(data=tmp_path, port=port):  # the same data directory and port
        client.join(timeout=300)
        assert not client.is_alive(), "the client's loop did not finish after the restart"
    metrics, restarted = result["out"]

    assert [m[1] for m in metrics] == [float(s + 1) for s in range(STEPS)]  # each step applied once
    assert metrics == reference_metrics
    assert sorted(restarted) == sorted(reference)
    for name, value in reference.items():
        assert np.array_equal(restarted[name], value), name
    log = (tmp_path / "server.log").read_text()
    assert "left running by a previous start" in log  # the orphaned PostgreSQL was stopped
