"""Slurm through its command-line tools: sbatch, squeue, scontrol, sacct, scancel, sinfo.

The commands are Slurm's stable interface (nothing is linked against libslurm, whose ABI
changes every release), so one abtui works with any Slurm a cluster runs. Every call has a
timeout and turns a missing tool or an unreachable controller into a ``BackendError`` with
the tool's own words. Job states are read for all of an experiment's jobs in one query and
cached for ``STATE_TTL_S`` (a controller serves a whole cluster; abtui must not poll it
once per arm per half second).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from abtui.infra.errors import BackendError

TIMEOUT_S = 30.0
STATE_TTL_S = 2.0
#: Job states in which the job still runs or may still run (squeue's long names).
LIVE = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED",
                  "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT",
                  "RESV_DEL_HOLD", "STOPPED"})
#: What an ended state means, in words for the arm's exit.
ENDED_WORDS = {
    "COMPLETED": "completed",
    "FAILED": "failed",
    "CANCELLED": "cancelled (scancel, or an administrator)",
    "TIMEOUT": "killed at its time limit",
    "PREEMPTED": "preempted by a higher-priority job",
    "NODE_FAIL": "lost with its node (NODE_FAIL)",
    "OUT_OF_MEMORY": "killed for using more memory than it asked for",
    "BOOT_FAIL": "its node failed to boot",
    "DEADLINE": "missed its deadline",
    "REVOKED": "revoked (federation)",
    "SPECIAL_EXIT": "held after a special exit",
}


@dataclass(frozen=True)
class JobState:
    """One job as the controller reports it."""

    job_id: str
    state: str  # RUNNING, TIMEOUT, ... ("" when the controller no longer knows the job)
    reason: str = ""
    nodes: str = ""
    exit_code: int | None = None  # the batch script's exit status
    signal: int | None = None  # the signal that ended it, if any

    @property
    def live(self) -> bool:
        return self.state in LIVE


def run_tool(argv: list[str], *, env: Mapping[str, str] | None = None,
             timeout: float = TIMEOUT_S) -> str:
    """Run one Slurm command; its stdout, or a BackendError with its stderr."""
    if shutil.which(argv[0]) is None:
        raise BackendError(f"{argv[0]}: not found (is Slurm's client installed on this host?)")
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL, env=dict(env) if env is not None else None)
    except subprocess.TimeoutExpired:
        raise BackendError(f"{argv[0]}: no answer in {timeout:.0f} s (is slurmctld up?)") from None
    except OSError as exc:
        raise BackendError(f"{argv[0]}: {exc}") from None
    if out.returncode != 0:
        words = " ".join((out.stderr or out.stdout).split())[:400] or f"exit {out.returncode}"
        raise BackendError(f"{argv[0]} failed: {words}")
    return out.stdout


def submit(script: str, options: list[str], env: Mapping[str, str]) -> str:
    """``sbatch --parsable OPTIONS SCRIPT``: the job id."""
    out = run_tool(["sbatch", "--parsable", *options, script], env=env).strip()
    job_id = out.split(";")[0].strip()  # "123" or "123;cluster"
    if not re.fullmatch(r"\d+(_\d+)?", job_id):
        raise BackendError(f"sbatch printed no job id: {out[:200]!r}")
    return job_id


def cancel(job_id: str, signal: str | None = None) -> None:
    """``scancel`` (with ``--signal``: only that signal, to the batch shell and steps)."""
    argv = ["scancel", *(["--full", f"--signal={signal}"] if signal else []), job_id]
    try:
        run_tool(argv)
    except BackendError as exc:
        if "Invalid job id" not in str(exc) and "already completing" not in str(exc):
            raise


def _exit(text: str) -> tuple[int | None, int | None]:
    m = re.fullmatch(r"(\d+):(\d+)", text.strip())
    if not m:
        return None, None
    code, sig = int(m.group(1)), int(m.group(2))
    return code, (sig or None)


def query_squeue(job_ids: Iterable[str]) -> dict[str, JobState]:
    """Live jobs (squeue lists a job until it ends and MinJobAge passes)."""
    ids = ",".join(job_ids)
    if not ids:
        return {}
    # -r: a job array's tasks one a line, as "123_4" (pending ones too, not "123_[4-7%2]")
    out = run_tool(["squeue", "-h", "-r", "-j", ids, "--states=all", "-o", "%i|%T|%r|%N"])
    found = {}
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) == 4:
            found[parts[0]] = JobState(parts[0], parts[1], parts[2], parts[3])
    return found


def query_scontrol(job_id: str) -> JobState | None:
    """One job's full record (its exit code; squeue shows none)."""
    try:
        out = run_tool(["scontrol", "show", "job", "-o", job_id])
    except BackendError:
        return None
    fields = dict(re.findall(r"(\w+)=(\S*)", out))
    if "JobState" not in fields:
        return None
    code, sig = _exit(fields.get("ExitCode", ""))
    return JobState(job_id, fields["JobState"], fields.get("Reason", ""),
                    fields.get("NodeList", ""), code, sig)


def query_sacct(job_id: str) -> JobState | None:
    """From accounting, for a job the controller has forgotten (needs slurmdbd)."""
    try:
        out = run_tool(["sacct", "-n", "-P", "-X", "-j", job_id, "-o", "JobID,State,ExitCode,NodeList"])
    except BackendError:
        return None
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) == 4 and parts[0] == job_id:
            state = parts[1].split()[0] if parts[1] else ""  # "CANCELLED by 0"
            code, sig = _exit(parts[2])
            return JobState(job_id, state, "", parts[3], code, sig)
    return None


class JobStates:
    """The states of an experiment's jobs, one squeue for all, cached briefly."""

    def __init__(self, ttl: float = STATE_TTL_S) -> None:
        self.ttl = ttl
        self._jobs: set[str] = set()
        self._cache: dict[str, JobState] = {}
        self._ended: dict[str, JobState] = {}  # final: asked for once
        self._at = 0.0
        self._lock = threading.Lock()

    def watch(self, job_id: str) -> None:
        with self._lock:
            self._jobs.add(job_id)
            self._at = 0.0

    def get(self, job_id: str) -> JobState:
        """The job's state now (at most ``ttl`` old); an ended job's full record once."""
        with self._lock:
            self._jobs.add(job_id)
            if job_id in self._ended:
                return self._ended[job_id]
            if time.monotonic() - self._at > self.ttl or job_id not in self._cache:
                live = [j for j in self._jobs if j not in self._ended]
                try:
                    self._cache = query_squeue(live)
                except BackendError as exc:
                    # unreachable: the jobs may still run; said for ``ttl`` without asking
                    # again (a controller that does not answer costs a timeout a call)
                    down = "Invalid job id" not in str(exc)
                    self._cache = {j: JobState(j, "UNREACHABLE", str(exc)) for j in live} \
                        if down else {}
                self._at = time.monotonic()
            state = self._cache.get(job_id)
            if state is not None and (state.live or state.state == "UNREACHABLE"):
                return state
            final = query_scontrol(job_id) or query_sacct(job_id) or state \
                or JobState(job_id, "")
            if final.live:
                return final
            self._ended[job_id] = final
            return final


def cluster_facts() -> dict[str, object]:
    """What ``abtui doctor`` and the manifest say about the cluster: version, nodes, GPUs."""
    version = run_tool(["sinfo", "--version"]).strip()
    nodes = []
    for line in run_tool(["sinfo", "-h", "-N", "-o", "%N|%T|%G|%c|%m|%P"]).splitlines():
        parts = line.split("|")
        if len(parts) == 6:
            nodes.append({"node": parts[0], "state": parts[1], "gres": parts[2],
                          "cpus": parts[3], "memory_mb": parts[4], "partition": parts[5]})
    return {"version": version, "nodes": nodes, "controller": os.environ.get("SLURM_CONF", "")}
