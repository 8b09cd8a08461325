"""Lines -> typed records. Anything odd is counted and kept, never an error."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import msgspec

_decode = msgspec.json.Decoder().decode
_DecodeError = msgspec.DecodeError
_RESERVED = frozenset(("step", "timestamp", "event", "time", "epoch_time", "rank"))
# Standard metrics: a non-number here is a wrong type. Other non-numeric fields are
# annotations ("phase": "train") and are ignored quietly.
KNOWN_METRICS = frozenset(("loss", "accuracy", "throughput_samples_per_sec", "step_time_ms",
                           "gpu_memory_mb", "rss_mb", "lr"))


@dataclass(slots=True)
class MetricRecord:
    step: int
    values: dict[str, float]


@dataclass(slots=True)
class EnvRecord:
    data: dict[str, Any]


@dataclass(slots=True)
class FinalRecord:
    data: dict[str, Any]


@dataclass(slots=True)
class EventRecord:
    """Any other ``{"event": ...}`` record (warnings the runner chose to structure)."""

    name: str
    data: dict[str, Any]


@dataclass(slots=True)
class TextRecord:
    """A plain log line (not a JSON object), shown in the log pane."""

    text: str


Record = MetricRecord | EnvRecord | FinalRecord | EventRecord | TextRecord


@dataclass
class Oddities:
    """What was strange about an arm's output: counted, visible, never fatal."""

    malformed_json: int = 0
    non_finite: int = 0
    wrong_type: int = 0
    missing_step: int = 0
    step_backwards: int = 0
    invalid_utf8: int = 0
    truncated: int = 0
    examples: dict[str, str] = field(default_factory=dict)

    def note(self, kind: str, line: bytes | str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if kind not in self.examples:
            text = line if isinstance(line, str) else line[:200].decode("utf-8", "replace")
            self.examples[kind] = text[:200]

    def total(self) -> int:
        return (self.malformed_json + self.non_finite + self.wrong_type + self.missing_step
                + self.step_backwards + self.invalid_utf8 + self.truncated)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


class Decoder:
    """Decode one arm's lines. Keeps the per-arm state that oddity checks need (last step)."""

    def __init__(self) -> None:
        self.oddities = Oddities()
        self.last_step: int | None = None

    def decode(self, raw: bytes, truncated: bool = False) -> Record:
        if truncated:
            self.oddities.note("truncated", raw)
        stripped = raw.lstrip()
        if stripped[:1] == b"{":
            try:
                obj = _decode(stripped)
            except RecursionError:
                self.oddities.note("malformed_json", raw)
                return TextRecord(self._text(raw))
            except _DecodeError:
                # Python's json emits NaN / Infinity, which strict JSON decoders refuse
                obj = self._lenient(stripped)
                if obj is None:
                    self.oddities.note("malformed_json", raw)
                    return TextRecord(self._text(raw))
            if isinstance(obj, dict):
                return self._record(obj, raw)
        return TextRecord(self._text(raw))

    def _lenient(self, raw: bytes) -> dict[str, Any] | None:
        if b"NaN" not in raw and b"Infinity" not in raw:
            return None
        import json

        try:
            obj = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None
        return obj if isinstance(obj, dict) else None

    def _text(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.oddities.note("invalid_utf8", raw)
            return raw.decode("utf-8", "replace")

    def _record(self, obj: dict[str, Any], raw: bytes) -> Record:
        event = obj.get("event")
        if event is not None:
            if event == "env":
                return EnvRecord(obj)
            if event == "final":
                return FinalRecord(obj)
            return EventRecord(str(event), obj)
        step = obj.get("step")
        if step is None:
            self.oddities.note("missing_step", raw)
            return TextRecord(self._text(raw))
        if type(step) is not int:
            if isinstance(step, float) and step.is_integer():
                step = int(step)
            else:
                self.oddities.note("wrong_type", raw)
                return TextRecord(self._text(raw))
        values: dict[str, float] = {}
        for key, v in obj.items():
            if key in _RESERVED:
                continue
            tv = type(v)
            if tv is float:
                if v != v or v in (math.inf, -math.inf):
                    self.oddities.note("non_finite", raw)
                    continue
                values[key] = v
            elif tv is int:
                try:
                    values[key] = float(v)
                except OverflowError:
                    self.oddities.note("non_finite", raw)
            elif v is None:
                continue
            elif key in KNOWN_METRICS:
                self.oddities.note("wrong_type", raw)
        if self.last_step is not None and step <= self.last_step:
            self.oddities.note("step_backwards", raw)
        self.last_step = step
        return MetricRecord(step, values)
