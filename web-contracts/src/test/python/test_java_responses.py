"""Our Java serialisation of every response parses in the official tinker SDK.

TinkerFixturesTest (mvn verify) writes web-contracts/target/tinker-out/responses/*.json; each is
read here through the SDK's own response path and compared with the SDK-built fixture.
"""

import json
import pathlib

import pytest
from tinker import types
from tinker.lib._pydantic_conv import deserialize_json_response
from tinker.types.request_failed_response import RequestFailedResponse
from tinker.types.try_again_response import TryAgainResponse

HERE = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = HERE / "resources" / "tinker" / "responses"
OURS = HERE.parents[1] / "target" / "tinker-out" / "responses"

SDK_TYPES = {
    "health": types.HealthResponse,
    "server_capabilities": types.GetServerCapabilitiesResponse,
    "create_session": types.CreateSessionResponse,
    "session_heartbeat": types.SessionHeartbeatResponse,
    "request_accepted": types.shared.UntypedAPIFuture,
    "try_again": TryAgainResponse,
    "request_failed": RequestFailedResponse,
    "create_model": types.CreateModelResponse,
    "get_info": types.GetInfoResponse,
    "unload_model": types.UnloadModelResponse,
    "forward_backward": types.ForwardBackwardOutput,
    "optim_step": types.OptimStepResponse,
    "save_weights": types.SaveWeightsResponse,
    "save_weights_for_sampler": types.SaveWeightsForSamplerResponse,
    "save_weights_for_sampler_session": types.SaveWeightsForSamplerResponseInternal,
    "load_weights": types.LoadWeightsResponse,
    "weights_info": types.WeightsInfoResponse,
    "create_sampling_session": types.CreateSamplingSessionResponse,
    "sample": types.SampleResponse,
    "get_sampler": types.GetSamplerResponse,
    "list_sessions": types.ListSessionsResponse,
    "get_session": types.GetSessionResponse,
    "checkpoints_list": types.CheckpointsListResponse,
    "training_runs": types.TrainingRunsResponse,
    "checkpoint_archive_url": types.CheckpointArchiveUrlResponse,
    "telemetry": types.TelemetryResponse,
}


def parse(path, sdk_type):
    return deserialize_json_response(json.loads(path.read_text()), sdk_type)


def comparable(value):
    if isinstance(value, types.ForwardBackwardOutput):
        return (
            value.loss_fn_output_type,
            [{k: (t.dtype, t.shape, t.data) for k, t in o.items()} for o in value.loss_fn_outputs],
            value.metrics,
        )
    if isinstance(value, types.SampleResponse):
        return (
            [(s.stop_reason, s.tokens, s.logprobs) for s in value.sequences],
            value.prompt_logprobs,
            value.topk_prompt_logprobs,
            value.prompt_cache_hit_tokens,
        )
    return value


def test_java_wrote_every_response():
    assert OURS.is_dir(), "run `mvn verify` first: it writes our serialisations there"
    written = {p.stem for p in OURS.glob("*.json")}
    assert written == set(SDK_TYPES) | {"client_config"}


@pytest.mark.parametrize("name", sorted(SDK_TYPES))
def test_sdk_reads_our_response(name):
    sdk_type = SDK_TYPES[name]
    ours = parse(OURS / f"{name}.json", sdk_type)
    reference = parse(FIXTURES / f"{name}.json", sdk_type)
    assert comparable(ours) == comparable(reference)


def test_client_config_keeps_the_sdk_on_json():
    config = types.ClientConfigResponse.model_validate_json((OURS / "client_config.json").read_text())
    assert config.proto_write_fwdbwd is False
    assert config.pjwt_auth_enabled is False
    assert config.create_model_via_load_weights is False
