"""``abtui ab``: an experiment from commands (or git refs, or a grid), written as the spec
``abtui run`` takes, then run exactly as ``abtui run`` runs it; and its option types."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from abtui.experiment import Experiment


def run_ab(args: argparse.Namespace, run: Callable[..., int], gate_flags: dict[str, bool]) -> int:
    """``abtui ab``: the spec the commands describe, then exactly ``abtui run`` (``run``:
    the CLI's own, with the ``--gate-point`` / ``--allow-confounds`` ``gate_flags``)."""
    import yaml

    from abtui.infra.errors import SpecError
    from abtui.spec import parse_spec
    from abtui.spec.ab import ab_spec, git_ab_spec, grid_ab_spec, takes_seed

    names = args.name.split(",") if args.name else None
    if args.log_format.lstrip().startswith("{"):  # '{regex: ...}', as a spec writes it
        try:
            args.log_format = yaml.safe_load(args.log_format)
        except yaml.YAMLError:
            raise SpecError("abtui ab", ["--log-format: not a name, regex:PATTERN or "
                                         "{regex: PATTERN}"]) from None
    try:
        if args.grid:
            if args.git or len(args.commands) != 1:
                raise ValueError("--grid takes one command with {KEY} placeholders (and no --git)")
            data = grid_ab_spec(args.commands[0], args.grid, replicates=args.replicates,
                                steps=args.steps, backend=args.backend, image=args.image,
                                log_format=args.log_format, seed_arg=args.seed_arg)
        elif args.git:
            if args.backend != "local":  # git_ab_spec writes local arms
                raise ValueError("--git arms run on the local backend (a worktree per arm)")
            data = git_ab_spec(args.commands, args.git, names=names, replicates=args.replicates,
                               steps=args.steps, log_format=args.log_format)
        else:
            data = ab_spec(args.commands, names=names, replicates=args.replicates,
                           steps=args.steps, backend=args.backend, image=args.image,
                           log_format=args.log_format, seed_arg=args.seed_arg)
    except ValueError as exc:
        raise SpecError("abtui ab", [str(exc)]) from None
    if args.replicates == "auto":
        data.pop("replicates", None)
        data["sequential"] = sequential_block(args)
    elif args.margin is not None:
        raise SpecError("abtui ab", ["--margin goes with --replicates auto"])
    commands = [data.get("command") or [],
                *((a.get("command") or []) for a in (data.get("arms") or {}).values())]
    if args.replicates != 1 and not any(takes_seed(c) for c in commands):
        print("abtui: warning: the commands take no seed: every replicate gets ABTUI_SEED in its "
              "environment only, and a script that seeds itself runs the same run again "
              "(abtui says so if they come out identical). Hand it the seed with {seed} in "
              "the command or --seed-arg '--seed {seed}'", file=sys.stderr)
    text = "# written by abtui ab\n" + yaml.safe_dump(data, sort_keys=False)
    path = Path(args.save) if args.save else Path.cwd() / "ab.yaml"
    try:  # a bad combination is an error before anything runs, in the words of the options
        parse_spec(text, str(path))
    except SpecError as exc:
        raise SpecError("abtui ab", [re.sub(r"^(<top> )?\(line \d+\): |^line \d+(, column \d+)?: "
                                            r"| \(line \d+\)", "", p)
                                     for p in exc.problems]) from None
    if args.save:
        path.write_text(text)
        print(f"abtui: wrote {path}")
        return 0
    if args.bisect_exit:  # judged at the end; headless (git bisect run has no terminal)
        from abtui.cli.bisect import judgement_of, rule_of

        rule_of(args)  # a bad --metric / --worse-by is a usage error before anything runs
        verdicts = []

        def judged(exp: Experiment, _code: int) -> int:
            verdicts.append(judgement_of(exp.rundir.root, args))
            return verdicts[-1].exit_code

        for _ in range(2):  # as abtui bisect: a confounded comparison is run once more
            code = run(str(path), True, args.runs_dir, args.gate, args.keep, False,
                       gate_flags, spec_text=text, then=judged)
            if not verdicts or not verdicts[-1].confounded:
                break
        return code
    return run(str(path), args.headless, args.runs_dir, args.gate, args.keep, False,
               gate_flags, spec_text=text, metrics=(args.metrics_addr, args.metrics_arms_only))


def replicates_arg(text: str) -> int | str:
    """``--replicates``: a count of runs per arm, or ``auto``."""
    if text == "auto":
        return text
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a number of runs per arm, or auto") from None
    if not 1 <= n <= 100:
        raise argparse.ArgumentTypeError("1 to 100 runs per arm")
    return n


def margin_arg(text: str) -> tuple[float, bool]:
    """``--margin 2%`` (relative) or ``--margin 0.01`` (as written): (value, percent)."""
    pct = text.strip().endswith("%")
    try:
        value = float(text.strip().rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a margin like 2% or 0.01") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("the margin is more than 0")
    return (value / 100 if pct else value), pct


def sequential_block(args: argparse.Namespace) -> dict[str, Any]:
    """The spec's ``sequential`` block from ``abtui ab``'s flags."""
    from abtui.infra.errors import SpecError

    out: dict[str, Any] = {"metric": args.decide_on, "max_replicates": args.max_replicates}
    if args.max_minutes is not None:
        out["max_minutes"] = args.max_minutes
    if args.margin is not None:
        value, pct = args.margin
        if pct and not args.decide_on.endswith("_ratio"):
            raise SpecError("abtui ab", [f"--margin {value * 100:g}%: {args.decide_on} is a "
                                         "difference; give the margin in its units"])
        out["margin"] = value
    out["min_replicates"] = min(3, args.max_replicates)
    return out
