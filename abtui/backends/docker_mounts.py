"""The spec's volumes as bind mounts for an arm's container, never a container engine's
socket (whoever holds one controls the host), never a path that does not exist."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path

from docker.types import Mount

from abtui.infra.errors import BackendError
from abtui.spec import Volume

_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock",
            "/var/run/containerd/containerd.sock", "/run/podman/podman.sock",
            "/var/run/crio/crio.sock", "/run/crio/crio.sock", "/var/run/cri-dockerd.sock",
            "/run/buildkit/buildkitd.sock", "/run/k3s/containerd/containerd.sock")
#: Per-user engines (rootless Docker, Podman): any of these under /run/user/<uid>/.
_USER_SOCKETS = ("docker.sock", "podman/podman.sock", "containerd/containerd.sock")


def engine_sockets() -> set[str]:
    """Every container engine socket on this host, resolved (``DOCKER_HOST`` included)."""
    sockets = {os.path.realpath(s) for s in _SOCKETS}
    sockets |= {os.path.realpath(p) for name in _USER_SOCKETS
                for p in glob.glob(f"/run/user/*/{name}")}
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        sockets.add(os.path.realpath(host[len("unix://"):]))
    return sockets


def volume_mounts(volumes: Iterable[Volume], workdir: Path) -> list[Mount]:
    """Bind mounts for ``volumes`` (relative sources from ``workdir``); a BackendError for a
    volume that holds an engine's socket or does not exist."""
    sockets = engine_sockets()
    mounts = []
    for vol in volumes:
        src = os.path.realpath(workdir / Path(vol.source).expanduser())
        for sock in sockets:
            if sock == src or sock.startswith(src.rstrip("/") + "/"):
                raise BackendError(
                    f"volume {vol.source} -> {vol.target}: refusing to mount a container "
                    f"engine's socket ({sock}) into an arm; whoever holds it controls the "
                    "host. Mount only data.")
        if not os.path.exists(src):
            raise BackendError(f"volume {vol.source} -> {vol.target}: {src} does not exist")
        mounts.append(Mount(vol.target, src, type="bind", read_only=vol.read_only))
    return mounts
