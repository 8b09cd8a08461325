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
