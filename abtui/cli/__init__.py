"""``abtui``: run / attach / ls / stop / report / diff / demo / doctor / validate.

Imports are lazy so that ``abtui --help`` starts fast. Every user error is a message and
an exit code (2 usage/spec, 3 arm failed, 1 gate failed), never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when used: `abtui --help` stays fast
    from collections.abc import Callable

    from abtui.experiment import Experiment

EPILOG = """exit codes: 0 done, 1 a gate failed, 2 bad spec or usage, 3 an arm failed
docs: README.md, docs/protocol.md (log protocol), docs/report.md (report.json)"""


def _parser() -> argparse.ArgumentParser:
    from abtui.cli.ab import margin_arg, replicates_arg

    p = argparse.ArgumentParser(prog="abtui", description="A/B-test deep-learning training runs "
                                "in the terminal: launch every arm, watch, compare, conclude.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    from abtui import __version__

    p.add_argument("--version", action="version", version=f"abtui {__version__}")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")

    def gates(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--gate", action="append", default=[], metavar="EXPR",
                        help="pass/fail gate, e.g. 'throughput_ratio >= 0.97' (repeatable)")
        sp.add_argument("--gate-point", action="store_true",
                        help="with one run per arm, gate the point estimate (by default a gate "
                             "without a calibrated interval fails closed)")
        sp.add_argument("--allow-confounds", action="store_true",
                        help="gate the numbers even when the comparison is confounded or "
                             "unverifiable (by default every gate then fails)")
        sp.add_argument("--metrics-addr", default=None, metavar="HOST:PORT",
                        help="serve a Prometheus endpoint (dcgm-exporter's GPU names, abtui_* "
                             "training series), e.g. 127.0.0.1:9400; another host than "
                             "127.0.0.1 only when you mean it")
        sp.add_argument("--metrics-arms-only", action="store_true",
                        help="with dcgm-exporter on the host: export only which arm owns "
                             "which GPU (join on UUID), not the GPU series again")

    r = sub.add_parser("run", help="start every arm of an experiment and watch it")
    r.add_argument("spec", help="experiment YAML (see configs/)")
    r.add_argument("--headless", action="store_true", help="no console: progress lines, report, exit code")
    r.add_argument("--runs-dir", default="runs", help="where run directories go (default: runs)")
    r.add_argument("--keep", action="store_true", help="keep containers after the end")
    r.add_argument("--stop-on-exit", action="store_true",
                   help="headless: Ctrl-C / SIGTERM stop the arms instead of detaching")
    gates(r)

    ab = sub.add_parser("ab", help="A/B the commands you already have: abtui ab 'CMD A' 'CMD B'",
                        description="Run each command as an arm; the words that differ are the "
                        "treatment. Everything else as abtui run.")
    ab.add_argument("commands", nargs="+", metavar="CMD",
                    help="one quoted command per arm; with --git, the one command after --")
    ab.add_argument("--git", action="append", default=None, metavar="REF",
                    help="an arm per git ref, each in its own worktree: "
                         "abtui ab --git main --git my-branch -- python train.py")
    ab.add_argument("--name", default=None, help="arm names, comma-separated (default: derived)")
    ab.add_argument("--grid", action="append", default=None, metavar="KEY=V1,V2",
                    help="one command with {KEY} placeholders, an arm per combination: "
                         "--grid lr=1e-4,3e-4 --grid opt=sgd,adam (ranked, best first)")
    ab.add_argument("--replicates", type=replicates_arg, default=1,
                    help="runs per arm (>= 3 for a verdict), or auto: add replicate pairs "
                         "until the verdict decides (a difference, or the same within "
                         "--margin), up to --max-replicates")
    ab.add_argument("--margin", type=margin_arg, default=None, metavar="M",
                    help="with --replicates auto: 'the same within ±M' ends the runs too "
                         "(2%% for a ratio; a number in the metric's units for a delta)")
    ab.add_argument("--max-replicates", type=int, default=8, metavar="N",
                    help="with --replicates auto: the budget in runs per arm (default 8)")
    ab.add_argument("--max-minutes", type=float, default=None, metavar="MIN",
                    help="with --replicates auto: start no new pair after this long")
    ab.add_argument("--decide-on", default="throughput_ratio", metavar="METRIC",
                    help="with --replicates auto: the effect the rule decides on "
                         "(throughput_ratio, step_time_ratio, memory_ratio, loss_delta, "
                         "accuracy_delta)")
    ab.add_argument("--steps", type=int, default=None, help="training steps (for the warm-up rule)")
    ab.add_argument("--backend", default="local", metavar="NAME",
                    help="where the arms run: local (default), docker or slurm, or any "
                         "backend declared in abtui.spec.backends (checked with the spec, "
                         "so --help loads no spec code)")
    ab.add_argument("--image", default=None, help="docker: the image every arm runs")
    ab.add_argument("--log-format", default="auto",
                    help="auto, hf_trainer, nanogpt, timm, deepspeed, named, ... or regex:PATTERN "
                         "(named groups are metrics; (?P<step>...) the step)")
    ab.add_argument("--seed-arg", default=None, metavar="WORDS",
                    help="how the script takes a seed, appended to every command: '--seed {seed}'")
    ab.add_argument("--save", default=None, metavar="SPEC", help="write the equivalent spec and exit")
    ab.add_argument("--headless", action="store_true")
    ab.add_argument("--runs-dir", default="runs")
    ab.add_argument("--keep", action="store_true")
    gates(ab)

    from abtui.cli import bisect

    bisect.add_exit_flags(ab)
    bisect.add_parser(sub)

    a = sub.add_parser("attach", help="watch a running or finished experiment again")
    a.add_argument("run_dir")
    a.add_argument("--headless", action="store_true")
    a.add_argument("--resume", action="store_true",
                   help="also start the runs the manifest lists that were never launched "
                        "(only on a run directory of your own that you trust)")
    gates(a)

    ls = sub.add_parser("ls", help="list experiments, running and finished")
    ls.add_argument("--runs-dir", default="runs")

    s = sub.add_parser("stop", help="stop the arms of an experiment")
    s.add_argument("run_dir")
    s.add_argument("--grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL")

    rep = sub.add_parser("report", help="rebuild report.md/json/html from a run directory")
    rep.add_argument("run_dir")
    gates(rep)

    d = sub.add_parser("diff", help="every difference between two past runs (arms matched by name)")
    d.add_argument("run_a")
    d.add_argument("run_b")

    demo = sub.add_parser("demo", help="run the CPU quickstart A/B (console in a terminal)")
    demo.add_argument("--headless", action="store_true")
    demo.add_argument("--runs-dir", default="runs")

    doc = sub.add_parser("doctor", help="what is usable here: Docker, NVIDIA runtime, NVML, torch; "
                         "with a spec, each of its Docker hosts or its Slurm cluster")
    doc.add_argument("spec", nargs="?", default=None,
                     help="check where this spec's arms would run: each host reachable, its "
                          "version, GPUs, the image present (and the same everywhere)")

    v = sub.add_parser("validate", help="check an experiment spec and print the resolved arms")
    v.add_argument("spec")
    return p


def main(argv: list[str] | None = None) -> int:
    import logging

    from abtui.infra.errors import EXIT_USAGE, AbtuiError

    # diagnostics go to the run dir's monitor.log; never let them print over the console
    logging.getLogger("abtui").addHandler(logging.NullHandler())
    args = _parser().parse_args(argv)
    if not args.cmd:
        _parser().print_help()
        return EXIT_USAGE
    # Run directories hold arm output, configs and reports: owner-only (files 0600, folders
    # 0700) whatever the user's umask. Arms get the user's own umask back (local wrapper).
    user_umask = os.umask(0o077)
    os.environ.setdefault("ABTUI_USER_UMASK", f"{user_umask:o}")
    try:
        return int(_dispatch(args) or 0)
    except AbtuiError as exc:
        print(f"abtui: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("abtui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: say so briefly, keep the details in a file
        import tempfile
        import traceback

        fd, path = tempfile.mkstemp(prefix="abtui-error-", suffix=".log")
        with os.fdopen(fd, "w") as fh:
            traceback.print_exc(file=fh)
        print(f"abtui: internal error: {type(exc).__name__}: {exc}\n"
              f"  details in {path} (please report it)", file=sys.stderr)
        return 70


def _dispatch(args: argparse.Namespace) -> int:
    from abtui.infra.untrusted import shown

    cmd = args.cmd
    if cmd == "run":
        return _run(args.spec, args.headless, args.runs_dir, args.gate, args.keep, args.stop_on_exit,
                    _gate_flags(args), metrics=(args.metrics_addr, args.metrics_arms_only))
    if cmd == "ab":
        from abtui.cli.ab import run_ab

        return run_ab(args, _run, _gate_flags(args))
    if cmd == "bisect":
        from abtui.cli.bisect import run_cli

        return run_cli(args)
    if cmd == "demo":
        return _run(str(_quickstart()), args.headless, args.runs_dir, [], False, False)
    if cmd == "attach":
        from abtui.experiment import Experiment

        exp = Experiment.attach(args.run_dir, resume=args.resume)
        _gate_flags_on(exp, _gate_flags(args))
        _serve_metrics(exp, args.metrics_addr, args.metrics_arms_only)
        from abtui.cli.headless import interactive

        if interactive(args.headless):
            return _tui(exp, args.gate)
        from abtui.cli.headless import run_headless

        return run_headless(exp, args.gate)
    if cmd == "report":
        from abtui.conclude import conclude, exit_code
        from abtui.experiment import Experiment
        from abtui.report import render_summary

        exp = Experiment.catch_up(args.run_dir)
        _gate_flags_on(exp, _gate_flags(args))
        report = conclude(exp, args.gate)
        print(shown(render_summary(report)))
        print(f"abtui: wrote {exp.rundir.report_md}, report.json, report.html")
        return exit_code(exp, report)
    if cmd == "stop":
        from abtui.cli.runs import stop_run

        return stop_run(args.run_dir, args.grace)
    if cmd == "ls":
        from abtui.cli.runs import list_runs

        return list_runs(args.runs_dir)
    if cmd == "diff":
        from abtui.diff.render import render_findings
        from abtui.diff.runs import diff_runs_checked

        found, checks = diff_runs_checked(Path(args.run_a), Path(args.run_b))
        print(shown(render_findings(found, checks=checks)))
        return 0
    if cmd == "doctor":
        from abtui.cli.doctor import doctor

        return doctor(args.spec)
    if cmd == "validate":
        from abtui.cli.runs import validate

        return validate(args.spec)
    return 2


def _quickstart() -> Path:
    """The quickstart spec: the repository's (a checkout, an editable install), else the
    copy a wheel carries (setup.py puts it, and the runner, in abtui/_demo)."""
    package = Path(__file__).resolve().parents[1]
    for here in (package.parent / "configs" / "quickstart.yaml", package / "_demo" / "quickstart.yaml"):
        if here.is_file():
            return here
    from abtui.infra.errors import AbtuiError

    raise AbtuiError("the quickstart is not installed (abtui/_demo is missing): reinstall abtui "
                     "from its wheel, or run the demo from the abtui repository")


def _gate_flags(args: argparse.Namespace) -> dict[str, bool]:
    """``--gate-point`` / ``--allow-confounds`` as spec fields (only those given)."""
    flags = {"gate_point": args.gate_point, "allow_confounds": args.allow_confounds}
    return {k: True for k, v in flags.items() if v}


def _gate_flags_on(exp: Any, flags: dict[str, bool]) -> None:
    """The flags on attach / report: they add to the spec's own fields."""
    spec = getattr(exp, "spec", None)
    if flags and spec is not None:
        exp.spec = spec.model_copy(update=flags)


def _serve_metrics(exp: Any, addr: str | None, arms_only: bool = False) -> None:
    """The Prometheus endpoint, when asked for (flag or spec); a port that cannot be bound
    is a warning, never the end of a run that has started."""
    spec = exp.spec
    addr = addr or getattr(spec, "metrics_addr", None)
    if not addr:
        return
    from abtui.experiment.exporter import ExperimentCollector, serve

    collector = ExperimentCollector(exp.store, spec.name, exp.rundir.report_json,
                                    gpu_series=not (arms_only or spec.metrics_arms_only))
    try:
        exp.metrics_server = serve(collector, addr)
    except (OSError, ValueError) as exc:
        print(f"abtui: warning: no metrics endpoint on {addr}: {exc}", file=sys.stderr)
        return
    print(f"abtui: metrics on http://{addr}/metrics", file=sys.stderr)


def _run(spec_path: str, headless: bool, runs_dir: str, gates: list[str], keep: bool,
         stop_on_exit: bool, gate_flags: dict[str, bool] | None = None,
         spec_text: str | None = None, metrics: tuple[str | None, bool] = (None, False),
         then: Callable[[Experiment, int], int] | None = None) -> int:
    """Start the experiment and watch it (console or headless); its exit code, or what
    ``then`` makes of the finished experiment and that code (headless only)."""
    from abtui.compare.gates import parse_gate
    from abtui.experiment import Experiment
    from abtui.spec import load_spec, parse_spec

    spec = parse_spec(spec_text, spec_path) if spec_text is not None else load_spec(spec_path)
    from abtui.spec import spec_warnings

    for w in spec_warnings(spec):
        print(f"abtui: warning: {w}", file=sys.stderr)
    if gate_flags:
        spec = spec.model_copy(update=gate_flags)
    for g in [*spec.gates, *gates]:
        parse_gate(g)  # a bad gate is a usage error before anything starts
    if metrics[0] or spec.metrics_addr:
        from abtui.experiment.exporter import parse_addr

        try:
            parse_addr(metrics[0] or spec.metrics_addr or "")
        except ValueError as exc:  # a usage error before anything starts
            from abtui.infra.errors import SpecError

            raise SpecError("metrics_addr", [str(exc)]) from None
    exp = Experiment.start(spec, spec_path, runs_dir)
    _serve_metrics(exp, metrics[0], metrics[1])
    from abtui.cli.headless import interactive, run_headless

    if interactive(headless):
        return _tui(exp, gates, keep=keep)
    code = run_headless(exp, gates, keep=keep, stop_on_exit=stop_on_exit)
    return then(exp, code) if then is not None else code


def _tui(exp: Experiment, gates: list[str], keep: bool = False) -> int:
    # no guard: a broken console is a bug to see, never a silent switch to headless
    from abtui.tui.app import run_console

    return run_console(exp, gates, keep=keep)


if __name__ == "__main__":
    sys.exit(main())
