"""Our protobuf encoding of every result parses in the current official tinker SDK (0.38.0).

TinkerCurrentFixturesTest (mvn verify) encodes each result of resources/tinker-current/responses
(Lathe's JSON protocol) into web-contracts/target/tinker-out-current/responses/*.pb; each is read
here with the SDK's own decoder and compared with the JSON it was encoded from.
"""

import json
import math
import pathlib

import pytest
import tinker
from tinker.proto.response_conv import deserialize_proto_response
from tinker.types import ForwardBackwardOutput, SampleResponse

HERE = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = HERE / "resources" / "tinker-current" / "responses"
OURS = HERE.parents[1] / "target" / "tinker-out-current" / "responses"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.json"))


def test_sdk_is_the_current_one():
    assert tinker.__version__ == "0.38.0"
    assert (FIXTURES.parent / "SDK_VERSION").read_text().strip() == tinker.__version__


def test_java_wrote_every_result():
    assert OURS.is_dir(), "run `mvn verify` first: it writes our encodings there"
    assert sorted(p.stem for p in OURS.glob("*.pb")) == NAMES


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)


def pairs(rows):
    return None if rows is None else [None if r is None else [(t, lp) for t, lp in r] for r in rows]


def same_pairs(ours, expected):
    assert (ours is None) == (expected is None)
    if ours is None:
        return
    assert len(ours) == len(expected)
    for row, want in zip(ours, expected, strict=True):
        assert (row is None) == (want is None)
        if row is not None:
            assert [t for t, _ in row] == [t for t, _ in want]
            assert all(close(lp, w) for (_, lp), (_, w) in zip(row, want, strict=True))


@pytest.mark.parametrize("name", NAMES)
def test_sdk_reads_our_protobuf_result(name):
    expected = json.loads((FIXTURES / f"{name}.json").read_text())
    data = (OURS / f"{name}.pb").read_bytes()
    if name.startswith("sample"):
        ours = deserialize_proto_response(data, SampleResponse)
        assert len(ours.sequences) == len(expected["sequences"])
        for seq, want in zip(ours.sequences, expected["sequences"], strict=True):
            assert seq.stop_reason == want["stop_reason"]
            assert seq.tokens == want["tokens"]
            assert all(close(a, b) for a, b in zip(seq.logprobs, want["logprobs"], strict=True))
            same_pairs(seq.topk_logprobs, pairs(want.get("topk_logprobs")))
        want_prompt = expected.get("prompt_logprobs")
        assert (ours.prompt_logprobs is None) == (want_prompt is None)
        if want_prompt is not None:
            assert all(close(a, b) for a, b in zip(ours.prompt_logprobs, want_prompt, strict=True))
        same_pairs(ours.topk_prompt_logprobs, pairs(expected.get("topk_prompt_logprobs")))
        assert ours.prompt_cache_hit_tokens == expected["prompt_cache_hit_tokens"]
    else:
        ours = deserialize_proto_response(data, ForwardBackwardOutput)
        assert ours.loss_fn_output_type == expected["loss_fn_output_type"]
        assert ours.metrics == pytest.approx(expected["metrics"])
        assert len(ours.loss_fn_outputs) == len(expected["loss_fn_outputs"])
        for out, want in zip(ours.loss_fn_outputs, expected["loss_fn_outputs"], strict=True):
            assert sorted(out) == sorted(want)
            for key, tensor in want.items():
                assert out[key].dtype == tensor["dtype"]
                assert out[key].shape == tensor["shape"]
                assert out[key].to_numpy().ravel().tolist() == pytest.approx(tensor["data"])
