"""Disk faults: the adapter store is a real filesystem of its own (a small tmpfs mounted over
<data>/adapters) that is filled to the last byte, or remounted read-only, while a run trains and
saves. save_state and save_weights_for_sampler fail with the store's reason, the checkpoints saved
before stay listed, loadable and unchanged, nothing half-written is left behind, and training goes
on; snapshots that could not be written are recovered by replay after a kill -9, so the run ends
bit for bit where an uninterrupted one does.

Mounting needs root (CAP_SYS_ADMIN), as CI has; elsewhere the module is skipped, and says why."""

import contextlib
import errno
import os
import pathlib
import subprocess
import time

import numpy as np
import pytest

import lathe
from conftest import _free_port, running
from test_reliability import STEPS, LatheLoop, tensors

STORE_BYTES = 48 << 20


def _can_mount():
    if os.geteuid() != 0:
        return False
    probe = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", "/mnt"], capture_output=True)
    if probe.returncode != 0:
        return False
    subprocess.run(["umount", "/mnt"], check=True)
    return True


pytestmark = pytest.mark.skipif(not _can_mount(), reason="mounting a tmpfs adapter store needs root")


@contextlib.contextmanager
def store_filesystem(data):
    store = data / "adapters"
    store.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={STORE_BYTES}", "tmpfs", str(store)], check=True)
    try:
        yield store
    finally:
        subprocess.run(["umount", "-l", str(store)], check=True)


@contextlib.contextmanager
def full(store):
    """The store's filesystem filled to the last byte until the block ends."""
    filler = store / "filler"
    with open(filler, "wb") as f:
        chunk = b"\0" * (1 << 20)
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC
    try:
        yield
    finally:
        filler.unlink()


@contextlib.contextmanager
def read_only(store):
    # Busy while a process holds a file there open for writing (a snapshot the server writes after
    # the last step, say) or mapped, deleted ones included: tried again until such writes are done.
    deadline = time.monotonic() + 30
    while (r := subprocess.run(["mount", "-o", "remount,ro", str(store)], capture_output=True, text=True)).returncode:
        assert time.monotonic() < deadline, r.stderr + "\n".join(holders(store))
        time.sleep(0.2)
    try:
        yield
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(store)], check=True)


def holders(store):
    found = set()
    for maps in pathlib.Path("/proc").glob("[0-9]*/maps"):
        with contextlib.suppress(OSError):
            found |= {line.split(None, 5)[-1].strip() for line in maps.open() if str(store) in line}
    for fd in pathlib.Path("/proc").glob("[0-9]*/fd/*"):
        with contextlib.suppress(OSError):
            if str(store) in os.readlink(fd):
                found.add(os.readlink(fd))
    return sorted(found)


def half_written(store):
    """What a write that failed left behind: staging directories and temporary files."""
    return sorted(str(p.relative_to(store)) for p in store.rglob("*") if p.name.startswith("~") or p.suffix == ".tmp")


def eventually(condition, timeout):
    """Whether `condition()` holds within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def nothing_half_written(store):
    """No staging directory or temporary file is left once the writes in flight have ended (a
    snapshot the server is writing has one for a moment)."""
    return eventually(lambda: half_written(store) == [], timeout=30)


def step(loop, n):
    return loop.finish(loop.send(n))


def refuses(future, reason):
    with pytest.raises(lathe.RequestFailedError) as failed:
        future.result(timeout=120)
    assert failed.value.category == "server"
    assert reason in failed.value.error and "checkpoints saved before are unchanged" in failed.value.error
    assert "/adapters" not in failed.value.error  # the store's paths are not the tenant's business
    return failed.value.error


def test_a_full_or_read_only_store_fails_saves_clearly_and_loses_nothing(server, tmp_path):
    reference = LatheLoop(server.base_url, server.new_api_key("disk-reference"))
    reference_metrics = [step(reference, n) for n in range(STEPS)]
    reference_tensors = tensors(reference.save())

    port = _free_port()
    with store_filesystem(tmp_path) as store:
        first = running(data=tmp_path, port=port)
        killed = first.__enter__()
        key = killed.new_api_key("disk-faults")
        loop = LatheLoop(killed.base_url, key)
        metrics = [step(loop, n) for n in range(3)]
        good = loop.training.save_state("good").result()
        good_archive = loop.rest.download_checkpoint_archive(good)

        with full(store):
            refuses(loop.training.save_state("while-full"), "No space left on device")
            refuses(loop.training.save_weights_for_sampler("while-full"), "No space left on device")
            metrics += [step(loop, n) for n in range(3, 5)]  # training goes on, unsnapshotted
            # The snapshot thread writes a run at most once a second: the kill waits for its refusal.
            log = tmp_path / "server.log"
            assert eventually(lambda: "could not be written" in log.read_text(), timeout=30)
            assert nothing_half_written(store)  # what a refused write began, it removed
            killed.proc.kill()  # while the store is still full: those steps live only in the log
            killed.proc.wait(timeout=30)
        first.__exit__(None, None, None)

        with running(data=tmp_path, port=port):  # the loop's client retries its way back
            metrics += [step(loop, n) for n in range(5, STEPS)]
            final = tensors(loop.save())
            with read_only(store):
                refuses(loop.training.save_state("while-read-only"), "Read-only file system")
                assert step(loop, STEPS)[1] == STEPS + 1  # still training
            names = [c.checkpoint_id for c in loop.rest.list_checkpoints(loop.training.model_id).checkpoints]
            assert sorted(names) == ["weights/final", "weights/good"]
            assert loop.rest.download_checkpoint_archive(good) == good_archive
            reloaded = loop.service.create_lora_training_client(base_model="lathe-tiny", rank=8)
            reloaded.load_state(good).result()
            again = reloaded.save_state("reloaded").result()
            assert_same(tensors(loop.rest.download_checkpoint_archive(again)), tensors(good_archive))
            assert nothing_half_written(store)

    assert metrics == reference_metrics  # no step lost or applied twice through the faults
    assert_same(final, reference_tensors)


def assert_same(got, expected):
    assert sorted(got) == sorted(expected)
    for name, value in expected.items():
        assert np.array_equal(got[name], value), name
