"""Property-based fuzzing of every endpoint of the OpenAPI spec (schemathesis, in .venv-fuzz: its
dependencies stay out of the SDK's venv), a bounded, seeded run against the jar with a tenant key
and with the admin key: no 5xx, no hang (a request over 30 s fails the run), every 4xx a
problem+json with a detail, every 400 naming its field (fuzz/lathe_checks.py)."""

import os
import pathlib
import subprocess

import pytest

from conftest import ADMIN_KEY, running

ROOT = pathlib.Path(__file__).resolve().parents[3]
SCHEMATHESIS = ROOT / ".venv-fuzz" / "bin" / "schemathesis"


@pytest.fixture(scope="module")
def target():
    assert SCHEMATHESIS.is_file(), f"{SCHEMATHESIS} is missing: ./test.sh installs requirements-fuzz.txt there"
    with running() as server:  # its own: the fuzzer leaves tenants and sessions behind
        yield server


@pytest.mark.parametrize("who", ["tenant", "admin"])
def test_fuzzing_every_endpoint_finds_no_server_error_and_only_problem_details(target, who, tmp_path):
    key = target.new_api_key("fuzz") if who == "tenant" else ADMIN_KEY
    env = dict(os.environ, SCHEMATHESIS_HOOKS="lathe_checks", PYTHONPATH=str(pathlib.Path(__file__).parent / "fuzz"))
    run = subprocess.run(
        [str(SCHEMATHESIS), "run", target.base_url + "/v3/api-docs", "--header", f"X-API-Key: {key}",
         "--checks", "not_a_server_error,problem_details", "--max-examples", "25", "--seed", "1",
         "--request-timeout", "30", "--no-color", "--report", "junit", "--report-dir", str(tmp_path)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900,
    )
    summary = run.stdout[run.stdout.rfind("SUMMARY"):]
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    assert "passed" in summary and "failures" not in summary, summary
