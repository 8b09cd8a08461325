"""``abtui bisect``: find the first commit that made training worse, with a fair, decided
comparison at every counted step.

Each step is an A/B of a commit against the known-good one, each arm in its own worktree
(``abtui ab --git``), run with the sequential design on the judged metric (replicate pairs
are added, up to a budget, until the difference is decided or shown smaller than the
threshold), then judged by ``report.regression``: good, bad, or skip (unknown at the budget,
a commit that does not run, a confounded comparison; a confounded step is run once more
before it is skipped). The search is git bisect's: halve the commits between the last good
and the first bad; a skipped commit is stepped around. Every step's run directory, verdict
and judgement go into ``bisect.json``.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import yaml

from abtui.infra.errors import SpecError
from abtui.infra.safe_io import atomic_write, open_read
from abtui.infra.untrusted import shown
from abtui.report.bisect_page import commit_line, marks, render_bisect
from abtui.report.regression import BAD, GOOD, SKIP, Judgement, Regression, judge

if TYPE_CHECKING:
    from abtui.tui.bisect_line import BisectProgress

EXIT_FOUND, EXIT_UNDECIDED = 0, 3
EXIT_LEFT = 130  # the user left a step's console (detach or stop): resumable, as after ^C


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), "-c", "core.hooksPath=/dev/null", *args],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                         check=False)
    if out.returncode != 0:
        raise SpecError("abtui bisect", [f"git {' '.join(args)}: {out.stderr.strip()[:300]}"])
    return out.stdout.strip()


def commits_between(repo: Path, good: str, bad: str) -> tuple[str, list[str]]:
    """The good commit, and the commits after it up to ``bad`` (oldest first), on the
    ancestry path."""
    g = _git(repo, "rev-parse", "--verify", "--end-of-options", f"{good}^{{commit}}")
    b = _git(repo, "rev-parse", "--verify", "--end-of-options", f"{bad}^{{commit}}")
    if subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", g, b],
                      capture_output=True, timeout=60, check=False).returncode != 0:
        raise SpecError("abtui bisect", [f"{good} is not an ancestor of {bad}"])
    listed = _git(repo, "rev-list", "--ancestry-path", "--reverse", f"{g}..{b}")
    return g, [c for c in listed.splitlines() if c]


def step_spec(command: list[str], good: str, commit: str, rule: Regression, budget: int,
              steps: int | None) -> dict[str, Any]:
    """The A/B of one step: the good commit against ``commit``, sequential on the metric."""
    from abtui.spec.ab import git_ab_spec

    data = git_ab_spec(command, [good, commit], names=["good", f"c-{commit[:10]}"],
                       steps=steps)
    data.pop("replicates", None)
    data["name"] = f"step-{commit[:10]}"
    data["sequential"] = {"metric": rule.effect, "min_replicates": min(3, budget),
                          "max_replicates": budget, "margin": rule.threshold}
    return data


def run_step(data: dict[str, Any], workdir: Path, runs_dir: Path,
             progress: BisectProgress | None = None) -> tuple[dict[str, Any], Path, str]:
    """Run one step's experiment: in the console with the bisect's line above it
    (``progress``), else headless and quietly. Its report, its run directory and how it
    ended (``concluded``; ``stopped`` or ``detached`` when the user left the console)."""
    from abtui.conclude import conclude
    from abtui.experiment import Experiment
    from abtui.spec import parse_spec

    text = yaml.safe_dump(data, sort_keys=False)
    spec_path = workdir / ".abtui-bisect.yaml"  # resolved against the workdir; never kept
    spec = parse_spec(text, str(spec_path))
    exp = Experiment.start(spec, spec_path, runs_dir)
    if progress is not None:
        from abtui.tui.app import watch_step
        from abtui.tui.bisect_line import bisect_text

        shown_report, ended = watch_step(exp, bisect_text(progress))
        return dict(shown_report or {}), exp.rundir.root, ended
    while not exp.wait(timeout=1.0):
        pass
    exp.finish()
    report = conclude(exp, [])
    return dict(report), exp.rundir.root, "concluded"


def _resumed(folder: Path, good_sha: str, commits: list[str], rule: Regression
             ) -> dict[str, Any]:
    """The record of an earlier bisect in ``folder``, checked against this one: the same good
    commit, commits and rule (only its steps' results are read back, never a command: the
    command is the one given now). Refused when the folder is not the user's own."""
    try:
        st = os.lstat(folder)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
            raise SpecError("abtui bisect", [f"--resume {folder}: not a folder of your own "
                                             "that only you can write"])
        with open(open_read(folder / "bisect.json"), "rb") as fh:  # no link followed
            record = json.loads(fh.read(8 << 20))  # bounded: a step is a few hundred bytes
    except (OSError, ValueError) as exc:
        raise SpecError("abtui bisect", [f"--resume {folder}: no readable bisect.json "
                                         f"({exc})"]) from None
    same = (isinstance(record, dict) and record.get("good") == good_sha
            and record.get("commits") == commits and record.get("metric") == rule.effect
            and record.get("threshold") == rule.threshold
            and isinstance(record.get("steps"), list))
    if not same:
        raise SpecError("abtui bisect", [f"--resume {folder}: that bisect was of other "
                                         "commits or another metric; give the same --good, "
                                         "--bad, --metric and --worse-by"])
    return record


def _replay(record: dict[str, Any], commits: list[str]) -> tuple[int, int, set[int]]:
    """The search's state after the recorded steps (a step confounded at its first attempt
    with no second one is run again)."""
    lo, hi, skipped = -1, len(commits) - 1, set()
    final: dict[str, dict[str, Any]] = {}
    for step in record["steps"]:
        if isinstance(step, dict) and step.get("commit") in commits:
            final[step["commit"]] = step
    for commit, step in final.items():
        i = commits.index(commit)
        if step.get("verdict") == BAD:
            hi = min(hi, i)
        elif step.get("verdict") == GOOD:
            lo = max(lo, i)
        elif not (step.get("confounded") and step.get("attempt") == 1):
            skipped.add(i)
    return lo, hi, skipped


def bisect(repo: Path, good: str, bad: str, command: list[str], rule: Regression, *,
           runs_dir: Path, budget: int = 6, steps: int | None = None,
           out: TextIO = sys.stdout, resume: Path | None = None, console: bool = False) -> int:
    """Search for the first bad commit; prints each step and writes ``bisect.json`` and
    ``bisect.md``. ``resume``: the folder of an earlier bisect of the same commits, whose
    steps are not run again. ``console``: each step's A/B in the live console, the commits
    as marks above it (else headless)."""
    good_sha, commits = commits_between(repo, good, bad)
    if not commits:
        raise SpecError("abtui bisect", [f"no commits between {good} and {bad}"])
    if resume is not None:
        folder = resume.resolve()
        record = _resumed(folder, good_sha, commits, rule)
        record.update(first_bad=None, undecided=None)
        lo, hi, skipped = _replay(record, commits)
    else:
        folder = runs_dir / f"bisect-{time.strftime('%Y%m%d-%H%M%S')}"
        folder.mkdir(parents=True, exist_ok=False)
        record = {"good": good_sha, "bad": commits[-1], "commits": commits,
                  "metric": rule.effect, "threshold": rule.threshold, "budget": budget,
                  "steps": [], "first_bad": None}
        lo, hi, skipped = -1, len(commits) - 1, set()  # commits[lo] good (-1: the good ref)

    def say(text: str) -> None:
        print(shown(text), file=out, flush=True)

    def save() -> None:  # after every step: the evidence so far survives a crash
        atomic_write(folder / "bisect.json", json.dumps(record, indent=2) + "\n")
        atomic_write(folder / "bisect.md", render_bisect(record))

    about = max(1, len(commits).bit_length())
    say(f"abtui bisect: {len(commits)} commits after {good_sha[:10]}, about "
        f"{about} steps; each up to {budget} runs per arm"
        + (f"; resumed with {len(record['steps'])} step(s) done" if resume else ""))
    while hi - lo > 1:
        candidates = [i for i in range(lo + 1, hi) if i not in skipped]
        if not candidates:
            break
        mid = min(candidates, key=lambda i: abs(i - (lo + hi) / 2))
        commit = commits[mid]
        verdict: Judgement | None = None
        subject = _git(repo, "log", "-1", "--format=%s", commit)
        for attempt in (1, 2):  # a confounded step is run once more, then skipped
            progress = None
            if console:
                from abtui.tui.bisect_line import BisectProgress

                progress = BisectProgress(marks(record, given_bad=True), mid, commit, subject,
                                          len({str(s.get("commit")) for s in record["steps"]})
                                          + 1, about, f"{rule.effect} worse by {rule.threshold:g}")
            report, root, ended = run_step(
                step_spec(command, good_sha, commit, rule, budget, steps), repo, runs_dir,
                progress)
            if ended != "concluded":  # the user left the step's console: nothing judged
                say(f"abtui bisect: left at {commit[:10]} (its A/B {ended}: {root}); "
                    f"the steps so far are in {folder / 'bisect.md'}; go on with "
                    f"abtui bisect --resume {folder} and the same arguments")
                return EXIT_LEFT
            verdict = judge(report, rule)
            record["steps"].append({
                "commit": commit, "subject": subject,
                "run_dir": str(root), "verdict": verdict.verdict, "why": verdict.why,
                "worse": verdict.worse, "interval": verdict.interval, "attempt": attempt,
                "confounded": verdict.confounded,
                "summary": (report.get("verdict") or {}).get("summary")})
            save()
            say(f"  {commit[:10]} {verdict.verdict:<4}  {verdict.why}")
            say(f"  good {commit_line(record)}")  # the commits so far: + good, x bad, ? skipped
            if not verdict.confounded:
                break
        assert verdict is not None
        if verdict.verdict == BAD:
            hi = mid
        elif verdict.verdict == GOOD:
            lo = mid
        else:
            skipped.add(mid)
    if hi - lo == 1:
        first = commits[hi]
        record["first_bad"] = first
        record["first_bad_subject"] = _git(repo, "log", "-1", "--format=%s", first)
        record["first_bad_stat"] = _git(repo, "show", "--stat", "--format=%an, %ad",
                                        "--no-color", first)[:4000]
        save()
        say(f"abtui bisect: first bad commit {first[:10]} {record['first_bad_subject']}")
        say(f"  evidence: {folder / 'bisect.md'}")
        return EXIT_FOUND
    between = [c[:10] for c in commits[lo + 1:hi + 1]]
    say(f"abtui bisect: undecided: the first bad commit is one of {', '.join(between)} "
        f"(the others between were skipped: {SKIP})")
    record["undecided"] = [commits[i] for i in range(lo + 1, hi + 1)]
    save()
    return EXIT_UNDECIDED


def add_parser(sub: Any) -> None:
    """``abtui bisect`` on the command line."""
    b = sub.add_parser("bisect", help="find the first commit that made training worse or "
                       "slower: abtui bisect --good REF --bad REF --metric accuracy "
                       "--worse-by 1pp -- CMD")
    b.add_argument("--good", required=True, metavar="REF", help="a commit known good")
    b.add_argument("--bad", required=True, metavar="REF", help="a later commit known bad")
    b.add_argument("--metric", default="accuracy",
                   help="accuracy, loss, throughput, step_time or memory (default accuracy)")
    b.add_argument("--worse-by", required=True, metavar="SIZE",
                   help="the change that counts as a regression: 1pp, 5%%, 0.05")
    b.add_argument("--max-replicates", type=int, default=12, metavar="N",
                   help="runs per arm a step may take before it is skipped as unknown")
    b.add_argument("--steps", type=int, default=None, help="training steps (for the warm-up rule)")
    b.add_argument("--runs-dir", default="runs")
    b.add_argument("--repo", default=".", help="the repository (default: here)")
    b.add_argument("--resume", default=None, metavar="DIR",
                   help="go on with the bisect in DIR (its bisect.json) after a crash or a "
                        "stop: the same --good, --bad, --metric, --worse-by and command")
    b.add_argument("--headless", action="store_true",
                   help="no console (the default without a terminal): a line per step")
    b.add_argument("command", nargs="+", metavar="CMD", help="the training command, after --")


def add_exit_flags(ab: Any) -> None:
    """``abtui ab --git A --git B --bisect-exit --metric M --worse-by X``: under git bisect run."""
    ab.add_argument("--bisect-exit", action="store_true",
                    help="exit as git bisect run expects: 0 good, 1 bad, 125 skip (with "
                         "--metric and --worse-by; the second arm judged against the first)")
    ab.add_argument("--metric", default="accuracy", help="with --bisect-exit: the metric judged")
    ab.add_argument("--worse-by", default=None, metavar="SIZE",
                    help="with --bisect-exit: the change that counts as a regression")


def rule_of(args: Any) -> Regression:
    try:
        return Regression.parse(args.metric, args.worse_by or "")
    except ValueError as exc:
        raise SpecError("abtui bisect", [str(exc)]) from None


def run_cli(args: Any) -> int:
    from abtui.cli.headless import interactive  # a console only in a real terminal, as abtui run

    rule = rule_of(args)
    if args.max_replicates < 2:
        raise SpecError("abtui bisect", ["--max-replicates: at least 2 (a step needs a spread)"])
    return bisect(Path(args.repo).resolve(), args.good, args.bad, list(args.command), rule,
                  runs_dir=Path(args.runs_dir).resolve(), budget=args.max_replicates,
                  steps=args.steps, resume=Path(args.resume) if args.resume else None,
                  console=interactive(args.headless))


def judgement_of(run_dir: Path, args: Any) -> Judgement:
    """``--bisect-exit``: the judgement of the finished run (its ``exit_code`` is git bisect
    run's)."""
    try:
        report = json.loads((run_dir / "report.json").read_text())
    except (OSError, ValueError):
        verdict = Judgement(SKIP, "no report")
    else:
        verdict = judge(report, rule_of(args))
    print(shown(f"abtui: bisect: {verdict.verdict} ({verdict.why})"), flush=True)
    return verdict


__all__ = ["BAD", "GOOD", "SKIP", "add_exit_flags", "add_parser", "bisect", "commits_between",
           "judgement_of", "run_cli", "step_spec"]
