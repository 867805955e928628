"""adapter_diagnostics against numpy: a trained adapter's norms, spectrum, effective rank and
intruder dimensions per module, recomputed here from the checkpoint's archive and the base model's
own safetensors file with numpy.linalg.svd in float64; for a DoRA adapter, of W' = D·(W + s·B·A)
with D = diag(m / ‖W + s·B·A‖ per row)."""

import io
import json
import tarfile

import numpy as np
import pytest
import safetensors.numpy

import lathe
from lathe import AdamParams, Datum, ModelInput

RANK = 4


def archive_files(rest, path):
    with tarfile.open(fileobj=io.BytesIO(rest.download_checkpoint_archive(path))) as tar:
        return {m.name.rsplit("/", 1)[-1]: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def expected(module, base, adapter, config, top_k, threshold):
    """The same quantities, independently, in float64."""
    name = module["module"]
    w = base[name + ".weight"].astype(np.float64)
    a = adapter[f"base_model.model.{name}.lora_A.weight"].astype(np.float64)
    b = adapter[f"base_model.model.{name}.lora_B.weight"].astype(np.float64)
    r = config["r"]
    s = config["lora_alpha"] / (np.sqrt(r) if config.get("use_rslora") else r)
    delta = s * b @ a
    adapted = w + delta
    magnitude_change = None
    if config.get("use_dora"):
        m = adapter[f"base_model.model.{name}.lora_magnitude_vector"].astype(np.float64)
        d = (m / np.linalg.norm(adapted, axis=1))[:, None]
        adapted, delta = d * adapted, d * delta  # W' and its low-rank part D·s·B·A
        magnitude_change = np.linalg.norm(m - np.linalg.norm(w, axis=1)) / np.linalg.norm(w)
    sv = np.linalg.svd(delta, compute_uv=False)[:r]
    p = sv[sv > 0] / sv.sum() if sv.sum() > 0 else np.array([])
    erank = float(np.exp(-(p * np.log(p)).sum())) if p.size else 0.0
    u_base = np.linalg.svd(w, full_matrices=False)[0]
    u_adapted = np.linalg.svd(adapted, full_matrices=False)[0][:, :top_k]
    best = np.abs(u_adapted.T @ u_base).max(axis=1)
    return {
        "delta_norm": np.linalg.norm(adapted - w),
        "magnitude_change": magnitude_change,
        "base_norm": np.linalg.norm(w),
        "singular_values": sv,
        "effective_rank": erank,
        "intruders": int((best < threshold).sum()),
        "margin": float(np.abs(best - threshold).min()),
    }


def train(server, use_dora):
    """One run: untouched and moved checkpoints, and its client."""
    key = server.new_api_key("diagnostics-dora" if use_dora else "diagnostics")
    service = lathe.ServiceClient(base_url=server.base_url, api_key=key)
    training = service.create_lora_training_client(base_model="lathe-tiny", rank=RANK, seed=3, use_dora=use_dora)
    untouched = training.save_state("untouched").result()
    text = list(b"diagnostics see how far an adapter moved")
    datum = Datum(model_input=ModelInput.from_ints(text[:-1]), loss_fn_inputs={"target_tokens": text[1:]})
    for _ in range(12):
        training.forward_backward([datum]).result()
        training.optim_step(AdamParams(learning_rate=5e-2)).result()
    return service, untouched, training.save_state("moved").result(), training


@pytest.fixture(scope="module")
def trained(server):
    """A LoRA run, trained once for the module."""
    return train(server, use_dora=False)


@pytest.fixture(scope="module")
def trained_dora(server):
    """A DoRA run, trained once for the module."""
    return train(server, use_dora=True)


def base_weights(server):
    (model,) = (server.data / "models" / "lathe-tiny").glob("*.safetensors")
    return safetensors.numpy.load_file(str(model))


@pytest.mark.parametrize(
    "kind,top_k,threshold", [("lora", 10, 0.5), ("lora", 6, 0.95), ("dora", 10, 0.5), ("dora", 6, 0.95)]
)
def test_diagnostics_agree_with_numpy(server, request, kind, top_k, threshold):
    service, _, path, _ = request.getfixturevalue("trained_dora" if kind == "dora" else "trained")
    got = service.adapter_diagnostics(path, top_k=top_k, intruder_threshold=threshold).result(timeout=300)
    files = archive_files(service.create_rest_client(), path)
    adapter = safetensors.numpy.load(files["adapter_model.safetensors"])
    config = json.loads(files["adapter_config.json"])
    base = base_weights(server)

    assert got["model_path"] == path and got["rank"] == RANK and got["top_k"] == top_k
    assert got["dora"] == config["use_dora"] == (kind == "dora")
    assert {m["module"] for m in got["modules"]} == {
        k[len("base_model.model."):-len(".lora_A.weight")] for k in adapter if k.endswith(".lora_A.weight")
    }
    intruders = 0
    for m in got["modules"]:
        want = expected(m, base, adapter, config, top_k, threshold)
        assert m["delta_norm"] == pytest.approx(want["delta_norm"], rel=1e-6), m["module"]
        if kind == "dora":
            assert m["magnitude_change"] == pytest.approx(want["magnitude_change"], rel=1e-6), m["module"]
            assert m["magnitude_change"] > 0  # trained: the magnitudes moved too
        else:
            assert m.get("magnitude_change") is None
        assert m["base_norm"] == pytest.approx(want["base_norm"], rel=1e-6), m["module"]
        assert m["relative_norm"] == pytest.approx(want["delta_norm"] / want["base_norm"], rel=1e-6)
        np.testing.assert_allclose(m["singular_values"], want["singular_values"], rtol=1e-6, atol=1e-9)
        assert m["effective_rank"] == pytest.approx(want["effective_rank"], rel=1e-6), m["module"]
        if want["margin"] > 1e-4:  # not a cosine on the threshold itself
            assert m["intruder_dimensions"] == want["intruders"], m["module"]
        intruders += m["intruder_dimensions"]
        assert 1.0 <= m["effective_rank"] <= RANK
    layer = got["layers"][0]
    in_layer = [m for m in got["modules"] if m["layer"] == layer["layer"]]
    assert layer["modules"] == len(in_layer)
    assert layer["delta_norm"] == pytest.approx(np.sqrt(sum(m["delta_norm"] ** 2 for m in in_layer)))
    assert layer["intruder_dimensions"] == sum(m["intruder_dimensions"] for m in in_layer)
    if threshold > 0.9:
        assert intruders > 0  # a strict threshold finds some: the count is really compared


@pytest.mark.parametrize("kind", ["lora", "dora"])
def test_an_untrained_adapter_has_not_moved(server, request, kind):
    service, untouched, _, _ = request.getfixturevalue("trained_dora" if kind == "dora" else "trained")
    got = service.adapter_diagnostics(untouched).result(timeout=300)
    assert got["top_k"] == 10 and got["intruder_threshold"] == 0.5
    for m in got["modules"]:
        # DoRA's D·(W + 0) − W is zero up to rounding: m starts at ‖W‖ per row, stored in float32.
        tolerance = 1e-6 * m["base_norm"] if kind == "dora" else 0
        assert m["delta_norm"] <= tolerance and m["intruder_dimensions"] == 0
        assert m["effective_rank"] == 0 and m["singular_values"] == [0.0] * RANK


def test_a_live_run_is_diagnosed_as_it_stands(server, trained):
    service, _, path, training = trained
    live = training.adapter_diagnostics(top_k=6, intruder_threshold=0.95).result(timeout=300)
    saved = service.adapter_diagnostics(path, top_k=6, intruder_threshold=0.95).result(timeout=300)
    assert (live["model_id"], live.get("model_path")) == (training.model_id, None)
    assert live["modules"] == saved["modules"] and live["layers"] == saved["layers"]


def test_bad_and_foreign_paths_are_refused_by_field(server, trained):
    service, _, path, _ = trained
    other = lathe.ServiceClient(base_url=server.base_url, api_key=server.new_api_key("diag-other"))
    with pytest.raises(lathe.APIStatusError) as e:
        other.adapter_diagnostics(path).result()
    assert e.value.status == 404
    with pytest.raises(lathe.APIStatusError) as e:
        service.http.request("POST", "/api/v1/adapter_diagnostics", {"model_path": path, "top_k": 0})
    assert (e.value.status, e.value.field) == (400, "top_k")
    with pytest.raises(lathe.APIStatusError) as e:
        service.http.request("POST", "/api/v1/adapter_diagnostics", {"model_path": "weights/x"})
    assert (e.value.status, e.value.field) == (400, "model_path")
    with pytest.raises(lathe.APIStatusError) as e:
        service.http.request(
            "POST", "/api/v1/adapter_diagnostics", {"model_path": path, "intruder_threshold": 1.5}
        )
    assert (e.value.status, e.value.field) == (400, "intruder_threshold")
    for body in ({}, {"model_path": path, "model_id": "x"}):
        with pytest.raises(lathe.APIStatusError) as e:
            service.http.request("POST", "/api/v1/adapter_diagnostics", body)
        assert (e.value.status, e.value.field) == (400, "model_path")
    with pytest.raises(lathe.APIStatusError) as e:
        other.http.request("POST", "/api/v1/adapter_diagnostics", {"model_id": trained[3].model_id})
    assert (e.value.status, e.value.field) == (404, "model_id")
