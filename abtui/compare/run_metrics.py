"""One run's metrics as a type: what ``summarize_run`` computes and report.json's
``arms.<arm>.runs[]`` holds (every key in docs/report.md), serialised once.

The effects, the aggregates, the ranking and the report's tables name per-run metrics by
their field names here (``EffectKind.source``, ``AGGREGATED``, ``format.ARM_COLUMNS``);
``tests/test_run_metrics.py`` pins every such name to a field, so a renamed metric cannot
drift from the tables that show it. Older report.json files read back through
``RunMetrics.read`` (msgspec ``convert``: a missing key takes its default).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import msgspec


def finite_number(value: Any) -> float | None:
    """``value`` as a float when it is a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def plain(value: Any) -> Any:
    """msgspec's ``enc_hook`` for the numbers numpy hands back (``float64`` is a float, but
    not one msgspec encodes): the Python number."""
    if isinstance(value, float):
        return float(value)
    if hasattr(value, "item"):
        return value.item()
    raise NotImplementedError(f"cannot serialise {type(value).__name__}")


class Stationarity(msgspec.Struct, kw_only=True):
    """Whether the steady state is steady (``summary.stationarity``); all None with fewer
    than 20 records."""

    stationary: bool | None = None
    change: float | None = None
    p_value: float | None = None
    note: str | None = None


class RunMetrics(msgspec.Struct, kw_only=True):
    """Every per-run metric of the report, in report.json's key order."""

    run_id: str = ""
    arm: str = ""
    replicate: int = 0
    status: str = "pending"
    exit_code: int | None = None
    exit_error: str | None = None
    last_step: float | None = None
    records: int = 0
    warmup_cutoff_step: float | None = None
    throughput: float | None = None
    throughput_source: str | None = None
    throughput_median: float | None = None
    throughput_records: int = 0
    throughput_window: list[float] | None = None
    warmup_fallback: bool = False
    stationarity: Stationarity = msgspec.field(default_factory=Stationarity)
    step_time_p50_ms: float | None = None
    step_time_p95_ms: float | None = None
    peak_memory: float | None = None
    memory_metric: str | None = None
    memory_unit: str | None = None
    final_loss_smoothed: float | None = None
    final_loss_raw: float | None = None
    accuracy_best: float | None = None
    accuracy_final: float | None = None
    wall_time_s: float | None = None
    wall_time_source: str | None = None
    steps_to_target_loss: float | None = None
    time_to_target_loss_s: float | None = None
    steps_to_target_accuracy: float | None = None
    time_to_target_accuracy_s: float | None = None
    energy_j: float | None = None
    samples: float | None = None
    energy_per_sample_j: float | None = None
    oddities: dict[str, Any] = msgspec.field(default_factory=dict)
    log_format: str | None = None
    quality_at_step: float | None = None
    seed: int | None = None
    seed_status: str | None = None

    def number(self, name: str) -> float | None:
        """The finite value of numeric metric ``name`` (a field name: ``NUMERIC``), else
        None. A name that is no numeric field is a programming error (KeyError)."""
        if name not in NUMERIC:
            raise KeyError(f"no numeric run metric {name!r}")
        return finite_number(getattr(self, name))

    def to_report(self) -> dict[str, Any]:
        """report.json's form (the same keys as the fields; NaN is made null later)."""
        out: dict[str, Any] = msgspec.to_builtins(self, enc_hook=plain)
        return out

    @classmethod
    def read(cls, entry: Mapping[str, Any]) -> RunMetrics:
        """A run's entry of a report.json, typed (older reports: defaults for missing keys;
        keys this version does not know are dropped)."""
        known = {k: v for k, v in entry.items() if k in FIELDS}
        return msgspec.convert(known, cls, strict=False)


FIELDS: frozenset[str] = frozenset(RunMetrics.__struct_fields__)
#: The numeric per-run metrics: what an effect, an aggregate or a ranking may name.
NUMERIC: frozenset[str] = frozenset(
    name for name, kind in zip(RunMetrics.__struct_fields__,
                               msgspec.structs.fields(RunMetrics), strict=True)
    if kind.type in (float | None, float))


class Spread(msgspec.Struct, kw_only=True):
    """One metric over an arm's usable runs."""

    mean: float | None = None
    sd: float | None = None
    min: float | None = None
    max: float | None = None
    n: int = 0


class ArmInterval(msgspec.Struct, kw_only=True):
    """A 95 % interval of an arm's throughput (the bars' whiskers)."""

    lo: float
    hi: float
    calibrated: bool
    method: str


class ArmAggregate(msgspec.Struct, kw_only=True):
    """report.json's ``arms.<arm>.aggregate``: the run count, the runs used, every run's
    status, a ``Spread`` per metric of ``summary.AGGREGATED`` (at the top level, keyed by
    the metric's name), the memory metric and the throughput interval."""

    runs: int
    runs_used: list[str]
    statuses: dict[str, str]
    spread: dict[str, Spread]
    memory_metric: str | None = None
    throughput_ci: ArmInterval | None = None

    def to_report(self) -> dict[str, Any]:
        """The report's form: each metric's spread under its own name."""
        out: dict[str, Any] = {"runs": self.runs, "runs_used": list(self.runs_used),
                               "statuses": dict(self.statuses)}
        out.update(msgspec.to_builtins(self.spread, enc_hook=plain))
        out["memory_metric"] = self.memory_metric
        out["throughput_ci"] = msgspec.to_builtins(self.throughput_ci, enc_hook=plain)
        return out
