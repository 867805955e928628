"""Writes the fixtures of the current official tinker SDK (protobuf forward_backward) for web-contracts.

Requests are built with the SDK's own classes and written exactly as it puts them on the wire:
JSON bodies as its resources dump them, and forward/forward_backward as the protobuf bytes of
tinker.proto.request_conv (beside each, `<name>.expected.json` holds the same call in Lathe's JSON
protocol, written here from the SDK's objects, for the Java decoder to be compared against).

    pip install tinker==0.38.0
    python web-contracts/src/test/python/make_tinker_current_fixtures.py

Responses go the other way: `responses/<name>.json` are results in Lathe's JSON protocol;
TinkerCurrentFixturesTest encodes each as protobuf into target/tinker-out-current, and
test_java_proto_responses.py reads those bytes with the SDK's own decoder. The output is
committed; the build only reads it.
"""

import json
import pathlib

import tinker
from tinker import types
from tinker._compat import model_dump
from tinker.proto.request_conv import forward_backward_request_to_proto
from tinker.types.futures_retrieve_request import FuturesRetrieveRequest, SamplingSessionFuturesTarget

OUT = pathlib.Path(__file__).resolve().parents[1] / "resources" / "tinker-current"
SDK_VERSION = tinker.__version__


def write(kind, name, payload):
    path = OUT / kind / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(payload, bytes):
        path.write_bytes(payload)
    else:
        path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def tokens(*ids):
    return types.ModelInput.from_ints(list(ids))


def sft_datum():
    return types.Datum(
        model_input=tokens(1, 2, 3, 4),
        loss_fn_inputs={"target_tokens": [2, 3, 4, 5], "weights": [0.0, 1.0, 1.0, 0.5]},
    )


def rl_datum():
    return types.Datum(
        model_input=types.ModelInput(
            chunks=[types.EncodedTextChunk(tokens=[7, 8]), types.EncodedTextChunk(tokens=[9])]
        ),
        loss_fn_inputs={
            "target_tokens": [8, 9, 10],
            "logprobs": [-1.25, -0.5, -2.0],
            "advantages": [0.5, 0.5, -1.0],
        },
    )


def sparse_datum():
    weights = types.TensorData(
        data=[1.0, 0.5],
        dtype="float32",
        shape=[2, 3],
        sparse_crow_indices=[0, 1, 2],
        sparse_col_indices=[2, 0],
    )
    targets = types.TensorData(data=[3, 4, 5, 6, 7, 8], dtype="int64", shape=[2, 3])
    return types.Datum(model_input=tokens(1, 2, 3), loss_fn_inputs={"target_tokens": targets, "weights": weights})


def json_tensor(td):
    out = {"data": [float(x) if td.dtype == "float32" else int(x) for x in td.data], "dtype": td.dtype}
    if td.shape is not None:
        out["shape"] = list(td.shape)
    if td.sparse_crow_indices is not None:
        out["sparse_crow_indices"] = list(td.sparse_crow_indices)
        out["sparse_col_indices"] = list(td.sparse_col_indices)
    return out


def json_datum(datum):
    return {
        "model_input": {
            "chunks": [{"type": "encoded_text", "tokens": list(c.tokens)} for c in datum.model_input.chunks]
        },
        "loss_fn_inputs": {k: json_tensor(v) for k, v in datum.loss_fn_inputs.items()},
    }


def forward_backward(name, data, loss_fn, seq_id, forward_only=False, loss_fn_config=None):
    request = types.ForwardBackwardRequest(
        forward_backward_input=types.ForwardBackwardInput(data=data, loss_fn=loss_fn, loss_fn_config=loss_fn_config),
        model_id="run-1",
        seq_id=seq_id,
    )
    msg = forward_backward_request_to_proto(request)
    msg.forward_only = forward_only
    write("requests", name + ".pb", msg.SerializeToString())
    field = "forward_input" if forward_only else "forward_backward_input"
    fbi = {"data": [json_datum(d) for d in data], "loss_fn": loss_fn}
    if loss_fn_config is not None:
        fbi["loss_fn_config"] = loss_fn_config
    write("requests", name + ".expected.json", {"model_id": "run-1", "seq_id": seq_id, field: fbi})


def json_requests():
    yield "client_config", types.ClientConfigRequest(sdk_version=SDK_VERSION)
    yield "create_session", types.CreateSessionRequest(
        tags=["sft"], user_metadata={"owner": "ada"}, sdk_version=SDK_VERSION, display_name="demo run"
    )
    yield "create_model", types.CreateModelRequest(
        session_id="sess-1", model_seq_id=0, base_model="lathe-tiny", lora_config=types.LoraConfig(rank=32)
    )
    yield "optim_step", types.OptimStepRequest(
        optim_params=types.AdamParams(learning_rate=3e-4, grad_clip_norm=1.0), model_id="run-1", seq_id=6
    )
    yield "save_weights", types.SaveWeightsRequest(model_id="run-1", path="step-10", seq_id=7, ttl_seconds=3600)
    yield "save_weights_for_sampler", types.SaveWeightsForSamplerRequest(
        model_id="run-1", sampling_session_seq_id=2, seq_id=9
    )
    yield "load_weights", types.LoadWeightsRequest(
        model_id="run-1", seq_id=10, path="tinker://run-0/weights/step-10", optimizer=True
    )
    yield "create_sampling_session", types.CreateSamplingSessionRequest(
        session_id="sess-1", sampling_session_seq_id=1, model_path="tinker://run-1/sampler_weights/s"
    )
    yield "sample", types.SampleRequest(
        num_samples=2,
        prompt=tokens(5, 6),
        sampling_params=types.SamplingParams(max_tokens=16, seed=42, stop=["\n"], temperature=0.7),
        sampling_session_id="samp-1",
        seq_id=3,
        prompt_logprobs=True,
        topk_prompt_logprobs=3,
        topk_sample_logprobs=2,
    )
    yield "retrieve_future", types.FutureRetrieveRequest(request_id="req-1", allow_metadata_only=True)
    yield "retrieve_futures", FuturesRetrieveRequest(
        target=SamplingSessionFuturesTarget(sampling_session_id="samp-1"), prev_cursor=0
    )


def responses():
    """Results in Lathe's JSON protocol that Lathe sends this SDK as protobuf; the SDK's own
    decoder reads our encoding of each in test_java_proto_responses.py."""
    yield "forward_backward", {
        "loss_fn_output_type": "ArrayRecord",
        "loss_fn_outputs": [
            {"logprobs": {"data": [-1.5, -0.25, -3.0], "dtype": "float32", "shape": [3]}},
            {"logprobs": {"data": [-0.75], "dtype": "float32", "shape": [1]}},
        ],
        "metrics": {"loss:sum": 5.5},
    }
    # Outputs whose trailing shape changes between datums travel as several records.
    yield "forward_backward_ragged", {
        "loss_fn_output_type": "ArrayRecord",
        "loss_fn_outputs": [
            {"scores": {"data": [1.0, 2.0, 3.0, 4.0], "dtype": "float32", "shape": [2, 2]},
             "ids": {"data": [7, 8], "dtype": "int64", "shape": [2]}},
            {"scores": {"data": [5.0, 6.0, 7.0], "dtype": "float32", "shape": [1, 3]},
             "ids": {"data": [9], "dtype": "int64", "shape": [1]}},
            {"scores": {"data": [8.0, 9.0, 10.0], "dtype": "float32", "shape": [1, 3]},
             "ids": {"data": [10], "dtype": "int64", "shape": [1]}},
        ],
        "metrics": {"loss:sum": 1.25, "tokens:sum": 4.0},
    }
    yield "forward_backward_empty", {"loss_fn_output_type": "ArrayRecord", "loss_fn_outputs": [], "metrics": {}}
    yield "sample", {
        "sequences": [
            {"stop_reason": "stop", "tokens": [4, 5, 10], "logprobs": [-0.5, -1.0, -0.25],
             "topk_logprobs": [[[4, -0.5], [6, -1.5]], [[5, -1.0], [1, -1.25]], [[10, -0.25]]]},
            {"stop_reason": "length", "tokens": [6, 7], "logprobs": [-2.0, -0.125]},
        ],
        "prompt_logprobs": [None, -1.5, -0.75],
        "topk_prompt_logprobs": [None, [[2, -0.5], [9, -1.5]], [[3, -0.25], [4, -2.5]]],
        "prompt_cache_hit_tokens": 0,
        "type": "sample",
    }
    yield "sample_plain", {
        "sequences": [{"stop_reason": "length", "tokens": [1], "logprobs": [-0.5]}],
        "prompt_cache_hit_tokens": 0,
        "type": "sample",
    }


def main():
    for name, request in json_requests():
        write("requests", name + ".json", model_dump(request, exclude_unset=False, exclude_none=True, mode="json"))
    forward_backward("forward_backward_cross_entropy", [sft_datum(), sft_datum()], "cross_entropy", 1)
    forward_backward(
        "forward_backward_ppo",
        [rl_datum()],
        "ppo",
        2,
        loss_fn_config={"clip_low_threshold": 0.8, "clip_high_threshold": 1.2},
    )
    forward_backward("forward_sparse", [sparse_datum()], "cross_entropy", 4, forward_only=True)
    for name, response in responses():
        write("responses", name + ".json", response)
    (OUT / "SDK_VERSION").write_text(SDK_VERSION + "\n")
    print(f"wrote fixtures of tinker {SDK_VERSION} to {OUT}")


if __name__ == "__main__":
    main()
