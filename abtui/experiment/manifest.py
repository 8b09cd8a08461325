"""The manifest's first version, and the stand-in backend for runs opened read-only."""

from __future__ import annotations

import contextlib
import dataclasses
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
from abtui.infra.errors import BackendError, SpecError
from abtui.infra.safe_io import open_read
from abtui.infra.secrets import mask_argv, mask_config, mask_env, secret_digests
from abtui.rundir import Manifest, ManifestRun
from abtui.spec import ArmRun, ExperimentSpec
from abtui.spec.resolve import flatten


class NoBackend(Backend):
    """Stands in when a run is only read (report, diff) or its backend is unreachable."""

    name = "none"

    def launch(self, run, rundir):
        raise BackendError("this run is opened read-only")

    def follow(self, handle, rundir, resume, stop):
        return iter(())

    def poll(self, handle):
        return None

    def stop(self, handle, grace_s=10.0):
        return None


def new_manifest(spec: ExperimentSpec, spec_path: Path, backend: Backend,
                  runs: list[ArmRun], workdir: Path) -> Manifest:
    key = os.urandom(32)  # for secret digests only; never written anywhere
    spec_data = spec.model_dump(mode="json")
    spec_data["env"] = mask_env(spec_data.get("env") or {})
    spec_data["config"] = mask_config(spec_data.get("config") or {})
    for arm in spec_data.get("arms", {}).values():
        arm["env"] = mask_env(arm.get("env") or {})
        arm["config"] = mask_config(arm.get("config") or {})
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
        "runs": {r.run_id: _run_entry(r, key) for r in runs},
        "design": design_of(runs),
    }


def design_of(runs: list[ArmRun]) -> dict[str, Any]:
    """The design, written before any data is seen: the start order of each replicate
    (rotated: ``spec.resolve.start_order``), and whether runs are paired (the arms of one
    replicate share its seed and, running at once, its time slot)."""
    order: dict[int, list[str]] = {}
    for r in runs:
        order.setdefault(r.replicate, []).append(r.arm)
    seeds = {r.replicate: {x.seed for x in runs if x.replicate == r.replicate} for r in runs}
    return {"start_order": [order[k] for k in sorted(order)],
            "rotation": "start order and CPU slot rotate by one arm each replicate",
            "paired": len(order) > 1 and all(len(s) == 1 for s in seeds.values())}


def _run_entry(r: ArmRun, key: bytes) -> ManifestRun:
    """A run as the manifest lists it before launch: secrets masked, digests keyed."""
    entry: ManifestRun = {
        "arm": r.arm, "replicate": r.replicate, "seed": r.seed, "gpus": list(r.gpus),
        "command": mask_argv(list(r.command)), "config": mask_config(r.config),
        "config_hash": r.config_hash, "image": r.image,
        "env": {k: ("***" if k in r.extra.get("env_file_keys", ()) else v)
                for k, v in mask_env(r.env).items()},
        "secret_digests": secret_digests(key, r.env, flatten(r.config)),
    }
    if r.extra.get("git"):
        entry["code"] = {**r.extra["git"], "cwd": r.extra.get("cwd")}
    return entry


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines (``#`` comments, optional ``export`` and quotes), as a dotenv file
    has them: the spec's ``env_from_file``. Read at launch, never stored: every value from
    it is masked in the manifest whatever its name."""
    out: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key.replace("_", "").isalnum():
            raise ValueError(f"{path}:{n}: expected KEY=VALUE")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key] = value
    return out


def with_env_file(runs: list[ArmRun], spec: ExperimentSpec, spec_path: Path) -> list[ArmRun]:
    """The runs with the spec's ``env_from_file`` variables (the arm's own env wins)."""
    if not spec.env_from_file:
        return runs
    path = spec_path.parent / spec.env_from_file
    try:
        extra = read_env_file(path)
    except (OSError, ValueError) as exc:
        raise SpecError(str(spec_path), [f"env_from_file: {exc}"]) from None
    return [dataclasses.replace(r, env={**extra, **r.env},
                                extra={**r.extra, "env_file_keys": sorted(extra)}) for r in runs]


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
    fits = len(cores) // need
    if spec.concurrency is None and len(spec.arms) >= 3 and 1 <= fits < concurrency:
        # more CPU arms than the cores give: packed, as many at a time as have cores of
        # their own (three or more arms all at once on shared cores finish at different
        # times and measure each other's load); two arms stay together, as paired
        concurrency = fits
        out.update(concurrency=fits, packed=(f"{len(spec.arms)} arms on {len(cores)} cores: "
                                             f"{fits} at a time, each on its own cores"))
    per = len(cores) // max(1, concurrency)
    if per < need:
        return {**out, "pinned": False,
                "why": f"{concurrency} concurrent arms need {concurrency * need} cores for "
                       f"disjoint placement; the host has {len(cores)}: arms share cores"}
    slots = [cores[i * per:(i + 1) * per] for i in range(concurrency)]
    return {**out, "pinned": True, "cpu_slots": slots}


def place_on_cores(run: ArmRun, manifest: Manifest, taken: set[Any]) -> ArmRun:
    """A CPU arm pinned to the first free concurrency slot's cores (``taken``: the slots of
    the runs still active, updated), recorded in the manifest's run entry."""
    slots = (manifest.get("placement") or {}).get("cpu_slots") or []
    entry = manifest["runs"][run.run_id]
    slot = None if run.gpus else next((i for i in range(len(slots)) if i not in taken), None)
    if slot is None:
        entry["cpus"] = None
        return run
    taken.add(slot)
    entry["cpu_slot"], entry["cpus"] = slot, list(slots[slot])
    return dataclasses.replace(run, extra={**run.extra, "cpus": tuple(slots[slot])})


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    try:
        fh = open(open_read(path), "rb")
    except OSError:  # missing, or a link / FIFO planted in its place
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
