"""Headless mode: progress lines on stdout, a report and an exit code at the end (for CI)."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import TextIO

from abtui.conclude import conclude, exit_code
from abtui.experiment import Experiment
from abtui.infra.untrusted import shown
from abtui.store import ArmStatus, RunState


def interactive(headless: bool) -> bool:
    """Whether to open the console: asked for, and a real terminal on both ends."""
    return not headless and sys.stdout.isatty() and sys.stdin.isatty() and os.environ.get("TERM") != "dumb"


def _fmt(v: float | None, spec: str = ".4g") -> str:
    return "-" if v is None else format(v, spec)


def _eta(s: float | None) -> str:
    if s is None:
        return "-"
    s = int(s)
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def progress_line(state: RunState) -> str:
    """One arm, one line: ``A  running  step 120/400  loss 0.812  1.2k samples/s  ETA 42s``."""
    step = "-" if state.step is None else str(state.step)
    total = f"/{state.total_steps}" if state.total_steps else ""
    tput = state.last.get("throughput_samples_per_sec")
    return (f"{state.run_id:<10} {state.status:<10} step {step}{total:<8} "
            f"loss {_fmt(state.last.get('loss'))}  acc {_fmt(state.last.get('accuracy'), '.3f')}  "
            f"{_fmt(tput, ',.0f')} samples/s  ETA {_eta(state.eta_s())}")


class _Detach(Exception):
    pass


def _say(*parts: object, file: TextIO = sys.stdout, flush: bool = True) -> None:
    """Everything headless prints goes through the sanitising boundary (abtui.infra.untrusted):
    arm names, notices, failure tails and the summary can all carry arm-made strings."""
    text = " ".join(str(p) for p in parts)
    print(shown(text), file=file, flush=flush)


def run_headless(exp: Experiment, gates: list[str], out: TextIO = sys.stdout,
                 interval_s: float = 5.0, keep: bool = False, stop_on_exit: bool = False) -> int:
    """Watch until every arm ends, then conclude. SIGINT/SIGTERM/SIGHUP detach (or stop)."""

    def on_signal(signum: int, _frame: object) -> None:
        raise _Detach(signal.Signals(signum).name)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    _say(f"abtui: run directory {exp.rundir.root}", file=out, flush=True)
    for notice in exp.store.notices:
        _say(f"abtui: {notice}", file=out, flush=True)
    shown = len(exp.store.notices)
    try:
        last = 0.0
        while not exp.wait(timeout=0.5):
            for notice in exp.store.notices[shown:]:
                _say(f"abtui: {notice}", file=out, flush=True)
            shown = len(exp.store.notices)
            if time.monotonic() - last >= interval_s:
                last = time.monotonic()
                for state in exp.store.runs.values():
                    _say(progress_line(state), file=out, flush=True)
    except _Detach as sig:
        for s, h in old.items():
            signal.signal(s, h)
        if stop_on_exit:
            _say(f"abtui: {sig}: stopping the arms", file=out, flush=True)
            exp.stop_arms()
        else:
            exp.detach()
            _say(f"abtui: {sig}: detached; the arms keep running.\n"
                  f"  abtui attach {exp.rundir.root}   to watch again\n"
                  f"  abtui stop {exp.rundir.root}     to stop them", file=out, flush=True)
            return 0
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    for notice in exp.store.notices[shown:]:  # said as the last runs ended (a decided look)
        _say(f"abtui: {notice}", file=out, flush=True)
    for state in exp.store.runs.values():
        _say(progress_line(state), file=out, flush=True)
    exp.finish(keep=keep)
    report = conclude(exp, gates)
    from abtui.report import render_summary

    _say(render_summary(report), file=out, flush=True)
    for state in exp.store.runs.values():
        why = state.nothing_read()
        if why:
            _say(f"abtui: {why}", file=out, flush=True)
        elif state.adapter.words and state.adapted_lines:
            _say(f"abtui: arm {state.run_id}: read {state.adapted_lines} lines as "
                 f"{state.adapter.words}", file=out, flush=True)
    _say(f"abtui: report written to {exp.rundir.report_md}", file=out, flush=True)
    for state in exp.store.runs.values():
        if state.status != ArmStatus.DONE:
            err = (state.exit.error if state.exit is not None else None) or state.status
            _say(f"abtui: arm {state.run_id} did not finish: {err}", file=out, flush=True)
            for _, text in state.recent_logs(3):  # usually the error that ended it
                _say(f"    {state.run_id}| {text[:300]}", file=out, flush=True)
    return exit_code(exp, report)
