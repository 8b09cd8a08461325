"""The commands about run directories: ``abtui ls``, ``abtui stop``, ``abtui validate``."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abtui.infra.errors import EXIT_ARM_FAILED, AbtuiError, RunDirError
from abtui.infra.safe_io import read_bounded
from abtui.infra.untrusted import shown

if TYPE_CHECKING:
    from abtui.rundir import RunDir


def arm_status_on_disk(rd: RunDir, run_id: str, entry: Mapping[str, Any]) -> str:
    """An arm's status from the run dir alone: its exit.json, else the exit code the local
    wrapper left, else whether its process is still alive."""
    import psutil

    ex = rd.read_exit(run_id) if (rd.root / "arms" / run_id).is_dir() else None
    if ex is not None and ex.status:
        return ex.status
    ref = entry.get("ref") or {}
    marker = ref.get("marker")
    if marker and Path(marker).parent == rd.root / "arms" / run_id:  # only its own marker
        try:
            code = int(read_bounded(marker, 64).decode().strip())
            return "done" if code == 0 else "stopped" if code in (-15, 143) else "failed"
        except (OSError, ValueError):
            pass
    pid = ref.get("pid")
    if pid:
        try:
            p = psutil.Process(int(pid))
            created = ref.get("create_time")
            if (not created or abs(p.create_time() - created) <= 1) and p.status() != "zombie":
                return "running"
        except (psutil.Error, ValueError):
            pass
        return "lost"
    if ref.get("container_id"):
        return "running?"  # a container: `abtui attach` asks the engine
    if ref.get("job_id"):
        return "running?"  # a Slurm job: `abtui attach` asks the controller
    return "pending" if not ref else "?"


def run_status_on_disk(rd: RunDir, manifest: Mapping[str, Any], states: list[str]) -> str:
    """The run's status, reconciled with its arms and whether a monitor is alive."""
    status = manifest.get("status", "?")
    live = rd.writer_alive()
    running = sum(s in ("running", "running?") for s in states)
    if status != "running":
        return status
    if live:
        return "running"
    if running:
        return "running (detached)"
    ended = "finished" if states and all(s == "done" for s in states) else "ended"
    return f"{ended} (monitor gone: abtui report to conclude)"


def list_runs(runs_dir: str) -> int:
    """One line per run directory: name, status, arms, age."""
    from abtui.rundir import RunDir

    base = Path(runs_dir)
    if not base.is_dir():
        print(f"no runs under {base}/")
        return 0
    rows: list[tuple[str, str, str, str]] = []
    for root in sorted(base.iterdir()):
        try:
            rd = RunDir.open(root)
            m = rd.read_manifest()
        except RunDirError:
            if (root / "manifest.json").is_file() and not (root / "manifest.json").is_symlink():
                # said, not skipped: `abtui report` on it says why
                rows.append((root.name, "unreadable manifest", "", ""))
            continue
        states = [arm_status_on_disk(rd, run_id, entry)
                  for run_id, entry in (m.get("runs") or {}).items()]
        status = run_status_on_disk(rd, m, states)
        try:
            created = float(m.get("created_at") or time.time())
        except (TypeError, ValueError):
            created = time.time()
        age = time.time() - created if math.isfinite(created) else 0.0
        rows.append((root.name, status, ", ".join(f"{r}:{s}" for r, s in zip(m.get("runs", {}), states,
                                                                              strict=False)),
                     f"{age / 3600:.1f}h ago" if age > 3600 else f"{age / 60:.0f}m ago"))
    if not rows:
        print(f"no runs under {base}/")
        return 0
    rows = [tuple(shown(c) for c in row) for row in rows]  # type: ignore[misc]
    w = max(len(r[0]) for r in rows)
    for name, status, arms, ago in rows:  # arm-made strings: inert before the terminal
        print(f"{name:<{w}}  {status:<22} {ago:>10}  {arms}")
    return 0


def stop_run(run_dir: str, grace: float) -> int:
    from abtui.backends import make_backend
    from abtui.rundir import RunDir
    from abtui.spec import ExperimentSpec

    rd = RunDir.open(run_dir)
    rd.check_owned()  # it signals what the manifest names: only in a run of your own
    m = rd.read_manifest()
    try:
        spec = ExperimentSpec.model_validate(m["spec"])
    except Exception as exc:  # noqa: BLE001 - any malformed spec is the same answer
        raise RunDirError(f"{rd.manifest_path}: the stored spec is unreadable") from exc
    backend = make_backend(spec, m.get("workdir"))
    found = backend.find(rd)
    if not found:
        print("abtui: no running arms found for this run")
        return 0
    refused = 0
    for run_id, handle in found.items():
        try:
            if backend.poll(handle) is None:
                print(f"abtui: stopping {shown(run_id)}")
                backend.stop(handle, grace)
            backend.cleanup(handle)
        except AbtuiError as exc:  # one arm it must not touch never keeps it from the others
            print(f"abtui: {shown(str(exc))}")
            refused += 1
    return EXIT_ARM_FAILED if refused else 0


def validate(spec_path: str) -> int:
    from abtui.infra.secrets import mask_argv
    from abtui.spec import load_spec, resolve_runs, spec_warnings

    spec = load_spec(spec_path)
    runs = resolve_runs(spec)
    print(f"{spec_path}: valid ({spec.backend} backend, {len(spec.arms)} arms x "
          f"{spec.replicates} replicate(s), {spec.steps} steps)")
    for run in runs:
        gpus = ",".join(map(str, run.gpus)) or "none"
        print(f"  {run.run_id:<10} seed {run.seed:<5} gpus {gpus:<8} "
              f"{' '.join(mask_argv(list(run.command)))}")
    for w in spec_warnings(spec):
        print(f"warning: {w}")
    if not spec.treatment:
        print("warning: no 'treatment' keys declared: every config difference will count as a confound")
    return 0
