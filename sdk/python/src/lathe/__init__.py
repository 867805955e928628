"""Python SDK for Lathe: keep your training loop, run forward_backward, optim_step, sample and
save_state on a Lathe server. Shaped like the tinker SDK."""

from ._http import APIFuture, APIStatusError, LatheError, RequestFailedError
from .client import RestClient, SamplingClient, ServiceClient, TrainingClient
from .types import (
    AdamParams,
    Datum,
    EncodedTextChunk,
    ForwardBackwardOutput,
    LoraConfig,
    ModelInput,
    OptimStepResponse,
    SampledSequence,
    SampleResponse,
    SamplingParams,
    TensorData,
)

__all__ = [
    "APIFuture",
    "APIStatusError",
    "AdamParams",
    "Datum",
    "EncodedTextChunk",
    "ForwardBackwardOutput",
    "LatheError",
    "LoraConfig",
    "ModelInput",
    "OptimStepResponse",
    "RequestFailedError",
    "RestClient",
    "SampledSequence",
    "SampleResponse",
    "SamplingClient",
    "SamplingParams",
    "ServiceClient",
    "TensorData",
    "TrainingClient",
]
