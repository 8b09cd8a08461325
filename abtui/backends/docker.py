"""Docker backend: one container per arm, the same image (by ID) for all, pinned GPUs.

Containers are the arms' lifeline, not the monitor: they carry labels (``abtui.run_dir``,
``abtui.run_id`` ...) so that ``abtui attach`` finds them again after the monitor died, and
their output lives in the daemon's log, which ``follow`` tails with resume tokens
(see :mod:`abtui.backends.docker_logs`). Arms run with no network, no new privileges, an
init process, and never with the Docker socket.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import psutil
from docker.types import DeviceRequest, LogConfig, Mount

from abtui.backends.base import ArmExit, ArmHandle, Backend, LogLine, fill_out, lightning_env
from abtui.backends.docker_image import resolve_image
from abtui.backends.docker_logs import (
    CONNECTION_ERRORS,
    LIVE_STATES,
    ContainerLogReader,
    parse_ts,
    through_breaks,
)
from abtui.backends.docker_mounts import volume_mounts
from abtui.infra.errors import BackendError
from abtui.infra.secrets import mask_argv
from abtui.rundir import RunDir
from abtui.spec import ArmRun, ExperimentSpec

log = logging.getLogger(__name__)
OUT_DIR = "/abtui/out"  # the arm's own output dir (rundir/arms/<run>/out), mounted read-write
_DAEMON_HINT = ("is dockerd running (`sudo systemctl start docker`, or `bash .ci/docker-up.sh`)? "
                "is your user in the docker group (`sudo usermod -aG docker $USER`, then log in again)?")
DEFAULT_PIDS = 4096
NOBODY = 65534  # the uid / gid arms run as when abtui itself runs as root
TMPFS = {"/tmp": "rw,nosuid,nodev,size=2g"}
# how long poll() waits out a cut link or a restarting daemon before it gives up
POLL_RECONNECT_S = 60.0
_LOG_CONFIG = {"max-size": "256m", "max-file": "4"}  # json-file: the format follow() was built on


@contextlib.contextmanager
def _daemon(what: str) -> Iterator[None]:
    """Turn the SDK's and the transport's errors into one-line BackendErrors (NotFound passes)."""
    try:
        yield
    except docker.errors.NotFound:
        raise
    except docker.errors.APIError as exc:
        raise BackendError(f"{what}: the Docker daemon refused: {exc.explanation or exc}") from None
    except (docker.errors.DockerException, *CONNECTION_ERRORS) as exc:
        raise BackendError(f"{what}: cannot reach the Docker daemon ({exc}).\n  {_DAEMON_HINT}") from None


def _sleep(delay: float) -> bool:
    """A pause for ``through_breaks`` that never gives up early."""
    time.sleep(delay)
    return False


def arm_user() -> tuple[int, int]:
    """The uid:gid an arm's container runs as: the invoking user's, so the files it writes
    into its out dir are theirs; ``nobody`` when abtui runs as root (never root in an arm)."""
    uid, gid = os.getuid(), os.getgid()
    return (NOBODY, NOBODY) if uid == 0 else (uid, gid)


def default_memory(concurrency: int) -> int | None:
    """A memory limit per arm when the spec sets none: 80 % of the host's memory shared by
    the arms that run at once (an arm that runs away is OOM-killed, not the host)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return None
    return int(total * 0.8 / max(1, concurrency))


def container_name(rundir: RunDir, run_id: str) -> str:
    """``abtui-<run dir>-<run id>`` with anything Docker refuses replaced by ``-``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"abtui-{rundir.name}-{run_id}")


def arm_argv(run: ArmRun) -> list[str]:
    """The container's command: the arm's argv, under torchrun when the arm has several GPUs."""
    argv = list(run.command)
    if len(run.gpus) > 1 and Path(argv[0]).name in ("python", "python3") and len(argv) > 1:
        args = argv[1:]
        if args[0] == "-u":
            args = args[1:]
        argv = ["torchrun", "--standalone", f"--nproc_per_node={len(run.gpus)}", *args]
    return argv


class DockerBackend(Backend):
    """Arms as containers on one Docker Engine (the docker SDK for Python)."""

    name = "docker"
    SUPPORTS_GPUS = True
    SUPPORTS_REATTACH = True
    SUPPORTS_RESOURCE_LIMITS = True
    ISOLATES_ENVIRONMENT = True

    def __init__(self, spec: ExperimentSpec, client: docker.DockerClient | None = None,
                 workdir: str | Path | None = None) -> None:
        self.spec = spec
        self.workdir = Path(workdir) if workdir else Path.cwd()  # base of relative volume paths
        self._client = client
        self._image_ids: dict[str, str] = {}
        self.reconnects: dict[str, int] = {}  # run id -> log streams resumed after a daemon restart

    # ------------------------------------------------------------------ connection
    @property
    def client(self) -> docker.DockerClient:
        """The daemon connection, made on first use; a BackendError with a hint if there is none."""
        if self._client is None:
            with _daemon("connecting to Docker"):
                self._client = docker.from_env(timeout=60, max_pool_size=64)
        return self._client

    @property
    def docker_client(self) -> Any:
        return self.client

    def on_this_host(self, spec: ExperimentSpec) -> bool:
        return all(h in ("local", "default") for h in spec.hosts)

    @property
    def api(self) -> docker.APIClient:
        return self.client.api

    def _inspect_with_retry(self, container_id: str) -> dict[str, Any]:
        """inspect_container, waiting out a cut link or a daemon restart as the log reader
        does: a link cut just after an arm's container exited made its exit unreadable and
        the arm "lost" (seen in a CI run)."""
        attrs: dict[str, Any] = through_breaks(
            lambda: self.api.inspect_container(container_id), POLL_RECONNECT_S,
            _sleep)
        return attrs

    def _status(self, container_id: str) -> str | None:
        """The container's status; None once it is gone. Connection errors propagate."""
        try:
            return self.api.inspect_container(container_id)["State"]["Status"]
        except docker.errors.NotFound:
            return None

    # ------------------------------------------------------------------ prepare
    def image_ref(self, run: ArmRun) -> str:
        """The image an arm runs: its own, else the spec's; a BackendError without one."""
        ref = run.image or self.spec.image
        if not ref:
            raise BackendError("the docker backend needs an image (spec 'image' or the arm's)")
        return ref

    def prepare(self, spec: ExperimentSpec, runs: list[ArmRun], rundir: RunDir) -> dict[str, Any]:
        """Resolve every image reference once (ID, digests, labels ...) and check the mounts."""
        refs = list(dict.fromkeys(self.image_ref(r) for r in runs))
        facts: dict[str, dict[str, Any]] = {}
        warnings: list[str] = []
        for ref in refs:
            with _daemon(f"resolving image {ref!r}"):
                facts[ref], warn = resolve_image(self.client, ref)
            warnings += warn
            self._image_ids[ref] = facts[ref]["id"]
        if len({f["id"] for f in facts.values()}) > 1:
            warnings.append("arms run different images: "
                            + ", ".join(f"{ref} ({f['id'][:19]})" for ref, f in facts.items())
                            + "; the image is a confound unless it is the treatment")
        self._mounts()  # refuse a bad volume before any arm starts
        main = spec.image if spec.image in facts else refs[0]
        return {
            "image": facts[main],
            "images": {r.run_id: self._image_ids[self.image_ref(r)] for r in runs},
            "image_refs": facts,
            "warnings": warnings,
            "daemon": self.daemon_facts(),
        }

    def daemon_facts(self) -> dict[str, Any]:
        with _daemon("reading the daemon's version"):
            version = self.client.version()
            info = self.client.info()
        return {"host": info.get("Name"), "engine": version.get("Version"),
                "api": version.get("ApiVersion"), "storage_driver": info.get("Driver"),
                "cgroup_version": info.get("CgroupVersion"), "live_restore": info.get("LiveRestoreEnabled"),
                "runtimes": sorted(info.get("Runtimes") or {}), "default_runtime": info.get("DefaultRuntime"),
                "cpus": info.get("NCPU"), "kernel": info.get("KernelVersion"),
                "memory_mb": int(info["MemTotal"]) // 2**20 if info.get("MemTotal") else None}

    # ------------------------------------------------------------------ launch
    def _mounts(self) -> list[Mount]:
        return volume_mounts(self.spec.volumes, self.workdir)

    def container_config(self, run: ArmRun, rundir: RunDir) -> dict[str, Any]:
        """Everything ``containers.create`` gets for one arm (the image is an ID, never a tag)."""
        ref = self.image_ref(run)
        if ref not in self._image_ids:
            with _daemon(f"resolving image {ref!r}"):
                self._image_ids[ref] = resolve_image(self.client, ref)[0]["id"]
        out = rundir.arm_dir(run.run_id) / "out"
        out.mkdir(exist_ok=True, mode=0o700)
        uid, gid = arm_user()
        if os.geteuid() == 0 and uid == NOBODY:  # the arm writes its out dir as nobody
            os.chown(out, uid, gid)
        env = {**run.env, "PYTHONUNBUFFERED": "1", "ABTUI_ARM": run.arm, "ABTUI_RUN_ID": run.run_id,
               "ABTUI_EXPERIMENT": rundir.name,
               "ABTUI_SEED": str(run.seed), "ABTUI_OUT": OUT_DIR,
               # an arm without GPUs must see none even where the NVIDIA runtime is the default
               # and the image says NVIDIA_VISIBLE_DEVICES=all (the PyTorch images do)
               "NVIDIA_VISIBLE_DEVICES": ",".join(map(str, run.gpus)) or "void",
               "HOME": "/tmp"}  # a read-only root: the only writable places are /tmp and out
        # Lightning's default loggers write where abtui.ingest.files looks
        env.update(lightning_env(run.env, OUT_DIR))
        res = self.spec.resources
        memory = (docker.utils.parse_bytes(res.memory) if res.memory
                  else default_memory(self.spec.concurrency or len(self.spec.arms)))
        config: dict[str, Any] = {
            "image": self._image_ids[ref],
            "command": fill_out(arm_argv(run), OUT_DIR),
            "name": container_name(rundir, run.run_id),
            "labels": {"abtui.experiment": self.spec.name, "abtui.arm": run.arm,
                       "abtui.run_id": run.run_id, "abtui.replicate": str(run.replicate),
                       "abtui.seed": str(run.seed), "abtui.image_ref": ref,
                       "abtui.run_dir": str(rundir.root.resolve())},
            "environment": env,
            "mounts": [*self._mounts(), Mount(OUT_DIR, str(out.resolve()), type="bind")],
            "init": True,
            "privileged": False,
            # least privilege by default: not root, no capabilities, no new privileges, a
            # read-only root file system, bounded processes and memory, no network
            "user": f"{uid}:{gid}",
            "cap_drop": ["ALL"],
            "cap_add": list(res.capabilities) or None,
            "pids_limit": res.pids or DEFAULT_PIDS,
            "read_only": True,
            "tmpfs": dict(TMPFS),
            "security_opt": ["no-new-privileges"],
            "network_mode": "bridge" if self.spec.network else "none",
            "log_config": LogConfig(type="json-file", config=_LOG_CONFIG),
            "stdin_open": False,
            "tty": False,
        }
        if run.gpus:
            config["device_requests"] = [DeviceRequest(device_ids=[str(g) for g in run.gpus],
                                                       capabilities=[["gpu"]])]
        if memory:
            config["mem_limit"] = memory
            config["memswap_limit"] = memory  # no swap: an arm over its limit is OOM-killed, not slowed
        if res.shm:
            config["shm_size"] = res.shm
        if res.cpus:
            config["nano_cpus"] = int(res.cpus * 1e9)
        if run.extra.get("cpus"):  # disjoint cores per concurrent arm (see the orchestrator)
            config["cpuset_cpus"] = ",".join(str(c) for c in run.extra["cpus"])
        return config

    def create(self, run: ArmRun, rundir: RunDir) -> ArmHandle:
        """Create the arm's container without starting it (``launch`` = create + start)."""
        config = self.container_config(run, rundir)
        try:
            with _daemon(f"arm {run.run_id}: creating its container"):
                container = self.client.containers.create(**config)
        except docker.errors.NotFound:
            raise BackendError(f"arm {run.run_id}: image {config['image'][:19]} vanished since it "
                               "was resolved (removed or pruned?)") from None
        return ArmHandle(run.run_id, {"container_id": container.id, "name": config["name"],
                                      "image_id": config["image"]})

    def launch(self, run: ArmRun, rundir: RunDir) -> ArmHandle:
        handle = self.create(run, rundir)
        cid = handle.ref["container_id"]
        try:
            self.api.start(cid)
        except docker.errors.APIError as exc:
            with contextlib.suppress(Exception):
                self.api.remove_container(cid, force=True)
            msg = str(exc.explanation or exc)
            hint = ""
            if "capabilities: [[gpu]]" in msg:
                hint = "\n  GPUs need the NVIDIA Container Toolkit on this host (nvidia-ctk runtime configure)."
            elif "executable file not found" in msg or "no such file or directory" in msg:
                hint = f"\n  the image has no {arm_argv(run)[0]!r}: check the spec's command and image."
            raise BackendError(f"arm {run.run_id}: its container did not start: {msg}{hint}") from None
        except CONNECTION_ERRORS as exc:
            raise BackendError(f"arm {run.run_id}: cannot reach the Docker daemon ({exc}).\n  {_DAEMON_HINT}") from None
        return handle

    # ------------------------------------------------------------------ watch
    def follow(self, handle: ArmHandle, rundir: RunDir, resume: int | str | None,
               stop: threading.Event) -> Iterator[LogLine]:
        cid = handle.ref["container_id"]
        try:
            reader = ContainerLogReader(self.api, cid, lambda: self._status(cid), resume, stop)
        except ValueError:
            raise BackendError(f"arm {handle.run_id}: unreadable resume token {resume!r} "
                               "(events.jsonl damaged?)") from None
        try:
            for line in reader.lines():
                if reader.reconnects != self.reconnects.get(handle.run_id, 0):
                    log.info("arm %s: log stream resumed after a break (%d so far)",
                             handle.run_id, reader.reconnects)
                self.reconnects[handle.run_id] = reader.reconnects
                yield line
        except docker.errors.APIError as exc:
            raise BackendError(f"arm {handle.run_id}: cannot read its log: {exc.explanation or exc}") from None
        except CONNECTION_ERRORS as exc:
            raise BackendError(f"arm {handle.run_id}: lost the Docker daemon for more than "
                               f"{reader.reconnect_s:.0f} s ({exc}); `abtui attach` resumes.") from None

    def poll(self, handle: ArmHandle) -> ArmExit | None:
        cid = handle.ref["container_id"]
        try:
            with _daemon(f"arm {handle.run_id}: inspecting"):
                attrs = self._inspect_with_retry(cid)
        except docker.errors.NotFound:
            return ArmExit(None, error=f"container {handle.ref.get('name') or cid[:12]} disappeared "
                                       "(removed outside abtui?)", finished_at=time.time())
        state = attrs["State"]
        if state.get("Status") in LIVE_STATES:
            return None
        code = state.get("ExitCode")
        oom = bool(state.get("OOMKilled"))
        return ArmExit(code, oom_killed=oom,
                       error=state.get("Error") or _describe(code, oom, attrs["HostConfig"].get("Memory")),
                       finished_at=_epoch(state.get("FinishedAt")))

    def stop(self, handle: ArmHandle, grace_s: float = 10.0) -> None:
        with contextlib.suppress(docker.errors.NotFound), _daemon(f"arm {handle.run_id}: stopping"):
            self.api.stop(handle.ref["container_id"], timeout=max(0, math.ceil(grace_s)))

    def cleanup(self, handle: ArmHandle, keep: bool = False) -> None:
        if keep:
            return
        with contextlib.suppress(docker.errors.NotFound), _daemon(f"arm {handle.run_id}: removing its container"):
            self.api.remove_container(handle.ref["container_id"], v=True)

    # ------------------------------------------------------------------ facts
    def inspect(self, handle: ArmHandle) -> dict[str, Any]:
        cid = handle.ref["container_id"]
        try:
            with _daemon(f"arm {handle.run_id}: inspecting"):
                a = self.api.inspect_container(cid)
        except docker.errors.NotFound:
            return {"container_id": cid, "name": handle.ref.get("name"), "error": "container gone"}
        hc, state = a.get("HostConfig") or {}, a.get("State") or {}
        gpus = [d for r in (hc.get("DeviceRequests") or []) for d in (r.get("DeviceIDs") or [])]
        return {
            "container_id": a["Id"], "name": a["Name"].lstrip("/"), "image_id": a["Image"],
            "image_ref": (a.get("Config") or {}).get("Labels", {}).get("abtui.image_ref"),
            "command": mask_argv([a.get("Path"), *(a.get("Args") or [])]),
            "pid": state.get("Pid") or None, "started_at": state.get("StartedAt"),
            "gpus": gpus, "device_requests": hc.get("DeviceRequests"),
            "memory": hc.get("Memory") or None, "nano_cpus": hc.get("NanoCpus") or None,
            "shm_size": hc.get("ShmSize"), "network_mode": hc.get("NetworkMode"),
            "privileged": hc.get("Privileged"), "security_opt": hc.get("SecurityOpt"),
            "init": hc.get("Init"), "runtime": hc.get("Runtime"),
            "mounts": [{"source": m.get("Source"), "target": m.get("Destination"), "rw": m.get("RW")}
                       for m in a.get("Mounts") or []],
        }

    def pids(self, handle: ArmHandle) -> list[int]:
        """Host PIDs of the arm's processes (init and its children), for GPU-process mapping."""
        try:
            pid = self.api.inspect_container(handle.ref["container_id"])["State"].get("Pid")
            root = psutil.Process(pid)
            return [root.pid, *(c.pid for c in root.children(recursive=True))]
        except (docker.errors.DockerException, psutil.Error, ValueError, TypeError, *CONNECTION_ERRORS):
            return []

    def find(self, rundir: RunDir) -> dict[str, ArmHandle]:
        root = str(rundir.root.resolve())
        with _daemon("listing containers"):
            found = self.api.containers(all=True, filters={"label": f"abtui.run_dir={root}"})
        return {c["Labels"]["abtui.run_id"]: ArmHandle(c["Labels"]["abtui.run_id"], {
                    "container_id": c["Id"], "name": (c.get("Names") or ["/"])[0].lstrip("/"),
                    "image_id": c.get("ImageID")})
                for c in found if "abtui.run_id" in (c.get("Labels") or {})}


def _epoch(stamp: str | None) -> float | None:
    if not stamp or stamp.startswith("0001-"):
        return None
    try:
        return parse_ts(stamp) / 1e9
    except ValueError:
        return None


def _describe(code: int | None, oom: bool, memory: int | None) -> str | None:
    if oom:
        limit = f" (memory limit {memory / 2**20:.0f} MiB)" if memory else ""
        return f"killed by the kernel's OOM killer{limit}"
    if code in (None, 0):
        return None
    if code > 128:
        with contextlib.suppress(ValueError):
            import signal

            return f"killed by {signal.Signals(code - 128).name} (exit status {code})"
    return f"exited with code {code}"
