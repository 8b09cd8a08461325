"""The telemetry agent that runs where the GPUs are: on a Slurm node, next to an arm's job.

    python -m abtui.telemetry.node facts OUT.json
    python -m abtui.telemetry.node sample OUT.jsonl --run RUN [--interval 1.0]

``facts`` writes the node's facts once, before the arm starts: hostname, CPU, memory, the
job's ``SLURM_*`` variables (a fixed list: nothing a job could hide a secret in), the GPUs
the job may use (NVML: model, UUID, memory, clock and power ceilings) and the driver.
The backend puts them in the manifest, where the diff compares them between arms.

``sample`` runs the monitor's own sampler (``TelemetrySampler``) on the node and appends
to OUT.jsonl in telemetry.jsonl's format, every GPU attributed to RUN, until SIGTERM
(the end of the job). The monitor follows that file (it lies in the run directory on the
path the nodes share) and folds its samples into the run's telemetry, so the GPU panel and
the throttle confounds work for Slurm arms exactly as for local ones.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abtui.reporter import host_facts
from abtui.telemetry.nvml import NvmlTelemetry
from abtui.telemetry.sampler import TelemetrySampler

if TYPE_CHECKING:  # types only: the telemetry agent's image holds abtui.telemetry alone
    from abtui.run_files import Sample

#: The job's variables recorded (and compared): placement and allocation, never payload.
SLURM_FACTS = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_CLUSTER_NAME", "SLURM_JOB_PARTITION", "SLURM_JOB_ACCOUNT",
               "SLURM_JOB_QOS", "SLURM_JOB_NODELIST", "SLURM_NNODES", "SLURMD_NODENAME",
               "SLURM_NODEID", "SLURM_CPUS_ON_NODE", "SLURM_JOB_CPUS_PER_NODE",
               "SLURM_CPUS_PER_TASK", "SLURM_MEM_PER_NODE", "SLURM_GPUS_ON_NODE",
               "SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "SLURM_GPUS_PER_NODE",
               "SLURM_JOB_CONSTRAINTS", "CUDA_VISIBLE_DEVICES")


def node_facts(nvml: NvmlTelemetry | None = None) -> dict[str, Any]:
    """This node as the job sees it."""
    nvml = nvml or NvmlTelemetry()
    gpus: list[dict[str, Any]] = []
    driver = None
    if nvml.available:
        driver = nvml.driver_version()
        gpus = [nvml.gpu_info(i).to_dict() for i in nvml.gpu_indices()]
    return {
        "host": socket.gethostname(),
        "t": round(time.time(), 3),
        "cpu": host_facts(),
        "slurm": {k: os.environ[k] for k in SLURM_FACTS if k in os.environ},
        "gpus": gpus,
        "driver": driver,
        "nvml": None if nvml.available else nvml.reason_unavailable,
    }


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    """A fresh, exclusively created temporary file renamed over ``path`` (no planted name
    is written through). Inline, not abtui.infra.safe_io: the agent's image holds only
    abtui/telemetry and the reporter."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".abtui-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class Watch:
    """Whether the arm is still there (a sidecar container has nobody to tell it): its
    processes, found by the sampler's tag scan, gone for ``GONE_SCANS`` scans, or never
    seen within ``NEVER_S``."""

    GONE_SCANS = 3
    NEVER_S = 300.0

    def __init__(self, sampler: TelemetrySampler, run_id: str) -> None:
        self.sampler, self.run_id = sampler, run_id
        self.seen, self.missing, self.started = False, 0, time.monotonic()

    def alive(self) -> bool:
        if self.sampler.tagged.get(self.run_id):
            self.seen, self.missing = True, 0
            return True
        self.missing += 1
        if self.seen:
            return self.missing < self.GONE_SCANS
        return time.monotonic() - self.started < self.NEVER_S


def sample_until_stopped(out: Path, run_id: str, interval: float, until: Path | None = None,
                         key: str = "SLURM_JOB_ID", experiment: str | None = None,
                         until_gone: bool = False) -> None:
    """Sample every ``interval`` s into ``out`` until SIGTERM / SIGINT / SIGHUP, until the
    file ``until`` exists (the arm's exit status), or with ``until_gone`` until the arm's
    processes are gone.

    The arm's own processes (by the ``ABTUI_EXPERIMENT`` tag, grouped by ``key``: the
    job id on a Slurm node, the run id beside a container) are the arm; the experiment's
    other arms on this machine are arms too (not foreign load); anything else is foreign."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    own = os.environ.get(key) if key == "SLURM_JOB_ID" else run_id
    sampler = TelemetrySampler(out, interval=interval,
                               experiment=experiment or os.environ.get("ABTUI_EXPERIMENT"),
                               tag_key=key, tag_names={own: run_id} if own else {})
    sampler.arm_of_gpu = {i: run_id for i in sampler.gpu_indices()}
    watch = Watch(sampler, run_id)
    every = max(1, round(5.0 / interval))
    ticks = [0]

    def check(_sample: Sample) -> None:
        if until is not None and until.exists():
            stop.set()
        if until_gone and ticks[0] % every == every - 1 and not watch.alive():
            stop.set()
        ticks[0] += 1

    try:
        sampler.run(stop, merge=check)
    finally:
        sampler.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m abtui.telemetry.node")
    sub = parser.add_subparsers(dest="what", required=True)
    f = sub.add_parser("facts")
    f.add_argument("out", type=Path)
    s = sub.add_parser("sample")
    s.add_argument("out", type=Path)
    s.add_argument("--run", required=True)
    s.add_argument("--interval", type=float, default=1.0)
    s.add_argument("--until", type=Path, help="stop once this file exists")
    s.add_argument("--key", default="SLURM_JOB_ID", help="the variable that groups an arm's processes")
    s.add_argument("--experiment", default=None, help="the ABTUI_EXPERIMENT tag (default: $ABTUI_EXPERIMENT)")
    s.add_argument("--until-gone", action="store_true", help="stop once the arm's processes are gone")
    s.add_argument("--facts", type=Path, default=None, help="write the node's facts here first")
    args = parser.parse_args(argv)
    try:
        if args.what == "facts":
            _write_atomic(args.out, node_facts())
        else:
            if args.facts is not None:
                _write_atomic(args.facts, node_facts())
            sample_until_stopped(args.out, args.run, max(0.1, args.interval), args.until,
                                 args.key, args.experiment, args.until_gone)
    except OSError as exc:
        print(f"abtui node agent: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
