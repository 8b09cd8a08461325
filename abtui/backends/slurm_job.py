"""What one Slurm job of an arm is: its sbatch options, its batch script and its step script.

Pure functions of the spec and the run (tested on their exact text). The batch script

1. writes the node's facts (``abtui.telemetry.node facts``) into the arm's folder;
2. starts the telemetry step beside the arm (``srun --overlap``: it takes no CPU, memory
   or GPU from the arm's allocation, and sees the job's GPUs);
3. runs the arm as one step (``srun``), one task per node: the step script runs abtui's
   relay (``local_wrapper.py``), which writes the arm's output to ``output.log`` and its
   exit status to ``exit_code``, the same files with the same resumable offsets as the
   local backend. A multi-node arm runs ``torchrun`` on every node (rendezvous at the
   first node); node 0 writes ``output.log``, node k ``output.node<k>.log``.

The run directory must be on a path the nodes share (the Slurm convention for job output).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from abtui.rundir import NODE_FACTS, NODE_TELEMETRY
from abtui.spec import ArmRun, ExperimentSpec

RDZV_PORT = 29500


def sbatch_options(spec: ExperimentSpec, run: ArmRun, arm_dir: Path, cwd: Path) -> list[str]:
    """The job's sbatch options, from the spec's ``slurm:`` section and the run."""
    s = spec.slurm
    opts = [f"--job-name=abtui-{spec.name}-{run.run_id}", f"--output={arm_dir / 'slurm.out'}",
            "--open-mode=append", f"--chdir={cwd}", "--export=ALL", "--no-requeue",
            f"--nodes={s.nodes}", "--ntasks-per-node=1"]
    gpus = len(run.gpus)
    if gpus:
        opts.append(f"--gres=gpu:{gpus}" if s.gres_flag == "gres" else f"--gpus-per-node={gpus}")
    for flag, value in (("partition", s.partition), ("account", s.account), ("qos", s.qos),
                        ("constraint", s.constraint), ("time", s.time_limit),
                        ("cpus-per-task", s.cpus_per_task), ("mem", s.mem)):
        if value is not None:
            opts.append(f"--{flag}={value}")
    node = run.extra.get("node")
    if node:
        opts.append(f"--nodelist={node}")
    if s.exclude:
        opts.append(f"--exclude={','.join(s.exclude)}")
    return [*opts, *s.sbatch_args]


def batch_script(spec: ExperimentSpec, run: ArmRun, arm_dir: Path, python: str,
                 step: Path) -> str:
    """The batch script (POSIX sh) for one run."""
    q = shlex.quote
    s = spec.slurm
    gres = ""
    if run.gpus:
        gres = (f" --gres=gpu:{len(run.gpus)}" if s.gres_flag == "gres"
                else f" --gpus-per-node={len(run.gpus)}")
    lines = [
        "#!/bin/sh",
        f"# abtui: run {run.run_id} of experiment {spec.name} (written by abtui; rerun with abtui)",
        f"ARM_DIR={q(str(arm_dir))}",
        f"PY={q(python)}",
        "export ABTUI_HEAD_NODE=\"$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1)\"",
        f'"$PY" -m abtui.telemetry.node facts "$ARM_DIR/{NODE_FACTS}" 2>>"$ARM_DIR/node.err" || true',
    ]
    if s.telemetry:
        lines += [
            f"srun --overlap --nodes=1 --ntasks=1{gres} \"$PY\" -m abtui.telemetry.node sample "
            f"\"$ARM_DIR/{NODE_TELEMETRY}\" --run {q(run.run_id)} "
            f"--interval {spec.telemetry.interval_s:g} --until \"$ARM_DIR/exit_code\" "
            "2>>\"$ARM_DIR/node.err\" &",
            "TELEMETRY=$!",
        ]
    lines += [
        f"srun --nodes={s.nodes} --ntasks={s.nodes} --ntasks-per-node=1 --kill-on-bad-exit=1 "
        f"{q(str(step))}",
        "code=$?",
    ]
    if s.telemetry:
        # the agent stops on its own once exit_code exists; a stuck one is ended after 15 s
        lines += ['( sleep 15; kill "$TELEMETRY" 2>/dev/null ) &',
                  'wait "$TELEMETRY" 2>/dev/null']
    lines.append('exit "$code"')
    return "\n".join(lines) + "\n"


def step_script(spec: ExperimentSpec, run: ArmRun, arm_dir: Path, python: str, wrapper: Path,
                argv: list[str]) -> str:
    """What runs on each node of the job: the relay around the arm's command."""
    q = shlex.quote
    nodes, gpus = spec.slurm.nodes, len(run.gpus)
    command = " ".join(q(a) for a in argv)
    if nodes > 1 or gpus > 1:
        args = argv[1:]
        if args and args[0] == "-u":
            args = args[1:]
        rdzv = f"--rdzv-backend=c10d --rdzv-endpoint=\"$ABTUI_HEAD_NODE:{RDZV_PORT}\" " \
            "--rdzv-id=\"abtui-$SLURM_JOB_ID\"" if nodes > 1 else "--standalone"
        command = (f"{q(python)} -m torch.distributed.run --nnodes={nodes} "
                   f"--node-rank=\"$SLURM_NODEID\" --nproc-per-node={max(gpus, 1)} {rdzv} "
                   + " ".join(q(a) for a in args))
    return "\n".join([
        "#!/bin/sh",
        f"ARM_DIR={q(str(arm_dir))}",
        'if [ "${SLURM_NODEID:-0}" = 0 ]; then OUT=output.log; MARK=exit_code;',
        'else OUT="output.node$SLURM_NODEID.log"; MARK="exit_code.node$SLURM_NODEID"; fi',
        f"exec {q(python)} {q(str(wrapper))} \"$ARM_DIR/$MARK\" \"$ARM_DIR/$OUT\" -- {command}",
    ]) + "\n"


#: A run's own environment in a job array, passed by sbatch under ``ABTUI_T<task>_<NAME>``.
TASK_VAR = "ABTUI_T{task}_{name}"


@dataclass(frozen=True)
class ArrayTask:
    """One run of a job array: its id, batch script, working folder and the names of the
    variables of its environment that differ from the array's."""

    run_id: str
    script: Path
    cwd: Path
    own: tuple[str, ...]


def array_script(spec: ExperimentSpec, tasks: Sequence[ArrayTask]) -> str:
    """The batch script of a job array (POSIX sh): task i takes its run's own variables
    (only their names are written here: the values come in the job's environment, so a
    secret in an arm's env is never on disk), goes to the run's working folder and runs
    the run's ``job.sh``, which is the same script a job of its own would run."""
    q = shlex.quote
    lines = ["#!/bin/sh",
             f"# abtui: a job array of experiment {spec.name}: task i runs one run's job.sh "
             "(written by abtui; rerun with abtui)",
             'case "${SLURM_ARRAY_TASK_ID:-}" in']
    for i, task in enumerate(tasks):
        exports = "".join(f'export {n}="${TASK_VAR.format(task=i, name=n)}"; ' for n in task.own)
        lines.append(f"{i}) {exports}cd {q(str(task.cwd))} || exit 1; "
                     f"SCRIPT={q(str(task.script))} ;;  # {task.run_id}")
    lines += ['*) echo "abtui: no task ${SLURM_ARRAY_TASK_ID:-} in this array" >&2; exit 2 ;;',
              "esac"]
    names = [TASK_VAR.format(task=i, name=n) for i, t in enumerate(tasks) for n in t.own]
    for k in range(0, len(names), 20):  # no run sees the others' variables
        lines.append("unset " + " ".join(names[k:k + 20]))
    lines.append('exec /bin/sh "$SCRIPT"')
    return "\n".join(lines) + "\n"
