"""The whole GPU check in one go: ``python bench/gpu_check.py --out DIR`` on a GPU machine.

abtui is for GPU boxes, and a GPU machine is lent for about 15 minutes in all, so every
check that needs one is this one script, run once, with a time budget per step. It never
changes the GPU's power limit, clocks or modes. In order (``gpu_steps.py``):

1. ``wheels``   what this Python lacks of abtui's dependencies, installed offline from
                the wheelhouse carried along (``--prepare-wheelhouse`` makes it here);
2. ``doctor``   ``abtui doctor``;
3. ``verify``   every sampled field against ``nvidia-smi -q -x`` taken in the same second;
4. ``trace``    two minutes recorded: ResNet-50 training with bf16 AMP, then a sustained
                bf16 matmul at the power limit; it becomes a CI fixture named for the GPU;
5. ``ab``       configs/amp-vs-fp32-local.yaml headless, and the same two configurations
                measured by a plain PyTorch loop (``gpu_independent.py``): the ratios must
                agree within ±3 %;
6. ``console``  the console in tmux for a minute of a run: screen text and an SVG;
7. ``bench``    one telemetry sample of the GPUs, and the reporter's overhead on a
                ResNet-50 step.

Everything goes under ``--out``: ``summary.md`` (what to read first), ``summary.json``,
``logs/`` (each command's output), and ``repo/`` laid out like the repository (the fixture,
the screenshots), to copy in. A failed step never stops the later ones; the exit code is 0
when every step passed, 1 when one did not, 2 for bad usage.

``--dry-run`` runs every step here, on the CPU: the fake NVML of ``tests/fake_nvml.py``
(through ``bench/gpu_fake/pynvml.py``, so abtui's real NVML code runs) and a fake
``nvidia-smi``, a small CNN for ResNet-50, a float32 matmul on the CPU, short budgets. It
is tested in CI (tests/test_gpu_check.py), so the real run cannot fail for a reason a CPU
could have caught. What it cannot check: CUDA itself, real NVML values, the ±3 % agreement
(the CPU is too noisy for it; it is computed and reported, not enforced).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_steps import Check, Outcome, prepare_wheelhouse  # noqa: E402
from gpu_steps_run import STEPS  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def _summary(check: Check, outcomes: list[Outcome]) -> str:
    lines = [f"# GPU check{' (dry run on the CPU)' if check.dry else ''}", "",
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
             f"{check.facts.get('gpu_name') or 'no GPU named'}, Python {sys.version.split()[0]}",
             "", "| step | result | seconds | budget | what |", "|---|---|---:|---:|---|"]
    for o in outcomes:
        mark = {True: "passed", False: "FAILED", None: "not run"}[o.ok]
        lines.append(f"| {o.name} | {mark} | {o.seconds:.0f} | {o.budget:.0f} | "
                     f"{o.note.replace('|', '/')} |")
    for o in outcomes:
        if o.report:
            lines += ["", f"## {o.name}", "", o.report.rstrip()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python bench/gpu_check.py",
                                description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, help="where everything is written (made if missing)")
    p.add_argument("--dry-run", action="store_true", help="on the CPU, with the fake NVML")
    p.add_argument("--steps", default=",".join(s.name for s in STEPS),
                   help="comma-separated subset of: " + ", ".join(s.name for s in STEPS))
    p.add_argument("--wheelhouse", type=Path, default=REPO / ".gpu-wheelhouse",
                   help="wheels for what the GPU machine lacks (default .gpu-wheelhouse)")
    p.add_argument("--install-all", action="store_true",
                   help="install every dependency from the wheelhouse, even those present "
                        "(the dry run's proof that the wheelhouse installs offline)")
    p.add_argument("--site", type=Path, default=None,
                   help="where wheels are installed (default: a folder beside --out)")
    p.add_argument("--gpu", type=int, default=0, help="the GPU index the runs use")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds for all steps (default: the sum of their budgets); a step "
                        "with less than half its budget left is not started")
    p.add_argument("--prepare-wheelhouse", type=Path, metavar="DIR",
                   help="(here, with network) download the wheels and exit")
    p.add_argument("--python-version", action="append", default=[],
                   help="with --prepare-wheelhouse: Pythons to fetch for (default 3.10-3.13)")
    args = p.parse_args(argv)
    if args.prepare_wheelhouse is not None:
        return prepare_wheelhouse(args.prepare_wheelhouse,
                                  args.python_version or ["3.10", "3.11", "3.12", "3.13"])
    if args.out is None:
        p.error("--out is required")
    names = [n.strip() for n in args.steps.split(",") if n.strip()]
    unknown = sorted(set(names) - {s.name for s in STEPS})
    if unknown:
        p.error(f"unknown step(s): {', '.join(unknown)}")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    check = Check(out=out, dry=args.dry_run, gpu=args.gpu, wheelhouse=args.wheelhouse.resolve(),
                  site=(args.site or out.parent / f".{out.name}-site").resolve(),
                  install_all=args.install_all)
    total = args.budget or sum(s.budget(check.dry) for s in STEPS if s.name in names)
    deadline = time.monotonic() + total
    outcomes: list[Outcome] = []
    for step in STEPS:
        if step.name not in names:
            continue
        budget = step.budget(check.dry)
        left = deadline - time.monotonic()
        if left < budget * 0.5:
            outcomes.append(Outcome(step.name, None, 0.0, budget,
                                    f"not started: {left:.0f} s left of the check's budget"))
            continue
        t0 = time.monotonic()
        print(f"gpu_check: {step.name} (budget {budget:.0f} s)", flush=True)
        try:
            outcome = step.run(check, min(budget, left))
        except Exception as exc:  # noqa: BLE001 - one step's failure never stops the others
            outcome = Outcome(step.name, False, 0.0, budget, f"{type(exc).__name__}: {exc}")
        outcome.seconds = time.monotonic() - t0
        outcome.budget = budget
        outcomes.append(outcome)
        print(f"gpu_check: {step.name}: {'passed' if outcome.ok else 'FAILED'} "
              f"in {outcome.seconds:.0f} s: {outcome.note}", flush=True)
        (out / "summary.md").write_text(_summary(check, outcomes))  # kept if a later step hangs
    (out / "summary.md").write_text(_summary(check, outcomes))
    (out / "summary.json").write_text(json.dumps({
        "dry_run": check.dry, "facts": check.facts, "python": sys.version.split()[0],
        "steps": [o.to_dict() for o in outcomes]}, indent=1))
    print((out / "summary.md").read_text())
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
