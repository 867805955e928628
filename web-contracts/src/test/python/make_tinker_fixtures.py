"""Writes the wire-compatibility fixtures of web-contracts with the official tinker SDK.

Each request is built with the SDK's own classes and dumped exactly as the SDK puts it on the
wire (model_dump with exclude_none, through the SDK's pydantic mirrors where it has them).
Each response is built with the SDK's response classes, as a server would send it.

    pip install tinker==0.24.1
    python web-contracts/src/test/python/make_tinker_fixtures.py

The output is committed; the build only reads it.
"""

import base64
import datetime as dt
import json
import pathlib

import tinker
from tinker import types
from tinker._compat import model_dump
from tinker.lib._pydantic_conv import to_pydantic_request
from tinker.types._pydantic_types.forward_backward_output import (
    ForwardBackwardOutput as WireForwardBackwardOutput,
)
from tinker.types._pydantic_types.sample_response import SampleResponse as WireSampleResponse
from tinker.types._pydantic_types.sampled_sequence import SampledSequence as WireSampledSequence
from tinker.types._pydantic_types.tensor_data import TensorData as WireTensorData
from tinker.types.telemetry_send_request import TelemetrySendRequest
from tinker.types.generic_event import GenericEvent
from tinker.types.request_failed_response import RequestFailedResponse
from tinker.types.try_again_response import TryAgainResponse

OUT = pathlib.Path(__file__).resolve().parents[1] / "resources" / "tinker"
SDK_VERSION = tinker.__version__


def wire(request):
    """The request body exactly as the SDK sends it."""
    if isinstance(request, (types.ForwardBackwardRequest, types.ForwardRequest)):
        request = to_pydantic_request(request)
    return model_dump(request, exclude_unset=False, exclude_none=True, mode="json")


def body(response):
    return model_dump(response, exclude_none=True, mode="json")


def write(kind, name, payload):
    path = OUT / kind / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def tokens(*ids):
    return types.ModelInput.from_ints(list(ids))


def sft_datum():
    return types.Datum(
        model_input=tokens(1, 2, 3, 4),
        loss_fn_inputs={"target_tokens": [2, 3, 4, 5], "weights": [0.0, 1.0, 1.0, 1.0]},
    )


def rl_datum():
    return types.Datum(
        model_input=tokens(7, 8, 9),
        loss_fn_inputs={
            "target_tokens": [8, 9, 10],
            "logprobs": [-1.25, -0.5, -2.0],
            "advantages": [0.5, 0.5, -1.0],
        },
    )


def sparse_datum():
    # A 2-D weights tensor in CSR form, as the SDK sends it for mostly-zero torch tensors.
    weights = types.TensorData(
        data=[1.0, 0.5],
        dtype="float32",
        shape=[2, 3],
        sparse_crow_indices=[0, 1, 2],
        sparse_col_indices=[2, 0],
    )
    targets = types.TensorData(data=[3, 4, 5, 6, 7, 8], dtype="int64", shape=[2, 3])
    return types.Datum(
        model_input=tokens(1, 2, 3),
        loss_fn_inputs={"target_tokens": targets, "weights": weights},
    )


def requests():
    yield "client_config", types.ClientConfigRequest(sdk_version=SDK_VERSION)
    yield "create_session", types.CreateSessionRequest(
        tags=["sft", "demo"], user_metadata={"owner": "ada", "n": 3}, sdk_version=SDK_VERSION
    )
    yield "create_session_minimal", types.CreateSessionRequest(
        tags=[], user_metadata=None, sdk_version=SDK_VERSION, project_id="proj-1"
    )
    yield "session_heartbeat", types.SessionHeartbeatRequest(session_id="sess-1")
    yield "create_model", types.CreateModelRequest(
        session_id="sess-1",
        model_seq_id=0,
        base_model="lathe-tiny",
        lora_config=types.LoraConfig(rank=32),
    )
    yield "create_model_full", types.CreateModelRequest(
        session_id="sess-1",
        model_seq_id=3,
        base_model="lathe-tiny",
        user_metadata={"run": "b"},
        lora_config=types.LoraConfig(
            rank=8, seed=1234, train_unembed=False, train_mlp=True, train_attn=False
        ),
    )
    yield "get_info", types.GetInfoRequest(model_id="run-1")
    yield "unload_model", types.UnloadModelRequest(model_id="run-1")
    yield "forward", types.ForwardRequest(
        forward_input=types.ForwardBackwardInput(data=[sft_datum()], loss_fn="cross_entropy"),
        model_id="run-1",
        seq_id=4,
    )
    yield "forward_backward_cross_entropy", types.ForwardBackwardRequest(
        forward_backward_input=types.ForwardBackwardInput(
            data=[sft_datum(), sft_datum()], loss_fn="cross_entropy"
        ),
        model_id="run-1",
        seq_id=1,
    )
    yield "forward_backward_ppo", types.ForwardBackwardRequest(
        forward_backward_input=types.ForwardBackwardInput(
            data=[rl_datum()],
            loss_fn="ppo",
            loss_fn_config={"clip_low_threshold": 0.8, "clip_high_threshold": 1.2},
        ),
        model_id="run-1",
        seq_id=2,
    )
    yield "forward_backward_sparse", types.ForwardBackwardRequest(
        forward_backward_input=types.ForwardBackwardInput(
            data=[sparse_datum()], loss_fn="cross_entropy"
        ),
        model_id="run-1",
        seq_id=3,
    )
    yield "optim_step_defaults", types.OptimStepRequest(
        adam_params=types.AdamParams(), model_id="run-1", seq_id=5
    )
    yield "optim_step", types.OptimStepRequest(
        adam_params=types.AdamParams(
            learning_rate=3e-4, beta1=0.8, beta2=0.99, eps=1e-8, weight_decay=0.01,
            grad_clip_norm=1.0,
        ),
        model_id="run-1",
        seq_id=6,
    )
    yield "save_weights", types.SaveWeightsRequest(
        model_id="run-1", path="step-10", seq_id=7, ttl_seconds=3600
    )
    yield "save_weights_for_sampler", types.SaveWeightsForSamplerRequest(
        model_id="run-1", path="sampler-10", seq_id=8
    )
    yield "save_weights_for_sampler_session", types.SaveWeightsForSamplerRequest(
        model_id="run-1", sampling_session_seq_id=2, seq_id=9
    )
    yield "load_weights", types.LoadWeightsRequest(
        model_id="run-1", seq_id=10, path="tinker://run-0/weights/step-10", optimizer=True
    )
    yield "create_sampling_session_base", types.CreateSamplingSessionRequest(
        session_id="sess-1", sampling_session_seq_id=0, base_model="lathe-tiny"
    )
    yield "create_sampling_session_path", types.CreateSamplingSessionRequest(
        session_id="sess-1",
        sampling_session_seq_id=1,
        model_path="tinker://run-1/sampler_weights/sampler-10",
    )
    yield "sample_defaults", types.SampleRequest(
        prompt=tokens(1, 2, 3),
        sampling_params=types.SamplingParams(),
        sampling_session_id="samp-1",
        seq_id=0,
    )
    yield "sample_stop_text", types.SampleRequest(
        num_samples=4,
        prompt=tokens(5, 6),
        sampling_params=types.SamplingParams(
            max_tokens=16, seed=42, stop="\n", temperature=0.7, top_k=50, top_p=0.9
        ),
        base_model="lathe-tiny",
        prompt_logprobs=True,
        topk_prompt_logprobs=3,
    )
    yield "sample_stop_texts", types.SampleRequest(
        prompt=tokens(5),
        sampling_params=types.SamplingParams(max_tokens=8, stop=["END", "\n\n"]),
        model_path="tinker://run-1/sampler_weights/sampler-10",
    )
    yield "sample_stop_tokens", types.SampleRequest(
        prompt=tokens(5),
        sampling_params=types.SamplingParams(max_tokens=8, stop=[10, 11], temperature=0.0),
        sampling_session_id="samp-1",
        seq_id=3,
    )
    yield "sample_image_chunk", types.SampleRequest(
        prompt=types.ModelInput(
            chunks=[
                types.EncodedTextChunk(tokens=[1]),
                types.ImageChunk(data=b"\x89PNG", format="png", expected_tokens=4),
            ]
        ),
        sampling_params=types.SamplingParams(max_tokens=1),
        base_model="lathe-tiny",
    )
    yield "retrieve_future", types.FutureRetrieveRequest(request_id="req-1")
    yield "telemetry", TelemetrySendRequest(
        events=[
            GenericEvent(
                event="GENERIC_EVENT",
                event_id="ev-1",
                event_name="demo",
                event_session_index=0,
                severity="INFO",
                timestamp=dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc),
                event_data={"k": 1},
            )
        ],
        platform="linux",
        sdk_version=SDK_VERSION,
        session_id="sess-1",
        process_uuid="proc-1",
    )


T0 = dt.datetime(2026, 11, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


def checkpoint(kind, name):
    return types.Checkpoint(
        checkpoint_id=f"{'weights' if kind == 'training' else 'sampler_weights'}/{name}",
        checkpoint_type=kind,
        time=T0,
        tinker_path=f"tinker://run-1/{'weights' if kind == 'training' else 'sampler_weights'}/{name}",
        size_bytes=123456,
        public=kind == "sampler",
        expires_at=T0 + dt.timedelta(days=1) if kind == "training" else None,
    )


def responses():
    yield "health", types.HealthResponse(status="ok")
    yield "server_capabilities", types.GetServerCapabilitiesResponse(
        supported_models=[types.SupportedModel(model_name="lathe-tiny", max_context_length=2048)]
    )
    yield "create_session", types.CreateSessionResponse(session_id="sess-1")
    yield "session_heartbeat", types.SessionHeartbeatResponse()
    yield "request_accepted", types.shared.UntypedAPIFuture(request_id="req-1", model_id="run-1")
    yield "try_again", TryAgainResponse(request_id="req-1", queue_state="active")
    yield "request_failed", RequestFailedResponse(
        error="target_tokens[3] = 70000 is not below the vocabulary size 256", category="user"
    )
    yield "create_model", types.CreateModelResponse(model_id="run-1")
    yield "get_info", types.GetInfoResponse(
        model_data=types.ModelData(arch="llama", model_name="lathe-tiny", tokenizer_id="lathe-tiny"),
        model_id="run-1",
        is_lora=True,
        lora_rank=32,
        model_name="lathe-tiny",
    )
    yield "unload_model", types.UnloadModelResponse(model_id="run-1", type="unload_model")
    yield "forward_backward", WireForwardBackwardOutput(
        loss_fn_output_type="ArrayRecord",
        loss_fn_outputs=[
            {"logprobs": WireTensorData(data=[-1.5, -0.25, -3.0], dtype="float32", shape=[3])},
            {"logprobs": WireTensorData(data=[-0.75], dtype="float32", shape=[1])},
        ],
        metrics={"loss:sum": 5.5},
    )
    yield "optim_step", types.OptimStepResponse(metrics={"grad_norm:mean": 0.75, "lr:mean": 1e-4})
    yield "save_weights", types.SaveWeightsResponse(
        path="tinker://run-1/weights/step-10", type="save_weights"
    )
    yield "save_weights_for_sampler", types.SaveWeightsForSamplerResponse(
        path="tinker://run-1/sampler_weights/sampler-10", type="save_weights_for_sampler"
    )
    yield "save_weights_for_sampler_session", types.SaveWeightsForSamplerResponseInternal(
        sampling_session_id="samp-2", type="save_weights_for_sampler"
    )
    yield "load_weights", types.LoadWeightsResponse(
        path="tinker://run-0/weights/step-10", model_id="run-1", type="load_weights"
    )
    yield "weights_info", types.WeightsInfoResponse(
        base_model="lathe-tiny", is_lora=True, lora_rank=32, train_unembed=True, train_mlp=True,
        train_attn=True,
    )
    yield "create_sampling_session", types.CreateSamplingSessionResponse(
        sampling_session_id="samp-1"
    )
    yield "sample", WireSampleResponse(
        sequences=[
            WireSampledSequence(stop_reason="stop", tokens=[4, 5, 10], logprobs=[-0.5, -1.0, -0.25]),
            WireSampledSequence(stop_reason="length", tokens=[6, 7], logprobs=[-2.0, -0.125]),
        ],
        prompt_logprobs=[None, -1.5, -0.75],
        topk_prompt_logprobs=[None, [(2, -0.5), (9, -1.5)], [(3, -0.25), (4, -2.5)]],
    )
    yield "get_sampler", types.GetSamplerResponse(
        sampler_id="samp-1", base_model="lathe-tiny",
        model_path="tinker://run-1/sampler_weights/sampler-10",
    )
    yield "list_sessions", types.ListSessionsResponse(sessions=["sess-2", "sess-1"])
    yield "get_session", types.GetSessionResponse(training_run_ids=["run-1"], sampler_ids=["samp-1"])
    yield "checkpoints_list", types.CheckpointsListResponse(
        checkpoints=[checkpoint("training", "step-10"), checkpoint("sampler", "sampler-10")],
        cursor=types.Cursor(offset=0, limit=100, total_count=2),
    )
    yield "training_runs", types.TrainingRunsResponse(
        training_runs=[
            types.TrainingRun(
                training_run_id="run-1",
                base_model="lathe-tiny",
                model_owner="tnt-1",
                is_lora=True,
                lora_rank=32,
                last_request_time=T0,
                last_checkpoint=checkpoint("training", "step-10"),
                last_sampler_checkpoint=checkpoint("sampler", "sampler-10"),
                user_metadata={"run": "a"},
            )
        ],
        cursor=types.Cursor(offset=0, limit=20, total_count=1),
    )
    yield "checkpoint_archive_url", types.CheckpointArchiveUrlResponse(
        url="http://localhost:8080/api/v1/archives/abc.tar", expires=T0
    )
    yield "telemetry", types.TelemetryResponse(status="accepted")


def main():
    for name, request in requests():
        write("requests", name, wire(request))
    for name, response in responses():
        write("responses", name, body(response))
    (OUT / "SDK_VERSION").write_text(SDK_VERSION + "\n")
    print(f"wrote fixtures of tinker {SDK_VERSION} to {OUT}")


if __name__ == "__main__":
    main()
