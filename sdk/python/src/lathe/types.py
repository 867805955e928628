"""The wire types of Lathe's Tinker-compatible protocol, validated before anything is sent."""

from __future__ import annotations

import math
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Wire(BaseModel):
    # NaN and infinities are refused where they are typed as floats; unknown response fields are kept.
    model_config = ConfigDict(allow_inf_nan=False, extra="allow", populate_by_name=True)


class EncodedTextChunk(_Wire):
    type: Literal["encoded_text"] = "encoded_text"
    tokens: list[int] = Field(min_length=1)

    @field_validator("tokens")
    @classmethod
    def _non_negative(cls, tokens: list[int]) -> list[int]:
        for i, t in enumerate(tokens):
            if t < 0:
                raise ValueError(f"token {t} at {i} is negative")
        return tokens


class ModelInput(_Wire):
    chunks: list[EncodedTextChunk] = Field(min_length=1)

    @classmethod
    def from_ints(cls, tokens: list[int]) -> "ModelInput":
        return cls(chunks=[EncodedTextChunk(tokens=list(tokens))])

    def to_ints(self) -> list[int]:
        return [t for c in self.chunks for t in c.tokens]

    @property
    def length(self) -> int:
        return sum(len(c.tokens) for c in self.chunks)


class TensorData(_Wire):
    data: list[Union[int, float]]
    dtype: Literal["int64", "float32"]
    shape: Optional[list[int]] = None

    @classmethod
    def from_list(cls, values: list, dtype: Optional[str] = None) -> "TensorData":
        return cls.model_validate(cls._fields_of(values, dtype))

    @staticmethod
    def _fields_of(values, dtype: Optional[str] = None) -> dict:
        values = list(values)
        if dtype is None:
            ints = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
            dtype = "int64" if ints else "float32"
        return {"data": values, "dtype": dtype, "shape": [len(values)]}

    @model_validator(mode="after")
    def _check(self) -> "TensorData":
        for i, v in enumerate(self.data):
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"data[{i}] is {v}; values must be finite")
        if self.shape is not None:
            n = math.prod(self.shape)
            if any(s < 0 for s in self.shape) or n != len(self.data):
                raise ValueError(f"shape {self.shape} does not hold {len(self.data)} values")
        return self

    def tolist(self) -> list:
        return list(self.data)


class Datum(_Wire):
    model_input: ModelInput
    loss_fn_inputs: dict[str, TensorData] = Field(default_factory=dict)

    @field_validator("loss_fn_inputs", mode="before")
    @classmethod
    def _lists_to_tensors(cls, inputs: Any) -> Any:
        if isinstance(inputs, dict):
            # Plain lists become tensors; errors then point at loss_fn_inputs.<name>.data.<i>.
            return {k: TensorData._fields_of(v) if isinstance(v, (list, tuple)) else v for k, v in inputs.items()}
        return inputs

    @model_validator(mode="after")
    def _lengths(self) -> "Datum":
        n = self.model_input.length
        for name, t in self.loss_fn_inputs.items():
            if len(t.data) != n:
                raise ValueError(f"loss_fn_inputs.{name} has {len(t.data)} values for {n} tokens")
        return self


LossFnType = Literal["cross_entropy", "importance_sampling", "ppo", "cispo", "dro"]


class AdamParams(_Wire):
    learning_rate: float = Field(default=1e-4, gt=0)
    beta1: float = Field(default=0.9, ge=0, lt=1)
    beta2: float = Field(default=0.95, ge=0, lt=1)
    eps: float = Field(default=1e-12, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    grad_clip_norm: float = Field(default=0.0, ge=0)


class LoraConfig(_Wire):
    rank: int = Field(default=32, ge=1)
    seed: Optional[int] = None
    train_attn: bool = True
    train_mlp: bool = True
    train_unembed: bool = True
    use_dora: bool = False


class SamplingParams(_Wire):
    max_tokens: Optional[int] = Field(default=None, ge=1)
    seed: Optional[int] = None
    stop: Union[str, list[str], list[int], None] = None
    temperature: float = Field(default=1.0, ge=0)
    top_k: int = -1
    top_p: float = Field(default=1.0, gt=0, le=1)


class ForwardBackwardOutput(_Wire):
    loss_fn_output_type: str = "ArrayRecord"
    loss_fn_outputs: list[dict[str, TensorData]]
    metrics: dict[str, float] = Field(default_factory=dict)


class OptimStepResponse(_Wire):
    metrics: Optional[dict[str, float]] = None


class SampledSequence(_Wire):
    stop_reason: Literal["stop", "length"]
    tokens: list[int]
    logprobs: Optional[list[float]] = None


class SampleResponse(_Wire):
    sequences: list[SampledSequence]
    prompt_logprobs: Optional[list[Optional[float]]] = None
    topk_prompt_logprobs: Optional[list[Optional[list[tuple[int, float]]]]] = None


class Checkpoint(_Wire):
    checkpoint_id: str
    checkpoint_type: Literal["training", "sampler"]
    tinker_path: str
    time: str
    size_bytes: Optional[int] = None
    public: bool = False
    expires_at: Optional[str] = None


class Cursor(_Wire):
    offset: int
    limit: int
    total_count: int


class CheckpointsListResponse(_Wire):
    checkpoints: list[Checkpoint]
    cursor: Optional[Cursor] = None
