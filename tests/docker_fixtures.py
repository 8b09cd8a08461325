"""Fixtures for tests against the real Docker Engine (imported by conftest.py).

- ``docker_client``: the daemon, or a skip -- a failure where ``ABTUI_REQUIRE_DOCKER=1`` (CI).
- ``docker_images``: builds the local test images once per session (tests/images/build.sh).
- ``docker_rundir``: a fresh run directory; every container labelled with it is removed after
  the test. At the end of the session no container of any test's run directory may remain.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from abtui.backends.base import ArmHandle, Backend, LogLine
from abtui.rundir import RunDir

REPO = Path(__file__).resolve().parent.parent
BUSYBOX = "abtui-test/busybox"
RUNNER = "abtui-test/runner"


def _require_docker() -> bool:
    return os.environ.get("ABTUI_REQUIRE_DOCKER") == "1"


def _test_containers(client: docker.DockerClient, base: Path) -> list[Any]:
    """Containers whose abtui.run_dir lies under this session's pytest base temp dir."""
    prefix = str(base.resolve())
    found = client.containers.list(all=True, filters={"label": "abtui.run_dir"})
    return [c for c in found if c.labels.get("abtui.run_dir", "").startswith(prefix)]


def _remove_all(containers: list[Any]) -> None:
    for c in containers:
        with contextlib.suppress(docker.errors.NotFound):
            c.remove(force=True, v=True)


@pytest.fixture(scope="session")
def docker_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[docker.DockerClient]:
    """A client of the real daemon; removes (and then checks for) the tests' containers at the end."""
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # any way of not having a daemon
        msg = f"no Docker daemon ({exc}); run `bash .ci/docker-up.sh`"
        if _require_docker():
            pytest.fail(msg)
        pytest.skip(msg)
    base = tmp_path_factory.getbasetemp()
    yield client
    _remove_all(_test_containers(client, base))
    left = [c.name for c in _test_containers(client, base)]
    assert not left, f"containers left behind by the docker tests: {left}"


@pytest.fixture(scope="session")
def docker_images(docker_client: docker.DockerClient) -> dict[str, str]:
    """Build (or find cached) abtui-test/busybox and abtui-test/runner; their image IDs."""
    t0 = time.monotonic()
    proc = subprocess.run(["bash", str(REPO / "tests/images/build.sh"), "all"], cwd=REPO,
                          capture_output=True, text=True, timeout=1500)
    if proc.returncode != 0:
        pytest.fail(f"building the test images failed:\n{proc.stderr[-4000:]}")
    took = time.monotonic() - t0
    print(f"\n[docker_images] {took:.1f} s\n{proc.stderr.strip()}")
    return {ref: docker_client.images.get(ref).id for ref in (BUSYBOX, RUNNER)}


@pytest.fixture
def docker_rundir(docker_client: docker.DockerClient, tmp_path: Path) -> Iterator[RunDir]:
    """A run directory whose containers are all removed when the test ends."""
    rundir = RunDir.create(tmp_path / "runs", "dockertest")
    yield rundir
    root = str(rundir.root.resolve())
    _remove_all(docker_client.containers.list(all=True, filters={"label": f"abtui.run_dir={root}"}))


def collect(backend: Backend, handle: ArmHandle, rundir: RunDir, resume: int | str | None = None,
            timeout: float = 60.0, until: int | None = None,
            stop: threading.Event | None = None, into: list[LogLine] | None = None) -> list[LogLine]:
    """Follow an arm to its end (or ``until`` lines), failing the test after ``timeout`` s.
    Lines are appended to ``into`` as they arrive (for a test that acts mid-run)."""
    stop = stop or threading.Event()
    timer = threading.Timer(timeout, stop.set)
    timer.daemon = True
    timer.start()
    lines: list[LogLine] = [] if into is None else into
    try:
        for line in backend.follow(handle, rundir, resume, stop):
            lines.append(line)
            if until is not None and len(lines) >= until:
                break
    finally:
        timed_out = stop.is_set() and timer.finished.is_set()
        timer.cancel()
    if timed_out and until is None:
        pytest.fail(f"follow() did not end within {timeout} s ({len(lines)} lines)")
    return lines


def wait_exit(backend: Backend, handle: ArmHandle, timeout: float = 60.0) -> Any:
    """Poll until the arm has exited; its ArmExit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ended = backend.poll(handle)
        if ended is not None:
            return ended
        time.sleep(0.1)
    pytest.fail(f"arm {handle.run_id} still running after {timeout} s")
