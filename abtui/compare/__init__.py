"""Compare: per-run metrics, effects against the baseline with intervals, gates, verdict."""

from abtui.compare.effects import (
    EFFECTS,
    GATE_METRICS,
    Comparison,
    Effect,
    compare_arm,
    time_target_source,
)
from abtui.compare.gates import (
    Gate,
    GateError,
    GateResult,
    evaluate_gates,
    parse_gate,
    parse_gates,
)
from abtui.compare.summary import (
    SMOOTHING_ALPHA,
    RunSummary,
    WarmupRule,
    aggregate,
    summarize_run,
    usable_runs,
    warmup_rule,
)
from abtui.compare.verdict import comparison_sentences, effect_sentence, verdict_line

__all__ = [
    "EFFECTS",
    "GATE_METRICS",
    "SMOOTHING_ALPHA",
    "Comparison",
    "Effect",
    "Gate",
    "GateError",
    "GateResult",
    "RunSummary",
    "WarmupRule",
    "aggregate",
    "compare_arm",
    "comparison_sentences",
    "effect_sentence",
    "evaluate_gates",
    "parse_gate",
    "parse_gates",
    "summarize_run",
    "time_target_source",
    "usable_runs",
    "verdict_line",
    "warmup_rule",
]
