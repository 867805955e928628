"""ServiceClient, TrainingClient, SamplingClient and RestClient: the shape of the tinker SDK."""

from __future__ import annotations

import threading
import urllib.parse
from typing import Any, Callable, Optional, Sequence, Union

from ._http import APIFuture, Combined, Http
from .tokenizer import get_tokenizer
from .types import (
    AdamParams,
    CheckpointsListResponse,
    Datum,
    ForwardBackwardOutput,
    LoraConfig,
    ModelInput,
    OptimStepResponse,
    SampleResponse,
    SamplingParams,
    TensorData,
)

SDK_VERSION = "0.1.0"


def _data(data: Sequence[Union[Datum, dict]]) -> list[Datum]:
    out = [d if isinstance(d, Datum) else Datum.model_validate(d) for d in data]
    if not out:
        raise ValueError("data must hold at least one datum")
    return out


def _dump(model) -> dict:
    return model.model_dump(mode="json", exclude_none=True)


class ServiceClient:
    """Entry point: one session on a Lathe server, kept alive by a heartbeat while it is open.

    >>> service = ServiceClient(base_url="http://localhost:8080", api_key="tml-...")
    >>> training = service.create_lora_training_client(base_model="lathe-tiny", rank=16)
    """

    def __init__(
        self,
        base_url: str = "http://localhost:8080",
        api_key: Optional[str] = None,
        *,
        tags: Sequence[str] = (),
        user_metadata: Optional[dict[str, Any]] = None,
        heartbeat_seconds: float = 10.0,
        timeout: float = 60.0,
        max_retries: int = 10,
    ):
        import os

        self.http = Http(
            base_url, api_key or os.environ.get("LATHE_API_KEY", ""), timeout=timeout, max_retries=max_retries
        )
        body: dict[str, Any] = {"tags": list(tags), "sdk_version": SDK_VERSION, "type": "create_session"}
        if user_metadata:
            body["user_metadata"] = user_metadata
        self.session_id: str = self.http.request("POST", "/api/v1/create_session", body)["session_id"]
        self._model_seq = 0
        self._sampling_seq = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, args=(heartbeat_seconds,), daemon=True)
        self._heartbeat.start()

    def _beat(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.http.request("POST", "/api/v1/session_heartbeat", {"session_id": self.session_id})
            except Exception:  # the next beat tries again; calls surface real errors
                pass

    def _next(self, counter: str) -> int:
        with self._lock:
            n = getattr(self, counter)
            setattr(self, counter, n + 1)
            return n

    def get_server_capabilities(self) -> dict:
        return self.http.request("GET", "/api/v1/get_server_capabilities")

    def adapter_diagnostics(
        self,
        model_path: Optional[str] = None,
        *,
        model_id: Optional[str] = None,
        top_k: Optional[int] = None,
        intruder_threshold: Optional[float] = None,
    ) -> APIFuture[dict]:
        """How far an adapter moved its base model (a Lathe extension): a saved one by its
        ``model_path``, or a training run's as it stands by its ``model_id``. The result is a dict:
        per adapted module ``delta_norm`` = ‖s·B·A‖_F, ``base_norm`` = ‖W‖_F, ``relative_norm``,
        the ``singular_values`` of s·B·A and their ``effective_rank``, and ``intruder_dimensions``
        (of the top ``top_k`` singular vectors of W + s·B·A, default 10, those whose largest
        |cosine| with every singular vector of W is below ``intruder_threshold``, default 0.5);
        ``layers`` sums them up per decoder layer."""
        if (model_path is None) == (model_id is None):
            raise ValueError("give exactly one of model_path and model_id")
        if model_path is not None and not (isinstance(model_path, str) and model_path.startswith("tinker://")):
            raise ValueError("model_path must be a tinker:// checkpoint path")
        if top_k is not None and not 1 <= top_k <= 64:
            raise ValueError("top_k must be 1 to 64")
        if intruder_threshold is not None and not 0 < intruder_threshold <= 1:
            raise ValueError("intruder_threshold must be in (0, 1]")
        body = {"model_path": model_path, "model_id": model_id, "top_k": top_k,
                "intruder_threshold": intruder_threshold, "type": "adapter_diagnostics"}
        accepted = self.http.request("POST", "/api/v1/adapter_diagnostics", _without_none(body))
        return APIFuture(self.http, accepted["request_id"], lambda b: b)

    def create_lora_training_client(
        self,
        base_model: str = "lathe-tiny",
        rank: int = 32,
        seed: Optional[int] = None,
        train_attn: bool = True,
        train_mlp: bool = True,
        train_unembed: bool = True,
        user_metadata: Optional[dict[str, Any]] = None,
        use_dora: bool = False,
    ) -> "TrainingClient":
        """A new LoRA training run; ``use_dora`` (a Lathe extension) trains DoRA instead: a
        magnitude per output row of each adapted weight beside its low-rank direction."""
        config = LoraConfig(rank=rank, seed=seed, train_attn=train_attn, train_mlp=train_mlp,
                            train_unembed=train_unembed, use_dora=use_dora)
        body: dict[str, Any] = {
            "session_id": self.session_id,
            "model_seq_id": self._next("_model_seq"),
            "base_model": base_model,
            "lora_config": _dump(config),
            "type": "create_model",
        }
        if user_metadata:
            body["user_metadata"] = user_metadata
        accepted = self.http.request("POST", "/api/v1/create_model", body)
        model_id = APIFuture(self.http, accepted["request_id"], lambda b: b["model_id"]).result()
        return TrainingClient(self, model_id, base_model)

    def create_sampling_client(
        self, model_path: Optional[str] = None, base_model: Optional[str] = None
    ) -> "SamplingClient":
        if (model_path is None) == (base_model is None):
            raise ValueError("pass exactly one of model_path and base_model")
        body: dict[str, Any] = {
            "session_id": self.session_id,
            "sampling_session_seq_id": self._next("_sampling_seq"),
            "type": "create_sampling_session",
        }
        body["model_path" if model_path else "base_model"] = model_path or base_model
        sid = self.http.request("POST", "/api/v1/create_sampling_session", body)["sampling_session_id"]
        return SamplingClient(self.http, sid)

    def create_rest_client(self) -> "RestClient":
        return RestClient(self.http)

    def get_tokenizer(self, base_model: str):
        """The base model's tokenizer, fetched from this server (see lathe.tokenizer)."""
        return get_tokenizer(self.http, base_model)

    def close(self) -> None:
        self._stop.set()
        self.http.close()

    def __enter__(self) -> "ServiceClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class TrainingClient:
    """One LoRA training run. Every call is queued in order and returns a future at once."""

    #: datums per forward_backward request; bigger batches go as several requests.
    chunk_size = 1024

    def __init__(self, service: ServiceClient, model_id: str, base_model: str):
        self.service = service
        self.http = service.http
        self.model_id = model_id
        self.base_model = base_model
        self._seq = 1
        self._lock = threading.Lock()

    def _call(self, path: str, body: dict, parse: Callable[[dict], Any]) -> APIFuture:
        # seq_id orders the run's requests and makes a retried call the same request.
        with self._lock:
            body = dict(body, model_id=self.model_id, seq_id=self._seq)
            self._seq += 1
            accepted = self.http.request("POST", path, body)
        return APIFuture(self.http, accepted["request_id"], parse)

    def _fb(self, kind: str, data, loss_fn: str, loss_fn_config: Optional[dict]):
        data = _data(data)
        parts = []
        for i in range(0, len(data), self.chunk_size):
            inp: dict[str, Any] = {"data": [_dump(d) for d in data[i : i + self.chunk_size]], "loss_fn": loss_fn}
            if loss_fn_config:
                inp["loss_fn_config"] = loss_fn_config
            parts.append(self._call(f"/api/v1/{kind}", {f"{kind}_input": inp, "type": kind}, ForwardBackwardOutput.model_validate))
        if len(parts) == 1:
            return parts[0]
        return Combined(parts, _merge_outputs)

    def forward(
        self, data, loss_fn: str = "cross_entropy", loss_fn_config: Optional[dict] = None, kl_from_base: bool = False
    ):
        """Logprobs (and the loss) without gradients. With kl_from_base, the forgetting probe: each
        datum's output also holds ``kl_from_base``, KL(adapter ‖ base model) of the next-token
        distributions at each position, and the metrics ``kl_from_base:sum`` and ``:mean`` (per
        token); the server keeps the mean per optimizer step for the dashboard."""
        if kl_from_base:
            loss_fn_config = dict(loss_fn_config or {}, kl_from_base=1.0)
        return self._fb("forward", data, loss_fn, loss_fn_config)

    def forward_backward(self, data, loss_fn: str = "cross_entropy", loss_fn_config: Optional[dict] = None):
        """Adds the loss's gradient to the adapter; it applies at the next optim_step."""
        return self._fb("forward_backward", data, loss_fn, loss_fn_config)

    def forward_backward_custom(self, data, loss_fn: Callable) -> ForwardBackwardOutput:
        """Any differentiable loss of the per-token logprobs, computed here with torch.

        ``loss_fn(data, logprobs) -> (loss, metrics)`` gets one torch tensor of target logprobs per
        datum. Its gradient dL/dlogp goes back as cross_entropy weights −dL/dlogp, so the adapter's
        gradient is exactly dL/dθ.
        """
        import torch

        data = _data(data)
        fwd = self.forward(data).result()
        logprobs = [torch.tensor(o["logprobs"].tolist(), dtype=torch.float32, requires_grad=True) for o in fwd.loss_fn_outputs]
        loss, metrics = loss_fn(data, logprobs)
        loss.backward()
        weighted = []
        for d, lp in zip(data, logprobs):
            inputs = {"target_tokens": d.loss_fn_inputs["target_tokens"], "weights": TensorData.from_list((-lp.grad).tolist(), "float32")}
            weighted.append(Datum(model_input=d.model_input, loss_fn_inputs=inputs))
        out = self.forward_backward(weighted, "cross_entropy").result()
        extra = {k: _scalar(v) for k, v in (metrics or {}).items()}
        out.metrics = dict(out.metrics, **extra, **{"loss:custom": _scalar(loss)})
        return out

    def optim_step(self, adam_params: Optional[AdamParams] = None) -> APIFuture[OptimStepResponse]:
        params = adam_params or AdamParams()
        return self._call("/api/v1/optim_step", {"adam_params": _dump(params), "type": "optim_step"}, OptimStepResponse.model_validate)

    def save_state(self, name: Optional[str] = None, ttl_seconds: Optional[int] = None) -> APIFuture[str]:
        """A resumable checkpoint (weights and optimizer state); its tinker:// path."""
        body = {"path": name, "ttl_seconds": ttl_seconds, "type": "save_weights"}
        return self._call("/api/v1/save_weights", _without_none(body), lambda b: b["path"])

    def load_state(self, path: str, optimizer: bool = True) -> APIFuture[str]:
        body = {"path": path, "optimizer": optimizer, "type": "load_weights"}
        return self._call("/api/v1/load_weights", body, lambda b: b.get("path", path))

    def save_weights_for_sampler(self, name: Optional[str] = None, ttl_seconds: Optional[int] = None) -> APIFuture[str]:
        body = {"path": name, "ttl_seconds": ttl_seconds, "type": "save_weights_for_sampler"}
        return self._call("/api/v1/save_weights_for_sampler", _without_none(body), lambda b: b["path"])

    def save_weights_and_get_sampling_client(self, name: Optional[str] = None) -> "SamplingClient":
        path = self.save_weights_for_sampler(name).result()
        return self.service.create_sampling_client(model_path=path)

    def adapter_diagnostics(self, top_k: Optional[int] = None, intruder_threshold: Optional[float] = None):
        """This run's adapter as it stands (every step whose result came back is in it):
        see ServiceClient.adapter_diagnostics."""
        return self.service.adapter_diagnostics(model_id=self.model_id, top_k=top_k, intruder_threshold=intruder_threshold)

    def get_info(self) -> dict:
        return self.http.request("POST", "/api/v1/get_info", {"model_id": self.model_id, "type": "get_info"})

    def get_tokenizer(self):
        """The tokenizer of this run's base model, fetched from the server."""
        return get_tokenizer(self.http, self.base_model)


class SamplingClient:
    """Samples from a saved adapter or the base model."""

    def __init__(self, http: Http, sampling_session_id: str):
        self.http = http
        self.sampling_session_id = sampling_session_id
        self._seq = 0
        self._lock = threading.Lock()

    def sample(
        self,
        prompt: Union[ModelInput, list[int]],
        num_samples: int = 1,
        sampling_params: Optional[SamplingParams] = None,
        include_prompt_logprobs: bool = False,
        topk_prompt_logprobs: int = 0,
    ) -> APIFuture[SampleResponse]:
        if num_samples < 1:
            raise ValueError("num_samples must be at least 1")
        if isinstance(prompt, list):
            prompt = ModelInput.from_ints(prompt)
        with self._lock:
            body = {
                "prompt": _dump(prompt),
                "num_samples": num_samples,
                "sampling_params": _dump(sampling_params or SamplingParams()),
                "prompt_logprobs": include_prompt_logprobs,
                "topk_prompt_logprobs": topk_prompt_logprobs,
                "sampling_session_id": self.sampling_session_id,
                "seq_id": self._seq,
                "type": "sample",
            }
            self._seq += 1
            accepted = self.http.request("POST", "/api/v1/asample", body)
        return APIFuture(self.http, accepted["request_id"], SampleResponse.model_validate)

    def get_tokenizer(self):
        """The tokenizer of the model this client samples (its base model's)."""
        sampler = self.http.request("GET", f"/api/v1/samplers/{urllib.parse.quote(self.sampling_session_id, safe='')}")
        return get_tokenizer(self.http, sampler["base_model"])

    def compute_logprobs(self, prompt: Union[ModelInput, list[int]]) -> APIFuture[list[Optional[float]]]:
        """The logprob of every prompt token given the ones before it (None for the first)."""
        fut = self.sample(prompt, 1, SamplingParams(max_tokens=1), include_prompt_logprobs=True)
        return APIFuture(self.http, fut.request_id, lambda b: SampleResponse.model_validate(b).prompt_logprobs)


class RestClient:
    """Training runs and checkpoints of the caller's tenant."""

    def __init__(self, http: Http):
        self.http = http

    def list_training_runs(self, limit: int = 100, offset: int = 0) -> dict:
        return self.http.request("GET", "/api/v1/training_runs", params={"limit": limit, "offset": offset})

    def get_training_run(self, run_id: str) -> dict:
        return self.http.request("GET", f"/api/v1/training_runs/{_q(run_id)}")

    def list_checkpoints(self, run_id: str) -> CheckpointsListResponse:
        body = self.http.request("GET", f"/api/v1/training_runs/{_q(run_id)}/checkpoints")
        return CheckpointsListResponse.model_validate(body)

    def delete_checkpoint(self, path: str) -> None:
        self.http.request("DELETE", _checkpoint(path))

    def set_checkpoint_ttl(self, path: str, ttl_seconds: Optional[int]) -> None:
        self.http.request("PUT", _checkpoint(path) + "/ttl", {"ttl_seconds": ttl_seconds})

    def publish_checkpoint(self, path: str) -> None:
        self.http.request("POST", _checkpoint(path) + "/publish")

    def unpublish_checkpoint(self, path: str) -> None:
        self.http.request("DELETE", _checkpoint(path) + "/publish")

    def download_checkpoint_archive(self, path: str) -> bytes:
        """A tar of the checkpoint's PEFT files."""
        return self._download(_checkpoint(path) + "/archive")

    def merged_export(self, path: str) -> APIFuture[dict]:
        """Merges the checkpoint into its base model (a Lathe extension): a future of
        ``{model_path, files, size_bytes}``; the model is kept with the checkpoint (its bytes count
        in the checkpoint's size) until the checkpoint is deleted or overwritten."""
        _checkpoint(path)  # checked before sending
        body = {"model_path": path, "type": "merged_export"}
        accepted = self.http.request("POST", "/api/v1/merged_export", body)
        return APIFuture(self.http, accepted["request_id"], lambda b: b)

    def download_merged_archive(self, path: str) -> bytes:
        """A tar of the checkpoint's merged export: a plain Hugging Face model directory
        (``config.json``, ``model.safetensors``, the tokenizer's files)."""
        return self._download(_checkpoint(path) + "/merged_archive")

    def _download(self, link: str) -> bytes:
        url = self.http.request("GET", link)["url"]
        import httpx

        r = httpx.get(url, timeout=600)
        r.raise_for_status()
        return r.content


def _scalar(v) -> float:
    """A metric as a float: torch tensors are detached first."""
    return float(v.detach()) if hasattr(v, "detach") else float(v)


def _q(s: str) -> str:
    return urllib.parse.quote(s, safe="")


def _checkpoint(path: str) -> str:
    prefix = "tinker://"
    if not path.startswith(prefix) or path.count("/") < 4:
        raise ValueError(f"path must look like tinker://<run>/<weights|sampler_weights>/<name>, got {path!r}")
    run, kind, name = path[len(prefix) :].split("/", 2)
    return f"/api/v1/training_runs/{_q(run)}/checkpoints/{_q(kind)}/{_q(name)}"


def _without_none(body: dict) -> dict:
    return {k: v for k, v in body.items() if v is not None}


def _merge_outputs(outputs: list[ForwardBackwardOutput]) -> ForwardBackwardOutput:
    """Joins the chunks of one call: sums add up, means are weighted by each chunk's tokens."""
    metrics: dict[str, float] = {}
    total = 0
    for o in outputs:
        tokens = sum(len(x["logprobs"].data) for x in o.loss_fn_outputs)
        total += tokens
        for k, v in o.metrics.items():
            if k.endswith(":sum"):
                metrics[k] = metrics.get(k, 0.0) + v
            elif k.endswith(":mean"):
                metrics[k] = metrics.get(k, 0.0) + v * tokens
            else:
                metrics[k] = v
    for k in metrics:
        if k.endswith(":mean"):
            metrics[k] /= max(total, 1)
    return ForwardBackwardOutput(
        loss_fn_output_type=outputs[0].loss_fn_output_type,
        loss_fn_outputs=[x for o in outputs for x in o.loss_fn_outputs],
        metrics=metrics,
    )
