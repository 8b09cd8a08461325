"""Slurm backend: one batch job per run, submitted with sbatch, followed through the run dir.

The job's output goes to files in the run directory (which must be on a path the nodes
share, as Slurm job output always is): the arm's own output to ``output.log`` through
abtui's relay, so that lines are followed with the same byte-offset resume tokens as the
local backend and a monitor that died reattaches without losing or doubling a line;
Slurm's own messages (time limit, node failure) to ``slurm.out``. The job id is the
handle's ref (in the manifest): ``abtui attach`` finds the job again, ``abtui stop``
cancels it. The job state comes from squeue / scontrol / sacct (``slurm_cli``).

Jobs are submitted with ``--no-requeue``: a job requeued after a node failure would start
the arm again in the same output file and mix two runs into one curve. A lost job is
reported as lost (NODE_FAIL, PREEMPTED), and the experiment can be run again.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from abtui.backends.base import (
    ArmExit,
    ArmHandle,
    Backend,
    arm_process_env,
    fill_out,
    lightning_env,
)
from abtui.backends.local import WRAPPER, FollowsOutputFile, describe_exit, read_marker
from abtui.backends.slurm_cli import ENDED_WORDS, JobStates, cancel, cluster_facts, submit
from abtui.backends.slurm_job import (
    TASK_VAR,
    ArrayTask,
    array_script,
    batch_script,
    sbatch_options,
    step_script,
)
from abtui.infra.errors import AbtuiError, BackendError
from abtui.infra.secrets import mask_argv
from abtui.rundir import NODE_FACTS, NODE_TELEMETRY, SLURM_ARRAYS, RunDir
from abtui.spec import ArmRun, ExperimentSpec

SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: The options that differ run by run and are the array's own (its name, output, folder).
PER_RUN_OPTIONS = ("--job-name=", "--output=", "--chdir=")
#: Ended states in which the arm was taken away, not failed on its own (status "lost").
LOST_STATES = frozenset({"NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "REVOKED", "", "UNKNOWN"})


class SlurmBackend(FollowsOutputFile, Backend):
    """Arms as Slurm jobs; GPUs allocated by Slurm (``--gres=gpu:N``), never by index."""

    name = "slurm"
    SUPPORTS_GPUS = True
    SUPPORTS_REATTACH = True
    SUPPORTS_RESOURCE_LIMITS = True
    NODE_TELEMETRY_PATH = NODE_TELEMETRY  # beside the job's other files in the arm's folder

    def __init__(self, spec: ExperimentSpec, workdir: str | Path | None = None) -> None:
        self.spec = spec
        self.workdir = Path(workdir) if workdir else Path.cwd()
        self.states = JobStates()

    def is_remote(self, run: ArmRun) -> bool:
        return True  # sampled on its node by the job's telemetry step

    # -- before the arms ---------------------------------------------------------------
    def prepare(self, spec: ExperimentSpec, runs: list[ArmRun], rundir: RunDir) -> dict[str, Any]:
        facts = cluster_facts()  # a clear error now if the controller cannot be reached
        return {"slurm": facts, "python": sys.executable, "warnings": []}

    def _argv(self, run: ArmRun) -> list[str]:
        argv = list(run.command)
        if argv[0] in ("python", "python3"):
            argv[0] = sys.executable  # the interpreter abtui runs on, on the shared path
        return argv

    def _cwd(self, run: ArmRun) -> Path:
        return Path(run.extra["cwd"]) if run.extra.get("cwd") else self.workdir

    def _env(self, run: ArmRun, rundir: RunDir) -> dict[str, str]:
        out = str(rundir.arm_dir(run.run_id) / "out")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        env.update(run.env)
        env.update({"PYTHONUNBUFFERED": "1", "ABTUI_ARM": run.arm, "ABTUI_RUN_ID": run.run_id,
                    # the node agent tells the experiment's processes from foreign load by it
                    "ABTUI_EXPERIMENT": rundir.name,
                    "ABTUI_SEED": str(run.seed), "ABTUI_OUT": out,
                    "CUDA_DEVICE_ORDER": "PCI_BUS_ID"})
        env.update(arm_process_env(env, rundir, run.run_id))
        env.update(lightning_env(run.env, out))
        if run.gpus:
            env.pop("CUDA_VISIBLE_DEVICES", None)  # Slurm sets it to the GPUs it allocated
        else:
            env["CUDA_VISIBLE_DEVICES"] = ""  # an arm with no GPUs sees none
        return env

    # -- the interface -----------------------------------------------------------------
    def _write_job(self, run: ArmRun, rundir: RunDir) -> tuple[Path, list[str], list[str]]:
        """The run's step and batch scripts (written), its sbatch options and its argv."""
        arm_dir = rundir.arm_dir(run.run_id)
        (arm_dir / "out").mkdir(mode=0o700, exist_ok=True)
        argv = fill_out(self._argv(run), str(arm_dir / "out"))
        step = arm_dir / "step.sh"
        script = arm_dir / "job.sh"
        for path, text in ((step, step_script(self.spec, run, arm_dir, sys.executable, WRAPPER, argv)),
                           (script, batch_script(self.spec, run, arm_dir, sys.executable, step))):
            _write_script(path, text)
        rundir.output_path(run.run_id).touch(mode=0o600)
        return script, sbatch_options(self.spec, run, arm_dir, self._cwd(run)), argv

    def _handle(self, run: ArmRun, rundir: RunDir, job_id: str, argv: list[str],
                options: list[str], **more: Any) -> ArmHandle:
        self.states.watch(job_id)
        return ArmHandle(run.run_id, {"job_id": job_id,
                                      "marker": str(rundir.arm_dir(run.run_id) / "exit_code"),
                                      "argv": mask_argv(argv), "sbatch": options,
                                      "remote": True,  # on its node: see is_remote
                                      "submitted_at": time.time(), **more})

    def launch(self, run: ArmRun, rundir: RunDir) -> ArmHandle:
        script, options, argv = self._write_job(run, rundir)
        try:
            job_id = submit(str(script), options, self._env(run, rundir))
        except BackendError as exc:
            raise BackendError(f"arm {run.run_id}: {exc}") from None
        return self._handle(run, rundir, job_id, argv, options)

    LAUNCHES_GROUPS = True

    def launch_group(self, runs: list[ArmRun], rundir: RunDir, limit: int
                     ) -> list[ArmHandle | AbtuiError]:
        """A replicate's runs as one job array (``sbatch --array=0-N%limit``): one entry in
        the queue, Slurm holding it to ``limit`` tasks at once. Runs whose jobs would ask for
        different resources (``array_key``), or all of them with ``slurm.array: false``,
        are jobs of their own (then at most ``limit`` at once is not Slurm's to keep: the
        jobs are submitted together, as the arms of a replicate always were)."""
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, run in enumerate(runs):
            key = array_key(sbatch_options(self.spec, run, rundir.arm_dir(run.run_id),
                                           self._cwd(run)))
            groups.setdefault(key if self.spec.slurm.array else (run.run_id,), []).append(i)
        out: list[ArmHandle | AbtuiError] = [BackendError("not submitted")] * len(runs)
        for members in groups.values():
            chosen = [runs[i] for i in members]
            handles = (self._launch_array(chosen, rundir, limit) if len(chosen) > 1
                       else super().launch_group(chosen, rundir, limit))
            for i, handle in zip(members, handles, strict=True):
                out[i] = handle
        return out

    def _launch_array(self, runs: list[ArmRun], rundir: RunDir, limit: int
                      ) -> list[ArmHandle | AbtuiError]:
        jobs = [self._write_job(run, rundir) for run in runs]
        envs = [self._env(run, rundir) for run in runs]
        common = {k: v for k, v in envs[0].items() if all(e.get(k) == v for e in envs[1:])}
        own = [tuple(sorted(k for k in env if k not in common)) for env in envs]
        if any(not SHELL_NAME.fullmatch(k) for names in own for k in names):
            return super().launch_group(runs, rundir, limit)  # not passable by name
        env = dict(common)
        for i, (names, e) in enumerate(zip(own, envs, strict=True)):
            env.update({TASK_VAR.format(task=i, name=k): e[k] for k in names})
        folder = rundir.root / SLURM_ARRAYS
        folder.mkdir(mode=0o700, exist_ok=True)
        n = len(list(folder.glob("array-*.sh")))
        script = folder / f"array-{n}.sh"
        _write_script(script, array_script(self.spec, [
            ArrayTask(run.run_id, job[0], self._cwd(run), names)
            for run, job, names in zip(runs, jobs, own, strict=True)]))
        name = f"--job-name=abtui-{self.spec.name}-r{runs[0].replicate}"
        throttle = f"%{limit}" if limit < len(runs) else ""
        options = [name, f"--output={folder / f'array-{n}-%a.out'}", f"--chdir={rundir.root}",
                   f"--array=0-{len(runs) - 1}{throttle}", *array_key(jobs[0][1])]
        try:
            array_id = submit(str(script), options, env)
        except BackendError as exc:
            return [BackendError(f"arm {run.run_id}: {exc}") for run in runs]
        return [self._handle(run, rundir, f"{array_id}_{i}", job[2], options, array=array_id,
                             task=i) for i, (run, job) in enumerate(zip(runs, jobs, strict=True))]

    def _alive(self, handle: ArmHandle) -> bool:
        job_id = handle.ref.get("job_id")
        if not job_id:
            return False
        job = self.states.get(str(job_id))
        return job.live or job.state == "UNREACHABLE"  # an unreachable controller: still running

    def poll(self, handle: ArmHandle) -> ArmExit | None:
        if self._alive(handle):
            return None
        job_id = str(handle.ref.get("job_id") or "")
        job = self.states.get(job_id)
        marker = Path(handle.ref.get("marker") or "")
        code = read_marker(marker) if handle.ref.get("marker") else None
        try:
            finished = marker.stat().st_mtime
        except OSError:
            finished = time.time()
        state = job.state or "UNKNOWN"
        if code is None and state in ("COMPLETED", "FAILED", "OUT_OF_MEMORY") \
                and job.exit_code is not None:
            # the arm never wrote its status (killed with its relay): the batch script's.
            # Never for a job cancelled or lost before it ran: its "0:0" means nothing ran.
            code = -job.signal if job.signal else job.exit_code
        if state == "COMPLETED" and code == 0:
            return ArmExit(0, finished_at=finished)
        words = ENDED_WORDS.get(state, state.lower() if job.state else
                                "no longer known to the controller")
        why = describe_exit(code) if code not in (0, None) else None
        error = f"Slurm job {job_id} {words} ({state})" + (f"; the arm {why}" if why else "")
        if job.reason and job.reason not in ("None", "NonZeroExitCode"):
            error += f"; reason: {job.reason}"
        lost = code is None and state in LOST_STATES
        return ArmExit(code, oom_killed=state == "OUT_OF_MEMORY", error=error, finished_at=finished,
                       lost=lost)

    def queued(self, handle: ArmHandle) -> str | None:
        job = self.states.get(str(handle.ref.get("job_id") or ""))
        if job.state in ("PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD"):
            return f"Slurm job {job.job_id} {job.state.lower()}: {job.reason or 'waiting'}"
        return None

    def stop(self, handle: ArmHandle, grace_s: float = 10.0) -> None:
        job_id = str(handle.ref.get("job_id") or "")
        if not job_id or not self._alive(handle):
            return
        if self.states.get(job_id).state == "PENDING":  # nothing runs yet (a throttled array
            cancel(job_id)  # task, a held job): no arm to let save, no grace to wait out
            return
        with contextlib.suppress(BackendError):  # the relay forwards TERM: the arm may save
            cancel(job_id, signal="TERM")
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and self._alive(handle):
            time.sleep(0.5)
        if self._alive(handle):
            cancel(job_id)

    def inspect(self, handle: ArmHandle) -> dict[str, Any]:
        """The job and, once the job has started, its node's facts (``node.json``)."""
        facts: dict[str, Any] = {"job_id": handle.ref.get("job_id"), "argv": handle.ref.get("argv"),
                                 "python": sys.executable}
        marker = handle.ref.get("marker")
        node = self.node_facts(Path(marker).with_name(NODE_FACTS)) if marker else None
        if node:
            facts["host"] = node.get("host")
            facts["node"] = node
        job = self.states.get(str(handle.ref.get("job_id") or ""))
        if job.nodes:
            facts["nodes"] = job.nodes
        return facts

    @staticmethod
    def node_facts(path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def pids(self, handle: ArmHandle) -> list[int]:
        return []  # the arm runs on its node; its processes are sampled there

    def find(self, rundir: RunDir) -> dict[str, ArmHandle]:
        manifest = rundir.read_manifest()
        found = {}
        for run_id, entry in (manifest.get("runs") or {}).items():
            ref = entry.get("ref") or {}
            if ref.get("job_id"):
                found[run_id] = ArmHandle(run_id, dict(ref))
                self.states.watch(str(ref["job_id"]))
        return found


def array_key(options: list[str]) -> tuple[str, ...]:
    """The options a job array's tasks must share: every option but its name, output and
    folder (runs asking for other resources or nodes are not one array)."""
    return tuple(o for o in options if not o.startswith(PER_RUN_OPTIONS))


def _write_script(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o700)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


__all__ = ["SlurmBackend"]
