"""The verdict so far, computed cheaply from the store while the arms run.

Each figure uses only the last ``window`` records of a series (a slice of its columns), so
the cost does not grow with the run. The full comparison (warm-up excluded, confidence
intervals) is the report's job at the end; this is a live indication of where it is going.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from abtui.compare.resample import rate
from abtui.compare.summary import steady_pairs
from abtui.store import RunState

THROUGHPUT = "throughput_samples_per_sec"
MEMORY = ("gpu_memory_mb", "rss_mb")  # first present wins, as in the report
WINDOW = 20


@dataclass(frozen=True)
class ArmFigures:
    """One arm's current figures (median over its replicates)."""

    arm: str
    throughput: float | None = None
    memory_mb: float | None = None
    loss: float | None = None
    accuracy: float | None = None


@dataclass(frozen=True)
class Delta:
    """One arm against the baseline."""

    arm: str
    throughput_ratio: float | None = None
    memory_ratio: float | None = None
    loss_delta: float | None = None
    loss_ratio: float | None = None
    accuracy_delta: float | None = None


@dataclass
class LiveVerdict:
    """Per-arm figures, each other arm's delta against the baseline, active confounds."""

    baseline: str
    at_step: float | None = None  # loss and accuracy are compared at this step
    figures: dict[str, ArmFigures] = field(default_factory=dict)
    deltas: list[Delta] = field(default_factory=list)
    confounds: list[str] = field(default_factory=list)


def _tail(state: RunState, name: str, window: int, at_step: float | None = None) -> list[float]:
    """The last ``window`` values of a series (up to ``at_step`` when given)."""
    s = state.series.get(name)
    if s is None or not len(s):
        return []
    end = len(s) if at_step is None else bisect_right(s.steps, at_step)
    return list(s.values[max(0, end - window):end])


def recent_throughput(state: RunState, window: int = WINDOW) -> float | None:
    """Time-weighted throughput of the last ``window`` records, as the report computes it
    for the steady state (so a stall lowers it here too)."""
    s = state.series.get(THROUGHPUT)
    if s is None or not len(s):
        return None
    if len(s) == 1:  # no step delta yet: the one rate there is
        return float(s.values[0])
    lo = max(0, len(s) - window - 1)
    work, time, _ = steady_pairs(list(s.steps[lo:]), list(s.values[lo:]), -math.inf)
    return rate(work, time) if len(work) else None


def common_step(runs: Iterable[RunState], name: str = "loss") -> float | None:
    """The last step every run has reached for ``name``: quality is compared there, so a
    run that is ahead does not look better only because it trained longer."""
    lasts = [s.series[name].steps[-1] for s in runs if name in s.series and len(s.series[name])]
    return min(lasts) if lasts else None


def _median(xs: Iterable[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return statistics.median(vals) if vals else None


def arm_figures(arm: str, runs: Iterable[RunState], window: int = WINDOW,
                at_step: float | None = None) -> ArmFigures:
    """Median over an arm's runs of: recent time-weighted throughput, peak memory, and at
    ``at_step`` (default: the latest) the mean loss of the last records and the accuracy."""
    tput, mem, loss, acc = [], [], [], []
    for st in runs:
        tput.append(recent_throughput(st, window))
        mem.append(next((st.peak[m] for m in MEMORY if m in st.peak), None))
        lo = _tail(st, "loss", window, at_step)
        loss.append(sum(lo) / len(lo) if lo else None)
        ac = _tail(st, "accuracy", 1, at_step)
        acc.append(ac[-1] if ac else None)
    return ArmFigures(arm, _median(tput), _median(mem), _median(loss), _median(acc))


def _ratio(b: float | None, a: float | None) -> float | None:
    if a is None or b is None or a == 0:
        return None
    return b / a


def live_verdict(arms: Mapping[str, RunState], baseline: str | None = None,
                 confounds: Iterable[str] = (), window: int = WINDOW) -> LiveVerdict:
    """The verdict so far from the store's arms (run id → state).

    ``baseline`` is the arm others are compared to (default: the first arm seen).
    """
    by_arm: dict[str, list[RunState]] = {}
    for st in arms.values():
        by_arm.setdefault(st.arm, []).append(st)
    if not by_arm:
        return LiveVerdict(baseline or "", confounds=list(confounds))
    base = baseline if baseline in by_arm else next(iter(by_arm))
    at_step = common_step(arms.values())
    figures = {arm: arm_figures(arm, runs, window, at_step) for arm, runs in by_arm.items()}
    a = figures[base]
    deltas = []
    for arm, f in figures.items():
        if arm == base:
            continue
        deltas.append(Delta(
            arm,
            throughput_ratio=_ratio(f.throughput, a.throughput),
            memory_ratio=_ratio(f.memory_mb, a.memory_mb),
            loss_delta=None if f.loss is None or a.loss is None else f.loss - a.loss,
            loss_ratio=_ratio(f.loss, a.loss),
            accuracy_delta=(None if f.accuracy is None or a.accuracy is None
                            else f.accuracy - a.accuracy),
        ))
    return LiveVerdict(base, at_step, figures, deltas, list(confounds))
