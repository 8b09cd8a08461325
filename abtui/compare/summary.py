"""Per-run metrics (one arm x replicate) and per-arm aggregates, from the store's series.

The building blocks are pure functions over arrays (steps, values, receive times) so they
can be tested without a run; ``summarize_run`` applies them to one ``RunState``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from abtui.compare import resample, stats
from abtui.compare.run_metrics import (
    ArmAggregate,
    ArmInterval,
    RunMetrics,
    Spread,
    Stationarity,
    finite_number,
)
from abtui.infra.numeric import numpy
from abtui.store import ArmStatus, RunState
from abtui.store.implied import THROUGHPUT  # the store derives it where a log implies it

SMOOTHING_ALPHA = 0.1  # EMA weight of each new record for the smoothed loss / accuracy
WARMUP_FRACTION = 0.1  # default warm-up: the first 10 % of the steps
STEP_TIME = "step_time_ms"
MEMORY_METRICS = ("gpu_memory_mb", "rss_mb")  # first present wins
LOSS = "loss"
ACCURACY = "accuracy"

#: Per-run numeric metrics that are aggregated per arm (mean / sd / min / max).
AGGREGATED = (
    "throughput", "throughput_median", "step_time_p50_ms", "step_time_p95_ms", "peak_memory",
    "final_loss_smoothed", "accuracy_best", "accuracy_final", "wall_time_s",
    "time_to_target_loss_s", "steps_to_target_loss", "time_to_target_accuracy_s",
    "steps_to_target_accuracy", "energy_j", "energy_per_sample_j",
)


@dataclass(frozen=True)
class WarmupRule:
    """Records with ``step <= cutoff_step`` are warm-up; the first record always is."""

    cutoff_step: float
    text: str


def warmup_rule(warmup_steps: int | None, total_steps: int | None,
                last_step: float | None = None) -> WarmupRule:
    """The warm-up rule: ``spec.warmup_steps`` if set, else the first 10 % of the steps.

    Without a known total the last logged step stands in for it. Either way the first
    metric record is excluded too (it carries start-up costs: allocation, compilation).
    """
    if warmup_steps is not None:
        return WarmupRule(float(warmup_steps),
                          f"warm-up: steps <= {warmup_steps} (spec warmup_steps) and the first record")
    total = total_steps or last_step or 0
    cutoff = math.floor(WARMUP_FRACTION * total)
    return WarmupRule(float(cutoff),
                      f"warm-up: the first 10 % of steps (steps <= {cutoff} of {total:g}) "
                      "and the first record")


def steady_state(steps: Sequence[float], values: Sequence[float], cutoff_step: float) -> Any:
    """Values after the warm-up: step > ``cutoff_step``, never the first record (an array).

    If the rule leaves nothing (a run that died early), every record but the first is used;
    a single record is returned as it is.
    """
    np = numpy()
    v = np.asarray(values, dtype=float)
    if len(v) <= 1:
        return v
    s, v = np.asarray(steps, dtype=float)[1:], v[1:]
    kept = v[s > cutoff_step]
    return kept if len(kept) else v


def steady_pairs(steps: Sequence[float], rates: Sequence[float],
                 cutoff_step: float) -> tuple[Any, Any, bool]:
    """Steady-state (work, time) per throughput record (arrays), and whether the warm-up
    rule fell back.

    A record's rate covers the steps since the previous record, so its work is that step
    delta and its time work / rate (in units of one sample's share of a step: the batch
    size cancels in every ratio). Time-weighted throughput is then sum(work) / sum(time),
    the harmonic mean of the rates weighted by their steps, in samples/s: a stall inside an
    interval lowers that interval's rate and counts for all of its time. Records with no
    positive step delta or no positive finite rate are skipped. The first record never
    counts (start-up); if the rule leaves nothing, every later record does (fallback).
    """
    np = numpy()
    st, r = np.asarray(steps, dtype=float), np.asarray(rates, dtype=float)[1:]
    dw = np.diff(st)
    usable = (dw > 0) & (r > 0) & np.isfinite(r)
    for fallback in (False, True):
        keep = usable if fallback else usable & (st[1:] > cutoff_step)
        if keep.any():
            return dw[keep], dw[keep] / r[keep], fallback
    empty = np.empty(0)
    return empty, empty, False


STATIONARY_CHUNKS = 10  # the steady state in this many consecutive chunks
STATIONARY_P = 0.01
STATIONARY_MIN_CHANGE = 0.01  # changes under 1 % are not worth a note


def stationarity(work: Sequence[float], time: Sequence[float]) -> Stationarity:
    """Whether the steady state is steady: the rate of its first half against its second.

    The steady state is cut into ``STATIONARY_CHUNKS`` consecutive chunks; the log rates of
    the first five and the last five are compared with Welch's test (chunks of many records
    are close to independent even when records are not). A change above 1 % with p < 0.01
    is flagged. ``stationary`` is None with fewer than 20 records.
    """
    n = len(work)
    if n < 2 * STATIONARY_CHUNKS:
        return Stationarity()
    np = numpy()
    bounds = [round(k * n / STATIONARY_CHUNKS) for k in range(STATIONARY_CHUNKS + 1)]
    w = np.add.reduceat(np.asarray(work, dtype=float), bounds[:-1])  # per chunk, one C loop
    t = np.add.reduceat(np.asarray(time, dtype=float), bounds[:-1])
    logs = np.log(w / t).tolist()
    half = STATIONARY_CHUNKS // 2
    first = resample.rate(w[:half], t[:half])
    second = resample.rate(w[half:], t[half:])
    test = stats.welch_t_test(logs[half:], logs[:half])
    change = second / first - 1
    out = Stationarity(stationary=True, change=change, p_value=test.p_value)
    if test.p_value < STATIONARY_P and abs(change) > STATIONARY_MIN_CHANGE:
        out.stationary = False
        pct = f"{change * 100:+.1f} %".replace("-", "\u2212")
        out.note = ("throughput still rising at the end of warm-up (second half of the "
                    f"steady state {pct} over the first)" if change > 0 else
                    f"throughput falling during the steady state (second half {pct})")
    return out


def _in_window(steps: Any, values: Any, times: Any, window: tuple[float, float]
               ) -> tuple[Any, Any, Any]:
    """The records received inside ``window``, plus the one before (its step is the base of
    the first record's work); the warm-up rule still drops that first record. Arrays."""
    np = numpy()
    lo, hi = window
    idx = np.flatnonzero((times >= lo) & (times <= hi))
    if not len(idx):
        empty = np.empty(0)
        return empty, empty, empty
    a, b = max(0, int(idx[0]) - 1), int(idx[-1]) + 1
    return steps[a:b], values[a:b], times[a:b]


def first_crossing(values: Iterable[float], target: float, lower_is_better: bool) -> int | None:
    """Index of the first value at or past ``target`` (<= for a loss, >= for accuracy)."""
    for i, v in enumerate(values):
        if (v <= target) if lower_is_better else (v >= target):
            return i
    return None


def time_to_target(steps: Sequence[float], values: Sequence[float], times: Sequence[float],
                   target: float, lower_is_better: bool, t0: float | None = None,
                   alpha: float = SMOOTHING_ALPHA) -> tuple[float, float] | None:
    """(step, seconds) when the EMA-smoothed curve first reaches ``target``; None if never.

    Seconds count from ``t0`` (the run's first received line) or else the first record.
    Arrays or lists.
    """
    if not len(values):
        return None
    seq = values.tolist() if hasattr(values, "tolist") else values
    # lazily: a crossing early in a long run stops the loop there
    i = first_crossing(stats.ema_iter(seq, alpha), target, lower_is_better)
    if i is None:
        return None
    start = t0 if t0 is not None else float(times[0])
    return (float(steps[i]), max(0.0, float(times[i]) - start))


def memory_peak(peaks: Mapping[str, float]) -> tuple[float | None, str | None]:
    """Peak memory and the metric it came from: gpu_memory_mb, else rss_mb."""
    for name in MEMORY_METRICS:
        if name in peaks:
            return peaks[name], name
    return None, None


@dataclass
class RunSummary:
    """One run's metrics (``metrics``: report.json's run entry, typed) plus steady-state samples
    (per-record throughput and step time) that the n = 1 comparison resamples."""

    run_id: str
    arm: str
    replicate: int
    metrics: RunMetrics
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.metrics.status


def summarize_run(state: RunState, *, warmup_steps: int | None = None,
                  total_steps: int | None = None, target_loss: float | None = None,
                  target_accuracy: float | None = None,
                  energy: Mapping[str, Any] | None = None,
                  window: tuple[float, float] | None = None,
                  at_step: float | None = None) -> RunSummary:
    """Every per-run metric of the report from one run's state.

    ``energy`` is the telemetry summary of this run (``{"energy_j": ..., "samples": ...}``).
    ``window`` (receive times) limits throughput and step time to the part of the steady
    state when every compared run was running (see ``abtui.telemetry.corun``).
    ``at_step`` cuts loss and accuracy there: runs that did not all finish are compared at
    the last step every one of them reached.
    """
    with state.lock:  # numpy copies of the columns: the summary is vectorised over them
        series = state.columns((THROUGHPUT, STEP_TIME, LOSS, ACCURACY))
        # the peaks that memory_peak reads (folding every series for its peak: a pass over
        # each column)
        peaks = {name: p for name in MEMORY_METRICS
                 if (sr := state.series.get(name)) is not None and (p := sr.peak) is not None}
        final = dict(state.final or {})
        ended = state.exit
        first_time, last_time = state.first_time, state.last_time
        # the other metrics count for the last step and the record count as they are
        others = [(s.steps[len(s) - 1] if len(s) else None, len(s))
                  for name, s in state.series.items() if name not in series]
    if window is not None:
        for name in (THROUGHPUT, STEP_TIME):
            if name in series:
                series[name] = _in_window(*series[name], window)
    if at_step is not None:
        for name in (LOSS, ACCURACY):
            if name in series:
                at_steps, at_values, at_times = series[name]
                keep = int(numpy().count_nonzero(at_steps <= at_step))
                series[name] = (at_steps[:keep], at_values[:keep], at_times[:keep])
    ends = [(float(c[0][-1]) if len(c[0]) else None, len(c[1])) for c in series.values()]
    last_step = max((e for e, _ in ends + others if e is not None), default=None)
    rule = warmup_rule(warmup_steps, total_steps or state.total_steps, last_step)
    m = RunMetrics(
        run_id=state.run_id, arm=state.arm, replicate=state.replicate,
        status=str(state.status), exit_code=ended.exit_code if ended else None,
        exit_error=ended.error if ended else None, last_step=last_step,
        records=max((k for _, k in ends + others), default=0),
        warmup_cutoff_step=rule.cutoff_step,
    )
    samples: dict[str, list[float]] = {}

    tp = series.get(THROUGHPUT)
    tp = tp if tp is not None and len(tp[1]) else None
    steady_tp = steady_state(tp[0], tp[1], rule.cutoff_step) if tp else []
    work, time, fallback = steady_pairs(tp[0], tp[1], rule.cutoff_step) if tp else ([], [], False)
    # the within-run bootstrap's own coarsening, done once (the rate of the whole is a
    # ratio of sums, unchanged): a long steady state is not carried as millions of floats
    samples["throughput_work"], samples["throughput_time"] = resample.coarsen_pairs(work, time)
    m.throughput = resample.rate(work, time) if len(work) else None
    m.throughput_source = (state.implied.source or "records") if len(work) else None
    if not len(work) and finite_number(final.get("throughput_samples_per_sec")):
        # a trainer that reports only its run's average (Hugging Face's train_samples_per_second)
        m.throughput = finite_number(final.get("throughput_samples_per_sec"))
        m.throughput_source = "final record"
    m.throughput_median = float(numpy().median(steady_tp)) if len(steady_tp) else None
    m.throughput_records = len(work)
    m.throughput_window = list(window) if window is not None else None
    m.warmup_fallback = fallback
    m.stationarity = stationarity(work, time)

    st = series.get(STEP_TIME)
    st = st if st is not None and len(st[1]) else None
    steady_st = steady_state(st[0], st[1], rule.cutoff_step) if st else None
    # numpy's default percentile is stats.percentile's definition (linear), in one C sort
    p50, p95 = (numpy().percentile(steady_st, [50, 95]).tolist()
                if steady_st is not None and len(steady_st) else (None, None))
    m.step_time_p50_ms, m.step_time_p95_ms = p50, p95

    m.peak_memory, m.memory_metric = memory_peak(peaks)
    m.memory_unit = "MB" if m.memory_metric else None

    loss = series.get(LOSS)
    loss = loss if loss is not None and len(loss[1]) else None
    m.final_loss_smoothed = stats.ema_last(loss[1], SMOOTHING_ALPHA) if loss else None
    m.final_loss_raw = float(loss[1][-1]) if loss else None
    acc = series.get(ACCURACY)
    acc = acc if acc is not None and len(acc[1]) else None
    m.accuracy_best = float(acc[1].max()) if acc else None
    m.accuracy_final = float(acc[1][-1]) if acc else None

    wall = finite_number(final.get("wall_time_s"))
    if wall is not None:
        m.wall_time_s, m.wall_time_source = wall, "final record"
    elif first_time is not None and last_time is not None:
        m.wall_time_s, m.wall_time_source = last_time - first_time, "receive times"
    else:
        m.wall_time_s, m.wall_time_source = None, None

    if loss and target_loss is not None:
        m.steps_to_target_loss, m.time_to_target_loss_s = time_to_target(
            *loss, target_loss, True, t0=first_time) or (None, None)
    if acc and target_accuracy is not None:
        m.steps_to_target_accuracy, m.time_to_target_accuracy_s = time_to_target(
            *acc, target_accuracy, False, t0=first_time) or (None, None)

    energy = energy or {}
    m.energy_j = finite_number(energy.get("energy_j"))
    count = finite_number(final.get("samples")) or finite_number(energy.get("samples"))
    m.samples = count
    m.energy_per_sample_j = m.energy_j / count if m.energy_j is not None and count else None
    m.oddities = state.oddities
    m.log_format = state.adapter.name or state.adapter.mode
    m.quality_at_step = at_step
    return RunSummary(state.run_id, state.arm, state.replicate, m, samples)


def usable_runs(runs: Sequence[RunSummary]) -> tuple[list[RunSummary], list[str]]:
    """The runs an arm's numbers use: those that finished; all of them if none did
    (a report of a run still going). Returns the runs and a note per run left out."""
    done = [r for r in runs if r.status == ArmStatus.DONE]
    if not done:
        return list(runs), []
    left = [f"{r.run_id} left out ({r.status})" for r in runs if r.status != ArmStatus.DONE]
    return done, left


def aggregate(all_runs: Sequence[RunSummary]) -> ArmAggregate:
    """Per-arm aggregate over the usable runs (see ``usable_runs``): for each metric in
    ``AGGREGATED`` its mean, sd, min, max and n over the runs that have it; plus the run
    count, the runs used and every run's status."""
    runs, _ = usable_runs(all_runs)
    spread = {}
    for key in AGGREGATED:
        vals = [v for r in runs if (v := r.metrics.number(key)) is not None]
        spread[key] = Spread(mean=stats.mean(vals) if vals else None,
                             sd=stats.stdev(vals) if len(vals) >= 2 else None,
                             min=min(vals) if vals else None, max=max(vals) if vals else None,
                             n=len(vals))
    metrics = {r.metrics.memory_metric for r in runs} - {None}
    return ArmAggregate(runs=len(all_runs), runs_used=[r.run_id for r in runs],
                        statuses={r.run_id: r.status for r in all_runs}, spread=spread,
                        memory_metric=metrics.pop() if len(metrics) == 1 else None,
                        throughput_ci=throughput_interval(runs))


def throughput_interval(runs: Sequence[RunSummary]) -> ArmInterval | None:
    """A 95 % interval of one arm's throughput, for the bars' whiskers.

    Over replicates: a t interval of the mean of the per-run (time-weighted) throughputs.
    With one run: within-run noise only (moving-block bootstrap of its records).
    """
    vals = [v for r in runs if (v := r.metrics.number("throughput")) is not None]
    if len(vals) >= 2:
        half = stats.t_ppf(0.975, len(vals) - 1) * stats.stdev(vals) / math.sqrt(len(vals))
        m = stats.mean(vals)
        return ArmInterval(lo=m - half, hi=m + half, calibrated=True,
                           method=f"t interval of the mean over {len(vals)} runs")
    point = runs[0].metrics.number("throughput") if len(runs) == 1 else None
    if point:
        pairs = (runs[0].samples.get("throughput_work", []),
                 runs[0].samples.get("throughput_time", []))
        se = resample.log_se([pairs], resample.rate)
        if se is not None:
            lo, hi = resample.within_run_interval(point, se)
            return ArmInterval(lo=lo, hi=hi, calibrated=False,
                               method="n = 1: within-run noise only (moving-block bootstrap)")
    return None
