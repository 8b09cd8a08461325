"""Chart data for the report: per-arm curves with replicate bands, GPU traces, throughput bars.

Everything is downsampled here, so report.json stays small (a few hundred points per
curve) and the markdown / HTML renderers draw from the report dict alone.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from abtui.compare.run_metrics import ArmAggregate
from abtui.infra.numeric import numpy
from abtui.infra.safe_io import open_read
from abtui.store import RunState
from abtui.telemetry.samples import upgrade

CURVE_POINTS = 200
TRACE_POINTS = 300
TRACE_FIELDS = ("temp_c", "sm_clock_mhz", "power_w")


def _bin_means(steps: Any, values: Any, lo: float, width: float, bins: int
               ) -> list[float | None]:
    """The mean of the values in each of ``bins`` equal step bins from ``lo`` (numpy
    arrays in; bincount adds in record order, as a loop would)."""
    np = numpy()
    if width > 0:
        idx = np.clip(np.floor((steps - lo) / width), 0, bins - 1).astype(np.int64)
    else:
        idx = np.zeros(len(steps), dtype=np.int64)
    counts = np.bincount(idx, minlength=bins)
    # each value over its bin's count first: two values of 1e308 in one bin add to no inf
    with np.errstate(over="ignore", invalid="ignore"):
        sums = np.bincount(idx, weights=values / np.maximum(counts[idx], 1), minlength=bins)
    return [float(sums[i]) if counts[i] and math.isfinite(sums[i]) else None
            for i in range(bins)]


def arm_curves(runs_by_arm: Mapping[str, Sequence[RunState]], metric: str,
               points: int = CURVE_POINTS) -> dict[str, dict[str, Any]]:
    """Per arm, ``metric`` against step: ``{"x", "mean", "lo", "hi", "runs"}``.

    Steps are split into ``points`` equal bins over the range every arm shares; each run
    contributes its mean in a bin; ``mean`` is the mean over the arm's runs and ``lo`` /
    ``hi`` the min / max over them (the replicate band; None with a single run).
    """
    cols = {arm: [s.series[metric].arrays("sv")
                  for s in states if metric in s.series and len(s.series[metric])]
            for arm, states in runs_by_arm.items()}
    all_steps = [st for runs in cols.values() for st, _ in runs]
    if not all_steps:
        return {}
    lo = float(min(st[0] for st in all_steps))
    hi = float(max(st[-1] for st in all_steps))
    bins = max(1, min(points, int(hi - lo) + 1))
    width = (hi - lo) / bins if hi > lo else 0.0
    out: dict[str, dict[str, Any]] = {}
    for arm, runs in cols.items():
        if not runs:
            continue
        per_run = [_bin_means(st, vals, lo, width, bins) for st, vals in runs]
        x, mean, low, high = [], [], [], []
        for i in range(bins):
            vals = [v for r in per_run if (v := r[i]) is not None]
            if not vals:
                continue
            x.append(lo + (i + 0.5) * width if width else lo)
            mean.append(sum(v / len(vals) for v in vals))
            low.append(min(vals))
            high.append(max(vals))
        band = len(runs) >= 2
        out[arm] = {"x": x, "mean": mean, "lo": low if band else None,
                    "hi": high if band else None, "runs": len(runs)}
    return out


def _downsample(ts: Sequence[float], vs: Sequence[float], points: int) -> tuple[list[float], list[float]]:
    n = len(ts)
    if n <= points:
        return list(ts), list(vs)
    group = math.ceil(n / points)
    xs, ys = [], []
    for i in range(0, n, group):
        chunk = vs[i:i + group]
        xs.append(ts[i])
        ys.append(sum(chunk) / len(chunk))
    return xs, ys


def read_telemetry_samples(path: Path, fallback: Iterable[Mapping[str, Any]] = ()) -> Iterable[Mapping[str, Any]]:
    """Samples from telemetry.jsonl (every one, not only the last hour the store keeps)."""
    try:
        fh = open(open_read(path), "rb")
    except OSError:
        yield from fallback
        return
    with fh:
        for line in fh:
            if not line.endswith(b"\n"):
                break  # torn tail
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and obj.get("kind", "sample") == "sample":
                yield upgrade(obj)


def gpu_traces(samples: Iterable[Mapping[str, Any]], owner: Mapping[int, str] | None = None,
               t0: float | None = None, points: int = TRACE_POINTS) -> dict[str, dict[str, Any]]:
    """Per GPU index: ``{"arm", "t", "temp_c", "sm_clock_mhz", "power_w"}``, time in seconds
    from ``t0`` (default: the first sample), each field downsampled to ``points``.

    ``arm`` is the run id(s) the samples name as the GPU's owner, else ``owner[index]``
    (from the manifest).
    """
    owner = owner or {}
    raw: dict[int, dict[str, Any]] = {}
    for sample in samples:
        t = sample.get("t")
        if not isinstance(t, (int, float)):
            continue
        if t0 is None:
            t0 = float(t)
        for g in sample.get("gpus") or ():
            idx = g.get("index")
            if not isinstance(idx, int):
                continue
            entry = raw.setdefault(idx, {"arms": {}, **{f: ([], []) for f in TRACE_FIELDS}})
            if g.get("run"):
                entry["arms"][str(g["run"])] = None
            for f in TRACE_FIELDS:
                v = g.get(f)
                if isinstance(v, (int, float)) and math.isfinite(v):
                    entry[f][0].append(t - t0)
                    entry[f][1].append(float(v))
    out: dict[str, dict[str, Any]] = {}
    for idx in sorted(raw):
        entry = raw[idx]
        if not any(entry[f][0] for f in TRACE_FIELDS):
            continue
        trace: dict[str, Any] = {"arm": ", ".join(entry["arms"]) or owner.get(idx)}
        for f in TRACE_FIELDS:
            ts, vs = _downsample(entry[f][0], entry[f][1], points)
            trace[f] = {"t": ts, "v": vs}
        out[str(idx)] = trace
    return out


def throughput_bars(aggregates: Mapping[str, ArmAggregate]) -> list[dict[str, Any]]:
    """One bar per arm: mean of its runs' time-weighted throughput, whiskers from its interval."""
    bars = []
    for arm, agg in aggregates.items():
        ci = agg.throughput_ci
        bars.append({"arm": arm, "value": agg.spread["throughput"].mean,
                     "lo": ci.lo if ci else None, "hi": ci.hi if ci else None,
                     "method": ci.method if ci else None})
    return bars
