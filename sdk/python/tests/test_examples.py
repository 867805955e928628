"""Every example in examples/python runs to completion against the real server and shows that it
learned (each exits non-zero when its loss or reward did not move as it should)."""

import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[3] / "examples" / "python"


@pytest.mark.parametrize("name", ["sft.py", "rl.py", "custom_loss.py"])
def test_example_runs_and_learns(server, api_key, name):
    env = dict(os.environ, LATHE_API_KEY=api_key, LATHE_BASE_URL=server.base_url)
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], env=env, capture_output=True, text=True, timeout=120
    )
    print(run.stdout)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "step   1" in run.stdout
