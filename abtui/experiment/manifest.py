"""The manifest's first version, and the stand-in backend for runs opened read-only."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import socket
import time
from pathlib import Path
from typing import Any

from abtui import __version__
from abtui.backends import Backend
from abtui.errors import BackendError
from abtui.secrets import mask_env, secret_digests
from abtui.spec import ArmRun, ExperimentSpec


class NoBackend(Backend):
    """Stands in when a run is only read (report, diff) or its backend is unreachable."""

    name = "none"

    def launch(self, run, rundir):  # type: ignore[no-untyped-def]
        raise BackendError("this run is opened read-only")

    def follow(self, handle, rundir, resume, stop):  # type: ignore[no-untyped-def]
        return iter(())

    def poll(self, handle):  # type: ignore[no-untyped-def]
        return None

    def stop(self, handle, grace_s=10.0):  # type: ignore[no-untyped-def]
        return None


def new_manifest(spec: ExperimentSpec, spec_path: Path, backend: Backend,
                  runs: list[ArmRun], workdir: Path) -> dict[str, Any]:
    key = os.urandom(32)  # for secret digests only; never written anywhere
    spec_data = spec.model_dump(mode="json")
    spec_data["env"] = mask_env(spec_data.get("env") or {})
    for arm in spec_data.get("arms", {}).values():
        arm["env"] = mask_env(arm.get("env") or {})
    return {
        "abtui_version": __version__,
        "experiment": spec.name,
        "created_at": time.time(),
        "status": "running",
        "spec_path": str(spec_path.resolve()),
        "spec": spec_data,
        "backend": backend.name,
        "workdir": str(workdir),
        "host": {"hostname": socket.gethostname(), "platform": platform.platform(),
                 "python": platform.python_version()},
        "backend_facts": {},
        "runs": {
            r.run_id: {
                "arm": r.arm, "replicate": r.replicate, "seed": r.seed, "gpus": list(r.gpus),
                "command": list(r.command), "config": r.config, "config_hash": r.config_hash,
                "image": r.image, "env": mask_env(r.env),
                "secret_digests": secret_digests(key, r.env, r.config),
            }
            for r in runs
        },
    }


def cpu_placement(spec: ExperimentSpec, concurrency: int,
                  cores: list[int] | None = None) -> dict[str, Any]:
    """Disjoint core sets for concurrent CPU arms: one slot per concurrent run.

    Arms that run at once on shared cores slow each other unevenly (one finishes, the other
    speeds up), so each concurrency slot gets its own cores when the host has enough; the
    manifest records the slots and every run's cores, or why nothing was pinned.
    """
    if cores is None:
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    out: dict[str, Any] = {"cores": len(cores), "concurrency": concurrency, "cpu_slots": []}
    if not spec.pin_cpus:
        return {**out, "pinned": False, "why": "pin_cpus is false in the spec"}
    if all(a.gpus for a in spec.arms.values()):
        return {**out, "pinned": False, "why": "GPU arms are not pinned to cores"}
    need = math.ceil(spec.resources.cpus) if spec.resources.cpus else 1
    per = len(cores) // max(1, concurrency)
    if per < need:
        return {**out, "pinned": False,
                "why": f"{concurrency} concurrent arms need {concurrency * need} cores for "
                       f"disjoint placement; the host has {len(cores)}: arms share cores"}
    slots = [cores[i * per:(i + 1) * per] for i in range(concurrency)]
    return {**out, "pinned": True, "cpu_slots": slots}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return out
    with fh:
        for line in fh:
            if not line.endswith(b"\n"):
                break
            with contextlib.suppress(ValueError):
                obj = json.loads(line)
                if isinstance(obj, dict):
                    out.append(obj)
    return out
