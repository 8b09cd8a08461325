"""Per-arm telemetry over a run, and the confounds it reveals.

``summarize`` folds samples (live, or from :func:`abtui.telemetry.read_samples`)
into one :class:`ArmTelemetrySummary` per arm; ``confounds`` turns summaries into
sentences for the diff pane and the report.

Shares are fractions of *busy* GPU samples: a sample whose reasons are exactly
``gpu_idle`` (0x1), or whose utilisation is 0 %, is idle and counts for neither
side — a GPU waiting for its data loader is not "throttled". Samples are taken at
a fixed interval, so a share of samples is a share of time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from abtui.telemetry.reasons import (
    IDLE,
    REASON_WORDS,
    THERMAL,
    ClockEventReason,
    decode_names,
    is_idle,
    reason_from_name,
)

DEFAULT_MATERIAL_SHARE = 0.05


@dataclass
class ArmTelemetrySummary:
    """What an arm's GPUs and processes did over the run. ``None`` where nothing was measured."""

    arm: str
    gpus: list[int] = field(default_factory=list)
    gpu_models: list[str] = field(default_factory=list)
    sm_clock_max_mhz: list[int] = field(default_factory=list)
    power_limit_w: list[float] = field(default_factory=list)
    gpu_samples: int = 0
    busy_samples: int = 0
    duration_s: float | None = None
    reason_share: dict[str, float] = field(default_factory=dict)  # busy share per reason name
    power_capped_share: float | None = None
    thermal_share: float | None = None  # any thermal / HW slowdown / power brake bit
    temp_max_c: float | None = None
    sm_clock_mean_mhz: float | None = None  # busy samples
    sm_clock_rel_mean: float | None = None  # busy samples, SM clock / max SM clock
    util_gpu_mean: float | None = None  # busy samples
    power_mean_w: float | None = None  # busy samples
    power_max_w: float | None = None
    energy_j: float | None = None
    energy_source: str | None = None  # "counter" or "power_integral"
    energy_per_sample_j: float | None = None
    violation_power_s: float | None = None
    violation_thermal_s: float | None = None
    cpu_percent_mean: float | None = None
    rss_mb_max: float | None = None
    foreign: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mean(xs: list[float]) -> float | None:
    return round(sum(xs) / len(xs), 3) if xs else None


def _counter_delta(points: list[tuple[float, float]]) -> float | None:
    """Sum of the increases of a cumulative counter; a drop (reset) starts over."""
    if len(points) < 2:
        return None
    return sum(max(0.0, b[1] - a[1]) for a, b in zip(points, points[1:], strict=False))


def _power_integral(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 2:
        return None
    return sum((b[0] - a[0]) * (a[1] + b[1]) / 2 for a, b in zip(points, points[1:], strict=False))


class _ArmAccumulator:
    def __init__(self, arm: str) -> None:
        self.s = ArmTelemetrySummary(arm)
        self.times: list[float] = []
        self.reason_counts: dict[str, int] = {}
        self.known_busy = self.power_capped = self.thermal = 0
        self.temps: list[float] = []
        self.sm: list[float] = []
        self.sm_rel: list[float] = []
        self.util: list[float] = []
        self.power_busy: list[float] = []
        self.power_all: list[float] = []
        self.energy: dict[int, list[tuple[float, float]]] = {}
        self.power_pts: dict[int, list[tuple[float, float]]] = {}
        self.viol_p: dict[int, list[tuple[float, float]]] = {}
        self.viol_t: dict[int, list[tuple[float, float]]] = {}
        self.cpu: list[float] = []
        self.rss: list[float] = []
        self.foreign: dict[tuple[int, int], dict[str, Any]] = {}

    def add_gpu(self, t: float, g: Mapping[str, Any]) -> None:
        s, i = self.s, g.get("index")
        if not isinstance(i, int):
            return  # a GPU entry without its index cannot be told from the others
        s.gpu_samples += 1
        self.times.append(t)
        if i not in s.gpus:
            s.gpus.append(i)
        for attr, key in (("gpu_models", "name"), ("sm_clock_max_mhz", "sm_clock_max_mhz"),
                          ("power_limit_w", "power_limit_w")):
            v = g.get(key)
            if v is not None and v not in getattr(s, attr):
                getattr(s, attr).append(v)
        reasons, util = g.get("reasons"), g.get("util_gpu")
        if g.get("temp_c") is not None:
            self.temps.append(g["temp_c"])
        if g.get("power_w") is not None:
            self.power_all.append(g["power_w"])
            self.power_pts.setdefault(i, []).append((t, g["power_w"]))
        for store, key in ((self.energy, "energy_mj"), (self.viol_p, "violation_power_ns"),
                           (self.viol_t, "violation_thermal_ns")):
            if g.get(key) is not None:
                store.setdefault(i, []).append((t, g[key]))
        if is_idle(reasons, util):
            return
        s.busy_samples += 1
        if util is not None:
            self.util.append(util)
        if g.get("power_w") is not None:
            self.power_busy.append(g["power_w"])
        sm, sm_max = g.get("sm_clock_mhz"), g.get("sm_clock_max_mhz")
        if sm is not None:
            self.sm.append(sm)
            if sm_max:
                self.sm_rel.append(sm / sm_max)
        if reasons is None:
            return
        self.known_busy += 1
        self.power_capped += bool(reasons & ClockEventReason.SW_POWER_CAP)
        self.thermal += bool(reasons & THERMAL)
        for name in decode_names(reasons & ~IDLE) or ():
            self.reason_counts[name] = self.reason_counts.get(name, 0) + 1

    def finish(self, samples_trained: float | None) -> ArmTelemetrySummary:
        s = self.s
        s.gpus.sort(key=lambda x: (x is None, x))
        if self.times:
            s.duration_s = round(max(self.times) - min(self.times), 3)
        if self.known_busy:
            s.reason_share = {k: round(v / self.known_busy, 4) for k, v in sorted(self.reason_counts.items())}
            s.power_capped_share = round(self.power_capped / self.known_busy, 4)
            s.thermal_share = round(self.thermal / self.known_busy, 4)
        s.temp_max_c = max(self.temps) if self.temps else None
        s.sm_clock_mean_mhz = _mean(self.sm)
        s.sm_clock_rel_mean = _mean(self.sm_rel)
        s.util_gpu_mean = _mean(self.util)
        s.power_mean_w = _mean(self.power_busy)
        s.power_max_w = max(self.power_all) if self.power_all else None
        counter = [d for d in map(_counter_delta, self.energy.values()) if d is not None]
        if counter:
            s.energy_j, s.energy_source = round(sum(counter) / 1000.0, 3), "counter"
        else:
            integral = [d for d in map(_power_integral, self.power_pts.values()) if d is not None]
            if integral:
                s.energy_j, s.energy_source = round(sum(integral), 3), "power_integral"
        if s.energy_j is not None and samples_trained:
            s.energy_per_sample_j = s.energy_j / samples_trained
        for attr, store in (("violation_power_s", self.viol_p), ("violation_thermal_s", self.viol_t)):
            deltas = [d for d in map(_counter_delta, store.values()) if d is not None]
            if deltas:
                setattr(s, attr, round(sum(deltas) / 1e9, 3))
        s.cpu_percent_mean = _mean(self.cpu)
        s.rss_mb_max = max(self.rss) if self.rss else None
        s.foreign = sorted(self.foreign.values(), key=lambda f: (f["gpu"], f["pid"]))
        return s


def summarize(
    samples: Iterable[Mapping[str, Any]],
    arm_of_gpu: Mapping[int, str] | None = None,
    run_ids: Iterable[str] | None = None,
    samples_trained: Mapping[str, float] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per-arm summaries (as dicts) of a run's telemetry samples.

    ``arm_of_gpu`` (physical GPU index → run id) overrides the ``arm`` recorded
    in each GPU entry; ``run_ids`` makes sure every arm appears even if it has no
    samples; ``samples_trained`` (run id → training samples processed) gives
    energy per training sample.
    """
    acc: dict[str, _ArmAccumulator] = {r: _ArmAccumulator(r) for r in run_ids or ()}

    def arm_acc(arm: str) -> _ArmAccumulator:
        if arm not in acc:
            acc[arm] = _ArmAccumulator(arm)
        return acc[arm]

    for sample in samples:
        if sample.get("kind", "sample") != "sample":
            continue
        t = sample.get("t") or 0.0
        for g in sample.get("gpus") or ():
            arm = arm_of_gpu.get(g.get("index")) if arm_of_gpu is not None else g.get("run")
            if arm is not None:
                arm_acc(arm).add_gpu(t, g)
        for arm, a in (sample.get("runs") or {}).items():
            if a.get("cpu_percent") is not None:
                arm_acc(arm).cpu.append(a["cpu_percent"])
            if a.get("rss_mb") is not None:
                arm_acc(arm).rss.append(a["rss_mb"])
        for f in sample.get("foreign") or ():
            arm = arm_of_gpu.get(f.get("gpu")) if arm_of_gpu is not None else f.get("run")
            if arm is not None:
                arm_acc(arm).foreign.setdefault((f["gpu"], f["pid"]), dict(f))
    trained = samples_trained or {}
    return {arm: a.finish(trained.get(arm)).to_dict() for arm, a in sorted(acc.items())}


def foreign_sentence(entry: Mapping[str, Any]) -> str:
    """``GPU 3 is shared with PID 1234 (python)``; names the other arm if the PID is one."""
    name = entry.get("name") or "unknown"
    if entry.get("pid_run") is not None:
        return (f"GPU {entry['gpu']} (arm {entry.get('run')}) is also used by PID {entry['pid']} "
                f"({name}) of arm {entry['pid_run']}")
    return f"GPU {entry['gpu']} is shared with PID {entry['pid']} ({name})"


def _reason_words(share: Mapping[str, float], mask: int) -> str:
    reasons = [reason_from_name(name) for name, v in share.items() if v > 0]
    return ", ".join(REASON_WORDS[r] for r in sorted(r for r in reasons if r is not None and r & mask))


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def confounds(
    summaries: Mapping[str, Mapping[str, Any]], material_share: float = DEFAULT_MATERIAL_SHARE
) -> list[str]:
    """Sentences for what in the GPUs' behaviour makes the arms' comparison unfair."""
    out: list[str] = []
    for arm, s in summaries.items():
        share = s.get("reason_share") or {}
        power = s.get("power_capped_share")
        if power is not None and power >= material_share:
            rel = s.get("sm_clock_rel_mean")
            clock = f"; SM clock averaged {_pct(rel)} of its maximum" if rel is not None else ""
            out.append(f"arm {arm}: GPUs were power-capped (SW power cap) for {_pct(power)} "
                       f"of busy time{clock}")
        thermal = s.get("thermal_share")
        if thermal is not None and thermal >= material_share:
            out.append(f"arm {arm}: GPUs were thermally throttled ({_reason_words(share, THERMAL)}) "
                       f"for {_pct(thermal)} of busy time")
    with_gpus = {a: s for a, s in summaries.items() if s.get("gpu_models") or s.get("sm_clock_max_mhz")}
    if len(with_gpus) > 1:
        for key, label, unit in (("gpu_models", "GPU models", ""),
                                 ("sm_clock_max_mhz", "max SM clocks", " MHz"),
                                 ("power_limit_w", "GPU power limits", " W")):
            seen = {a: tuple(sorted(s.get(key) or ())) for a, s in with_gpus.items()}
            if len(set(seen.values())) > 1:
                parts = "; ".join(f"{a}: {' + '.join(f'{v:g}{unit}' if isinstance(v, float) else f'{v}{unit}' for v in vals) or 'unknown'}"
                                  for a, vals in seen.items())
                out.append(f"arms run with different {label} ({parts})")
                if key == "gpu_models":
                    break  # different models explain different clocks and limits
    seen_foreign: set[tuple[int, int]] = set()
    for s in summaries.values():
        for f in s.get("foreign") or ():
            if (f["gpu"], f["pid"]) not in seen_foreign:
                seen_foreign.add((f["gpu"], f["pid"]))
                out.append(foreign_sentence(f))
    return out


@dataclass(frozen=True)
class TelemetrySummary:
    """A run directory's telemetry as the conclusion reads it: each run's summary
    (``summarize``, run id → its dict form), the confound sentences they give, how many
    samples there were and whether any had GPUs. ``error``: why it could not be read (the
    console's diff pane shows what it has without it)."""

    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    confounds: list[str] = field(default_factory=list)
    samples: int = 0
    available: bool = False
    error: str | None = None

    @classmethod
    def of(cls, samples: list[Mapping[str, Any]],
           samples_trained: Mapping[str, float] | None = None) -> TelemetrySummary:
        """Summarise ``samples`` (none: an empty summary)."""
        runs = summarize(samples, samples_trained=samples_trained) if samples else {}
        return cls(runs, confounds(runs) if runs else [], len(samples),
                   any(s.get("gpus") for s in samples))

