"""Every example in examples/python runs to completion against the real server and shows that it
learned (each exits non-zero when its loss or reward did not move as it should); the SFT example
on the real SmolLM2-135M-Instruct."""

import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[3] / "examples" / "python"


def run(name, server, key, cache):
    env = dict(os.environ, LATHE_API_KEY=key, LATHE_BASE_URL=server.base_url, LATHE_CACHE=str(cache))
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], env=env, capture_output=True, text=True, timeout=300
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "step   1" in done.stdout
    return done.stdout


def test_sft_teaches_the_real_model_a_fact(smollm2_server, smollm2_key, tmp_path):
    out = run("sft.py", smollm2_server, smollm2_key, tmp_path)
    assert "(not trained on)" in out and "the fine-tuned model knows the fact" in out


@pytest.mark.parametrize("name", ["rl.py", "custom_loss.py"])
def test_example_runs_and_learns(server, api_key, name, tmp_path):
    run(name, server, api_key, tmp_path)
