"""Pass/fail gates for CI: ``throughput_ratio >= 0.97``, ``B.accuracy_delta >= -0.005``.

A gate without an arm must hold for every compared arm. A gate checks the bound of the
effect's calibrated 95 % interval (replicates on both sides), not only the point estimate:
the lower bound for ``>=`` / ``>``, the upper bound for ``<=`` / ``<``.

A gate fails closed when it cannot be checked on evidence: a metric with no value (no
data, target never reached), or an effect with no calibrated interval (one run per arm:
run-to-run variation not measured). ``point=True`` (``--gate-point``, spec ``gate_point``)
asks explicitly to gate the point estimate in that case; the line then says so.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from abtui.compare.effects import GATE_METRICS, Comparison, Effect
from abtui.infra.errors import AbtuiError

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
}
_GATE = re.compile(r"^\s*(?P<lhs>[A-Za-z0-9_.-]+)\s*(?P<op>>=|<=|>|<|==|=|!=)\s*(?P<value>[^\s<>=!]\S*)\s*$")


class GateError(AbtuiError):
    """A gate that cannot be parsed or evaluated (usage error, exit code 2)."""


def _known() -> str:
    return ", ".join(GATE_METRICS)


@dataclass(frozen=True)
class Gate:
    """``[arm.]metric op threshold``; ``arm`` None means every compared arm."""

    text: str
    metric: str
    op: str
    threshold: float
    arm: str | None = None

    def __str__(self) -> str:
        arm = f"{self.arm}." if self.arm else ""
        return f"{arm}{self.metric} {self.op} {self.threshold:g}"


def parse_gate(text: str) -> Gate:
    """Parse one gate; a ``GateError`` naming the known metrics if it is not one."""
    m = _GATE.match(text or "")
    if not m:
        raise GateError(f"gate {text!r}: expected '<metric> <op> <number>', e.g. "
                        f"'throughput_ratio >= 0.97' or 'B.accuracy_delta >= -0.005'; "
                        f"operators >=, >, <=, <; metrics: {_known()}")
    lhs, op, raw = m.group("lhs"), m.group("op"), m.group("value")
    arm, _, metric = lhs.rpartition(".")
    if metric not in GATE_METRICS:
        raise GateError(f"gate {text!r}: unknown metric {metric!r}; known gate metrics: {_known()}")
    if op not in _OPS:
        raise GateError(f"gate {text!r}: operator {op!r} is not supported; use >=, >, <= or <")
    try:
        threshold = float(raw)
    except ValueError:
        raise GateError(f"gate {text!r}: {raw!r} is not a number") from None
    if not math.isfinite(threshold):
        raise GateError(f"gate {text!r}: the threshold must be a finite number")
    return Gate(text.strip(), metric, op, threshold, arm or None)


def parse_gates(texts: Iterable[str]) -> list[Gate]:
    """Parse every gate (in order, duplicates dropped); the first bad one raises ``GateError``."""
    out: list[Gate] = []
    for t in texts:
        g = parse_gate(t)
        if all(str(g) != str(o) for o in out):
            out.append(g)
    return out


@dataclass
class GateCheck:
    """One gate checked against one arm."""

    arm: str
    value: float | None
    bound: float | None
    used: str  # "ci_lower", "ci_upper", "point", "no value" or "not calibrated"
    passed: bool
    note: str | None = None

    def describe(self) -> str:
        if self.value is None:
            return f"{self.arm}: no value" + (f" ({self.note})" if self.note else "")
        text = f"{self.arm}: {self.value:.4g}"
        if self.used == "not calibrated":
            return text + f", {self.note}"
        if self.used == "ci_lower":
            text += f", CI lower {self.bound:.4g}"
        elif self.used == "ci_upper":
            text += f", CI upper {self.bound:.4g}"
        else:
            text += ", point estimate (--gate-point: no calibrated interval)"
        return text


@dataclass
class GateResult:
    """A gate's outcome over the arms it applies to, with a line for humans."""

    gate: Gate
    passed: bool
    checks: list[GateCheck] = field(default_factory=list)
    blocked: str | None = None  # why the gate failed whatever its numbers (an unfair comparison)
    allowed: str | None = None  # why it was gated although the comparison is not fair

    @property
    def line(self) -> str:
        detail = "; ".join(c.describe() for c in self.checks) or "no arm to check"
        if self.blocked:
            detail += f"; {self.blocked}"
        if self.allowed:
            detail += f"; {self.allowed}"
        return f"{'PASS' if self.passed else 'FAIL'} {self.gate} ({detail})"

    def to_dict(self) -> dict[str, Any]:
        """JSON form (stable keys, see docs/report.md)."""
        g = self.gate
        return {
            "gate": str(g), "text": g.text, "arm": g.arm, "metric": g.metric, "op": g.op,
            "threshold": g.threshold, "passed": self.passed, "line": self.line,
            "blocked": self.blocked,
            "checks": [{"arm": c.arm, "value": c.value, "bound": c.bound, "used": c.used,
                        "passed": c.passed, "note": c.note} for c in self.checks],
        }


@dataclass(frozen=True)
class GateOutcome:
    """A gate's outcome as report.json keeps it (``GateResult.to_dict``), read back for the
    renderers and the exit code: whether it passed, and its line."""

    passed: bool
    line: str

    @classmethod
    def read(cls, g: Mapping[str, Any]) -> GateOutcome:
        """One entry of a report's ``gates``; a crafted one without ``passed`` fails."""
        return cls(g.get("passed") is True, str(g.get("line") or g.get("gate") or "?"))


def read_gates(report: Mapping[str, Any]) -> list[GateOutcome]:
    """Every gate outcome of a report.json (entries that are not objects left out)."""
    gates = report.get("gates")
    return [GateOutcome.read(g) for g in gates if isinstance(g, Mapping)] \
        if isinstance(gates, list) else []


NOT_CALIBRATED = ("failed closed: no calibrated interval (n = 1: run-to-run variation not "
                  "measured); use replicates \u2265 3, or --gate-point to gate the point estimate")


def check_effect(gate: Gate, arm: str, effect: Effect | None, point: bool = False) -> GateCheck:
    """Check one gate against one arm's effect."""
    if effect is None or effect.value is None:
        return GateCheck(arm, None, None, "no value", False, effect.note if effect else None)
    value, ci = effect.value, effect.ci
    if effect.calibrated and ci and None not in ci:
        lower = gate.op in (">=", ">")
        bound, used = (ci[0], "ci_lower") if lower else (ci[1], "ci_upper")
    elif point:
        bound, used = value, "point"
    else:
        return GateCheck(arm, value, None, "not calibrated", False, NOT_CALIBRATED)
    return GateCheck(arm, value, bound, used, bool(_OPS[gate.op](bound, gate.threshold)))


def evaluate_gates(comparisons: Sequence[Comparison], gates: Sequence[Gate | str],
                   baseline: str | None = None, point: bool = False) -> list[GateResult]:
    """Check gates against the arms' comparisons with the baseline (the effects as the
    report states them: after the sequential rule's, where it decided).

    ``point``: gate the point estimate where no calibrated interval exists (else fail).
    A gate naming an arm that is not compared (the baseline, or a typo) raises ``GateError``.
    """
    by_arm = {c.arm: c for c in comparisons}
    results = []
    for g in gates:
        gate = parse_gate(g) if isinstance(g, str) else g
        if gate.arm is not None and gate.arm not in by_arm:
            why = "is the baseline" if gate.arm == baseline else "is not a compared arm"
            raise GateError(f"gate {gate.text!r}: {gate.arm!r} {why}; compared arms: "
                            f"{', '.join(by_arm) or 'none'}")
        arms = [gate.arm] if gate.arm else list(by_arm)
        checks = [check_effect(gate, a, by_arm[a].effects.get(gate.metric), point)
                  for a in arms]
        results.append(GateResult(gate, bool(checks) and all(c.passed for c in checks), checks))
    return results


def require_fair(results: Sequence[GateResult], state: str, why: str,
                 allow_confounds: bool = False,
                 speed_only: Collection[str] | None = None) -> list[GateResult]:
    """A gate passes only on a fair comparison: with ``state`` confounded or unverifiable
    every gate fails and says why, unless ``allow_confounds`` (``--allow-confounds``) asks
    to gate the numbers anyway, which the line then says too. ``speed_only``: the confounds
    bias only these metrics (host load, throttling), so a gate on another (loss, memory)
    is checked on its numbers."""
    if state == "fair":
        return list(results)
    words = f"comparison {state}: {why}" if why else f"comparison {state}"
    out = []
    for r in results:
        if speed_only is not None and r.gate.metric not in speed_only:
            out.append(r)
            continue
        if allow_confounds:
            out.append(GateResult(r.gate, r.passed, r.checks, allowed=f"{words} (--allow-confounds)"))
        else:
            out.append(GateResult(r.gate, False, r.checks,
                                  blocked=f"failed: {words}; --allow-confounds to gate anyway"))
    return out
