"""Small CLI commands: ls, stop, validate."""

from __future__ import annotations

import time
from pathlib import Path

from abtui.errors import RunDirError


def list_runs(runs_dir: str) -> int:
    """One line per run directory: name, status, arms, age."""
    from abtui.experiment.rundir import RunDir
    from abtui.store.arm import ArmStatus

    base = Path(runs_dir)
    if not base.is_dir():
        print(f"no runs under {base}/")
        return 0
    rows = []
    for root in sorted(base.iterdir()):
        try:
            rd = RunDir.open(root)
            m = rd.read_manifest()
        except RunDirError:
            continue
        states = []
        for run_id in m.get("runs", {}):
            ex = rd.read_json(rd.exit_path(run_id)) if (rd.root / "arms" / run_id).is_dir() else None
            states.append((ex or {}).get("status", ArmStatus.RUNNING if m.get("status") == "running"
                                         else "?"))
        running = sum(s == ArmStatus.RUNNING for s in states)
        status = m.get("status", "?")
        if status == "running" and running == 0 and states:
            status = "ended (not reported)"
        elif status == "running" and m.get("detached_at"):
            status = "running (detached)"
        age = time.time() - float(m.get("created_at") or time.time())
        rows.append((root.name, status, ", ".join(f"{r}:{s}" for r, s in zip(m.get("runs", {}), states,
                                                                              strict=False)),
                     f"{age / 3600:.1f}h ago" if age > 3600 else f"{age / 60:.0f}m ago"))
    if not rows:
        print(f"no runs under {base}/")
        return 0
    w = max(len(r[0]) for r in rows)
    for name, status, arms, age in rows:
        print(f"{name:<{w}}  {status:<22} {age:>10}  {arms}")
    return 0


def stop_run(run_dir: str, grace: float) -> int:
    from abtui.backends import make_backend
    from abtui.experiment.rundir import RunDir
    from abtui.spec import ExperimentSpec

    rd = RunDir.open(run_dir)
    m = rd.read_manifest()
    spec = ExperimentSpec.model_validate(m["spec"])
    backend = make_backend(spec, m.get("workdir"))
    found = backend.find(rd)
    if not found:
        print("abtui: no running arms found for this run")
        return 0
    for run_id, handle in found.items():
        if backend.poll(handle) is None:
            print(f"abtui: stopping {run_id}")
            backend.stop(handle, grace)
        backend.cleanup(handle)
    return 0


def validate(spec_path: str) -> int:
    from abtui.spec import load_spec, resolve_runs

    spec = load_spec(spec_path)
    runs = resolve_runs(spec)
    print(f"{spec_path}: valid ({spec.backend} backend, {len(spec.arms)} arms x "
          f"{spec.replicates} replicate(s), {spec.steps} steps)")
    for run in runs:
        gpus = ",".join(map(str, run.gpus)) or "none"
        print(f"  {run.run_id:<10} seed {run.seed:<5} gpus {gpus:<8} {' '.join(run.command)}")
    if not spec.treatment:
        print("warning: no 'treatment' keys declared: every config difference will count as a confound")
    return 0
