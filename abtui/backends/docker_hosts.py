"""Docker on several hosts: ``hosts:`` in the spec, one ``DockerBackend`` per engine.

A host is ``local`` (``DOCKER_HOST`` or the default socket), a Docker context name (its
endpoint and TLS settings, as ``docker context ls`` shows them) or an ``ssh://user@host``
URL. SSH goes through docker-py's own support with the system ``ssh`` client
(``use_ssh_client``: the user's ~/.ssh/config, keys and agent apply, and the far side runs
``docker system dial-stdio``); docker-py imports paramiko for it, hence ``abtui[remote]``.

- **Placement**: replicate i of arm k runs on host (k + i) mod len (``spec.resolve``); the
  handle's ref carries the host, so ``attach`` and ``stop`` go to the right engine.
- **One image everywhere**: every image reference is resolved on every host that runs it,
  and the experiment is refused when a host holds a different image under the same name
  (a different ID), with the IDs and how to fix it. Never silent.
- **Logs**: each arm is followed on its own engine with the same resume tokens; a broken
  connection (a cut SSH link, a daemon restart) is resumed with backoff by
  ``ContainerLogReader``; an arm is "lost" only when its engine says the container is gone.
- **Facts**: each engine's daemon facts (name, engine version, kernel, cores, memory,
  runtimes) are the run's ``inspect.node``, which the diff compares between arms.

The run directory and the volumes must be on a path every host sees (the arm's output
folder is bind-mounted); the arms' output itself comes through each daemon's log.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
from docker.types import DeviceRequest, Mount

from abtui.backends.base import ArmExit, ArmHandle, Backend, LogLine
from abtui.backends.docker import OUT_DIR, TMPFS, DockerBackend, arm_user, container_name
from abtui.infra.errors import BackendError
from abtui.rundir import RunDir
from abtui.spec import ArmRun, ExperimentSpec

log = logging.getLogger(__name__)
LOCAL = ("local", "default")
AGENT_OUT = f"{OUT_DIR}/node_telemetry.jsonl"
AGENT_FACTS = f"{OUT_DIR}/node.json"


def client_for(host: str, timeout: int = 60) -> docker.DockerClient:
    """A docker-py client of one host (``local``, a context name, or a URL)."""
    if host in LOCAL:
        return docker.from_env(timeout=timeout, max_pool_size=64)
    url, tls = host, None
    if "://" not in host:
        ctx = docker.ContextAPI.get_context(host)
        if ctx is not None:
            url, tls = ctx.Host, ctx.TLSConfig
        else:
            url = _context_host(host)
    if url.startswith("ssh://"):
        try:
            import paramiko  # noqa: F401  (docker-py's SSH adapter imports it)
        except ImportError:
            raise BackendError(f"host {host!r}: SSH to Docker needs paramiko: "
                               "pip install 'abtui[remote]'") from None
    return docker.DockerClient(base_url=url, tls=tls or False, timeout=timeout, max_pool_size=64,
                               use_ssh_client=url.startswith("ssh://"))


def _context_host(name: str) -> str:
    """A context's Docker endpoint from its metadata, as the docker CLI stores it.

    docker-py looks for contexts only beside an existing ``config.json`` (its
    ``find_config_file``); the CLI creates contexts without one, so read the CLI's file:
    ``$DOCKER_CONFIG/contexts/meta/<sha256 of the name>/meta.json``."""
    base = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    meta = base / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest() / "meta.json"
    try:
        host = json.loads(meta.read_text(encoding="utf-8"))["Endpoints"]["docker"]["Host"]
    except (OSError, ValueError, KeyError, TypeError):
        raise BackendError(f"host {name!r}: no such Docker context (docker context ls)") from None
    if not isinstance(host, str) or "://" not in host:
        raise BackendError(f"host {name!r}: its context has no Docker endpoint")
    return host


def node_of(daemon: dict[str, Any]) -> dict[str, Any]:
    """A host's daemon facts (``DockerBackend.daemon_facts``) in the shape of a Slurm
    node's, which ``diff/nodes.py`` compares."""
    return {"host": daemon.get("host"), "engine": daemon.get("engine"),
            "cpu": {"cpu_count": daemon.get("cpus"), "kernel": daemon.get("kernel"),
                    "memory_mb": daemon.get("memory_mb")},
            "runtimes": daemon.get("runtimes"), "gpus": []}


class DockerHostsBackend(Backend):
    """Arms as containers on several Docker engines."""

    name = "docker"
    SUPPORTS_GPUS = True
    SUPPORTS_REATTACH = True
    SUPPORTS_RESOURCE_LIMITS = True
    ISOLATES_ENVIRONMENT = True
    #: the agent beside a remote arm writes into the arm's out folder (bind-mounted)
    NODE_TELEMETRY_PATH = "out/node_telemetry.jsonl"

    def __init__(self, spec: ExperimentSpec, workdir: str | Path | None = None,
                 clients: dict[str, docker.DockerClient] | None = None) -> None:
        self.spec = spec
        self.workdir = workdir
        self._clients = dict(clients or {})
        self._engines: dict[str, DockerBackend] = {}
        self._nodes: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def engine(self, host: str) -> DockerBackend:
        """The backend of one host's engine, connected on first use."""
        with self._lock:
            if host not in self._engines:
                client = self._clients.get(host)
                if client is None:
                    try:
                        client = client_for(host)
                        client.ping()
                    except BackendError:
                        raise
                    except Exception as exc:
                        raise BackendError(f"host {host}: cannot reach its Docker engine "
                                           f"({str(exc).splitlines()[0][:200]})") from None
                self._engines[host] = DockerBackend(self.spec, client=client, workdir=self.workdir)
            return self._engines[host]

    def is_remote(self, run: ArmRun) -> bool:
        return self.host_of(run) not in LOCAL

    @staticmethod
    def host_of(item: ArmRun | ArmHandle) -> str:
        if isinstance(item, ArmRun):
            return str(item.extra.get("host") or "local")
        return str(item.ref.get("host") or "local")

    @property
    def client(self) -> docker.DockerClient | None:
        """This machine's engine, when it is one of the hosts (container stats for telemetry)."""
        local = next((h for h in self.spec.hosts if h in LOCAL), None)
        return self.engine(local).client if local else None

    @property
    def docker_client(self) -> Any:
        return self.client

    def on_this_host(self, spec: ExperimentSpec) -> bool:
        return all(h in ("local", "default") for h in spec.hosts)

    # -- before the arms ---------------------------------------------------------------
    def prepare(self, spec: ExperimentSpec, runs: list[ArmRun], rundir: RunDir) -> dict[str, Any]:
        by_host: dict[str, list[ArmRun]] = {}
        for run in runs:
            by_host.setdefault(self.host_of(run), []).append(run)
        facts: dict[str, dict[str, Any]] = {}
        for host, host_runs in by_host.items():
            facts[host] = self.engine(host).prepare(spec, host_runs, rundir)
            if host not in LOCAL and spec.telemetry.agent_image:
                self._agent_image(host)  # refused now, not after the first arm started
            self._nodes[host] = node_of(facts[host]["daemon"])
        self._same_images(facts)
        first = next(iter(facts.values()))
        images = {k: v for f in facts.values() for k, v in f["images"].items()}
        warnings = list(dict.fromkeys(w for f in facts.values() for w in f["warnings"]))
        return {"image": first["image"], "images": images, "image_refs": first["image_refs"],
                "warnings": warnings, "daemon": first["daemon"],
                "hosts": {h: {"daemon": f["daemon"], "image_refs": {r: i["id"] for r, i in
                                                                     f["image_refs"].items()}}
                          for h, f in facts.items()}}

    @staticmethod
    def _same_images(facts: dict[str, dict[str, Any]]) -> None:
        seen: dict[str, dict[str, str]] = {}
        for host, f in facts.items():
            for ref, ident in f["image_refs"].items():
                seen.setdefault(ref, {})[host] = ident["id"]
        for ref, ids in seen.items():
            if len(set(ids.values())) > 1:
                where = ", ".join(f"{h}: {i.removeprefix('sha256:')[:12]}" for h, i in ids.items())
                raise BackendError(
                    f"image {ref!r} is not the same image on every host ({where}): the arms "
                    "would not run the same bytes. Load one image everywhere "
                    "(docker save IMAGE | docker -H HOST load) or pin it by digest.")

    # -- the interface, delegated to the arm's engine -----------------------------------
    def launch(self, run: ArmRun, rundir: RunDir) -> ArmHandle:
        host = self.host_of(run)
        handle = self.engine(host).launch(run, rundir)
        handle.ref.update({"host": host, "remote": host not in LOCAL})
        if host not in LOCAL and self.spec.telemetry.agent_image:
            try:
                handle.ref["agent_id"] = self._start_agent(host, run, rundir)
            except BackendError as exc:  # never fail an arm that started
                log.warning("%s", exc)
            handle.ref["agent_facts"] = str(rundir.arm_dir(run.run_id) / "out" / "node.json")
        return handle

    def _agent_image(self, host: str) -> str:
        """The agent image's ID on ``host``; a BackendError (before any arm) if it is not there."""
        image = str(self.spec.telemetry.agent_image)
        try:
            return str(self.engine(host).client.images.get(image).id)
        except docker.errors.ImageNotFound:
            raise BackendError(f"host {host}: the telemetry agent image {image!r} is not there "
                               "(docker save IMAGE | docker -H HOST load, as for the arms' "
                               "image)") from None

    def _start_agent(self, host: str, run: ArmRun, rundir: RunDir) -> str | None:
        """The telemetry agent beside a remote arm: the host's processes (``--pid=host``,
        read-only, as the arm's user, no capabilities, no network) and the arm's GPUs; it
        writes into the arm's out folder and ends when the arm's processes are gone."""
        engine = self.engine(host)
        image_id = self._agent_image(host)
        out = rundir.arm_dir(run.run_id) / "out"
        uid, gid = arm_user()
        config: dict[str, Any] = {
            "image": image_id, "detach": True,
            "name": container_name(rundir, run.run_id) + "-agent",
            "command": ["python3", "-m", "abtui.telemetry.node", "sample", AGENT_OUT,
                        "--run", run.run_id, "--interval", f"{self.spec.telemetry.interval_s:g}",
                        "--key", "ABTUI_RUN_ID", "--experiment", rundir.name, "--until-gone",
                        "--facts", AGENT_FACTS],
            "labels": {"abtui.experiment": self.spec.name, "abtui.agent_of": run.run_id,
                       "abtui.run_dir": str(rundir.root.resolve())},
            "environment": {"HOME": "/tmp", "PYTHONUNBUFFERED": "1"},
            "mounts": [Mount(OUT_DIR, str(out.resolve()), type="bind")],
            "pid_mode": "host", "uts_mode": "host", "user": f"{uid}:{gid}", "cap_drop": ["ALL"], "read_only": True,
            "tmpfs": dict(TMPFS), "security_opt": ["no-new-privileges"], "network_mode": "none",
            "mem_limit": 256 * 2**20, "pids_limit": 64,
        }
        if run.gpus:
            config["device_requests"] = [DeviceRequest(device_ids=[str(g) for g in run.gpus],
                                                       capabilities=[["gpu"]])]
        try:
            return str(engine.client.containers.run(**config).id)
        except (docker.errors.DockerException, BackendError) as exc:
            # the arm runs on; its host load is then unmeasured, and fairness says so
            log.warning("host %s: no telemetry agent beside %s: %s", host, run.run_id,
                        getattr(exc, "explanation", None) or exc)
            return None

    def follow(self, handle: ArmHandle, rundir: RunDir, resume: int | str | None,
               stop: threading.Event) -> Iterator[LogLine]:
        return self.engine(self.host_of(handle)).follow(handle, rundir, resume, stop)

    def follow_batches(self, handle: ArmHandle, rundir: RunDir, resume: int | str | None,
                       stop: threading.Event) -> Iterator[list[LogLine]]:
        return self.engine(self.host_of(handle)).follow_batches(handle, rundir, resume, stop)

    def poll(self, handle: ArmHandle) -> ArmExit | None:
        return self.engine(self.host_of(handle)).poll(handle)

    def stop(self, handle: ArmHandle, grace_s: float = 10.0) -> None:
        self.engine(self.host_of(handle)).stop(handle, grace_s)

    def cleanup(self, handle: ArmHandle, keep: bool = False) -> None:
        engine = self.engine(self.host_of(handle))
        agent = handle.ref.get("agent_id")
        if agent:  # its samples are in the out folder already
            with contextlib.suppress(docker.errors.DockerException):
                engine.client.api.remove_container(agent, force=True)
        engine.cleanup(handle, keep)

    def inspect(self, handle: ArmHandle) -> dict[str, Any]:
        host = self.host_of(handle)
        facts = self.engine(host).inspect(handle)
        if host not in self._nodes:  # attached: prepare ran in another monitor
            self._nodes[host] = node_of(self.engine(host).daemon_facts())
        node = dict(self._nodes[host])
        try:  # what the agent beside the arm saw: its GPUs, driver and CPU
            seen = json.loads(Path(handle.ref["agent_facts"]).read_text(encoding="utf-8"))
        except (KeyError, OSError, ValueError):
            seen = None
        if isinstance(seen, dict):
            node.update({k: seen[k] for k in ("gpus", "driver") if seen.get(k) is not None})
            if isinstance(seen.get("cpu"), dict):
                node["cpu"] = {**node.get("cpu", {}), **seen["cpu"]}
        return {**facts, "docker_host": host, "host": node.get("host"), "node": node}

    def pids(self, handle: ArmHandle) -> list[int]:
        if handle.ref.get("remote"):
            return []  # another machine's PIDs mean nothing here
        return self.engine(self.host_of(handle)).pids(handle)

    def find(self, rundir: RunDir) -> dict[str, ArmHandle]:
        """Each host's containers of this run. A host that cannot be reached now keeps its
        arms as the manifest says: they are followed (with backoff), never called lost
        because their engine did not answer."""
        found: dict[str, ArmHandle] = {}
        runs = rundir.read_manifest().get("runs") or {}
        for host in self.spec.hosts:
            try:
                listed = self.engine(host).find(rundir)
            except BackendError:
                listed = {run_id: ArmHandle(run_id, dict(entry["ref"]))
                          for run_id, entry in runs.items()
                          if (entry.get("ref") or {}).get("host") == host}
            for run_id, handle in listed.items():
                handle.ref.update({"host": host, "remote": host not in LOCAL})
                found[run_id] = handle
        return found


def make_docker_backend(spec: ExperimentSpec, workdir: str | Path | None = None) -> Backend:
    """The docker backend's factory (``abtui.spec.backends``): one engine, or one per host."""
    if spec.hosts:
        return DockerHostsBackend(spec, workdir=workdir)
    return DockerBackend(spec, workdir=workdir)
