"""Lines -> typed records. Anything odd is counted and kept, never an error.

One path, on msgspec. The general step decodes a line into a dict and checks every field.
Plain metric lines are decoded straight into a msgspec Struct whose fields were learned
from the keys seen so far (see :class:`_Shape`); any line it does not accept exactly
(unknown key, wrong type, NaN, a float step, an event...) goes the general way, so
oddities are counted the same. :meth:`Decoder.decode_many` decodes whole batches and
hands the store columns of doubles (:class:`MetricBlock`).
"""

from __future__ import annotations

import math
import re
import struct
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import islice
from operator import attrgetter, lt
from typing import Annotated, Any

import msgspec

from abtui.adapters.base import terminal_text
from abtui.ingest.records import (
    MISSING,
    EnvRecord,
    EventRecord,
    FinalRecord,
    MetricBlock,
    MetricRecord,
    Record,
    TextRecord,
)

__all__ = ["MISSING", "EnvRecord", "EventRecord", "FinalRecord", "MetricBlock", "MetricRecord",
           "Record", "TextRecord", "Decoder", "Oddities", "KNOWN_METRICS"]

_decode = msgspec.json.Decoder().decode
_astuple = msgspec.structs.astuple
_pack = struct.pack
_DecodeError = msgspec.DecodeError
# what the fast path may raise on a line it does not take (the general path then decides)
_FAST_MISS = (msgspec.DecodeError, RecursionError, OverflowError, ValueError, TypeError)
_MAX_FIELDS = 64       # a shape wider than this is not worth a Struct
_MAX_MISSES = 64       # lines the fast path refused that taught it nothing: then stop trying
_SLICE = 512           # lines decode_many turns into columns at a time: the work stays in cache
_STEP_LIMIT = 2**63  # steps are stored as float64; beyond int64 a step is garbage
# |step| < 2**63, as the general path wants (and the C scanner takes)
_StepInt = Annotated[int, msgspec.Meta(ge=-_STEP_LIMIT + 1, le=_STEP_LIMIT - 1)]
_RESERVED = frozenset(("step", "timestamp", "event", "time", "epoch_time", "rank"))
# Standard metrics: a non-number here is a wrong type. Other non-numeric fields are
# annotations ("phase": "train") and are ignored quietly.
KNOWN_METRICS = frozenset(("loss", "accuracy", "throughput_samples_per_sec", "step_time_ms",
                           "gpu_memory_mb", "rss_mb", "lr"))


# Kinds of fields in a learned shape and the Struct type each is decoded as
_STEP, _METRIC, _IGNORED, _ANNOTATION = "step", "metric", "ignored", "annotation"
_FIELD_TYPE: dict[str, Any] = {
    _METRIC: float,          # ints widen; null, bools, strings refuse (the general path decides)
    _IGNORED: Any,                               # reserved keys: skipped whatever they hold
    _ANNOTATION: str | bool | list | dict | None,  # non-numbers the general path ignores
}


_ODD_KEY = re.compile(r'["\\\x00-\x1f]')
def _utf8(key: str) -> bool:
    try:
        key.encode()
    except UnicodeEncodeError:  # a lone surrogate, from a \\ud800 escape
        return False
    return True


_KINDS = (_STEP, _METRIC, _IGNORED, _ANNOTATION)  # the kinds a learned shape may hold


class _Shape:
    """A msgspec Struct for plain metric lines with exactly the keys (and kinds) seen so far.

    Unknown keys are refused (``forbid_unknown_fields``), so a line with a new key goes
    through the general path, which teaches the shape that key.
    """

    def __init__(self, kinds: dict[str, str]) -> None:
        self.kinds = kinds
        names = {key: f"f{i}" for i, key in enumerate(kinds)}
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [(names["step"], _StepInt)]
        fields += [(names[k], _FIELD_TYPE[kind], MISSING if kind == _METRIC else None)
                   for k, kind in kinds.items() if kind != _STEP]
        struct = msgspec.defstruct("MetricLine", fields, rename={v: k for k, v in names.items()},
                                   forbid_unknown_fields=True, gc=False)
        self.decode = msgspec.json.Decoder(struct).decode
        self.step_of = attrgetter(names["step"])
        self.metrics = [(k, attrgetter(names[k])) for k, kind in kinds.items() if kind == _METRIC]
        # positions in ``astuple`` order (the order of ``kinds``; "step" is always first)
        self.metric_at = [(k, i) for i, (k, kind) in enumerate(kinds.items()) if kind == _METRIC]

    @staticmethod
    def kinds_of(obj: dict[str, Any]) -> dict[str, str] | None:
        """The kind of each key of a clean metric line, or None if it cannot be a shape."""
        if "event" in obj:
            return None
        kinds: dict[str, str] = {}
        for key, v in obj.items():
            if _ODD_KEY.search(key) or not _utf8(key):  # msgspec cannot name a field so
                return None
            if key == "step":
                kinds[key] = _STEP
            elif key in _RESERVED:
                kinds[key] = _IGNORED
            elif v is None or type(v) is float or type(v) is int:
                kinds[key] = _METRIC
            elif key not in KNOWN_METRICS:
                kinds[key] = _ANNOTATION
            else:
                return None
        return kinds


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
    bad_key: int = 0  # metric names that are not printable or too long (ignored)
    series_capped: int = 0  # distinct metric names past the per-arm cap (ignored)
    events_capped: int = 0  # event records past the per-arm cap (not kept in memory)
    examples: dict[str, str] = field(default_factory=dict)

    def note(self, kind: str, line: bytes | str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if kind not in self.examples:
            text = line if isinstance(line, str) else line[:200].decode("utf-8", "replace")
            self.examples[kind] = text[:200]

    def total(self) -> int:
        return (self.malformed_json + self.non_finite + self.wrong_type + self.missing_step
                + self.step_backwards + self.invalid_utf8 + self.truncated + self.bad_key
                + self.series_capped + self.events_capped)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


class Decoder:
    """Decode one arm's lines. Keeps the per-arm state that oddity checks need (last step)."""

    def __init__(self) -> None:
        self.oddities = Oddities()
        self.last_step: int | None = None
        self._shape: _Shape | None = None
        self._learning = True
        self._misses = 0

    def to_state(self) -> dict[str, Any]:
        """What a store snapshot keeps of this decoder (plain JSON data)."""
        shape = self._shape
        return {"oddities": self.oddities.to_dict(), "last_step": self.last_step,
                "kinds": shape.kinds if shape is not None else None,
                "learning": self._learning, "misses": self._misses}

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Decoder:
        """The decoder ``to_state`` described; ValueError when ``d`` is not one."""
        oddities = d.get("oddities")
        kinds = d.get("kinds")
        last = d.get("last_step")
        if not (isinstance(oddities, dict) and set(oddities) == set(Oddities().to_dict())
                and (last is None or type(last) is int) and type(d.get("misses")) is int
                and isinstance(d.get("learning"), bool)
                and (kinds is None or (isinstance(kinds, dict) and kinds.get("step") == _STEP
                                       and set(kinds.values()) <= set(_KINDS)))):
            raise ValueError("not a decoder's state")
        dec = cls()
        dec.oddities = Oddities(**oddities)
        dec.last_step = last
        dec._shape = _Shape(kinds) if kinds is not None else None
        dec._learning = d["learning"]
        dec._misses = d["misses"]
        return dec

    def decode(self, raw: bytes, truncated: bool = False) -> Record:
        """One line -> one record (oddities counted on the way)."""
        shape = self._shape
        if shape is not None and not truncated:
            try:
                line = shape.decode(raw)
            except _FAST_MISS:
                pass
            else:
                step = shape.step_of(line)
                values = {name: v for name, get in shape.metrics if (v := get(line)) is not MISSING}
                if self.last_step is not None and step <= self.last_step:
                    self.oddities.note("step_backwards", raw)
                self.last_step = step
                return MetricRecord(step, values)
        return self._decode_slow(raw, truncated)

    def _decode_slow(self, raw: bytes, truncated: bool) -> Record:
        """The general path, learning the shape of clean metric lines on the way."""
        if not self._learning:
            return self._decode_general(raw, truncated)
        before = self.oddities.total()
        rec = self._decode_general(raw, truncated)
        if type(rec) is MetricRecord and self.oddities.total() == before:
            self._learn(raw)
        return rec

    def decode_many(self, raws: Sequence[bytes], truncated: Sequence[bool] | None = None
                    ) -> list[tuple[int, Record | MetricBlock]]:
        """Decode a batch: ``(index of first line, record or block of metric lines)``, in order.

        The same records, oddities and ``last_step`` as :meth:`decode` line by line; runs of
        plain metric lines come back as :class:`MetricBlock` s of at most ``_SLICE`` lines.
        """
        out: list[tuple[int, Record | MetricBlock]] = []
        for lo in range(0, len(raws), _SLICE):
            self._decode_slice(raws, lo, min(len(raws), lo + _SLICE), truncated, out)
        return out

    def _decode_slice(self, raws: Sequence[bytes], lo: int, hi: int,
                      truncated: Sequence[bool] | None,
                      out: list[tuple[int, Record | MetricBlock]]) -> None:
        shape = self._shape
        if shape is not None and not (truncated and any(truncated[lo:hi])):
            try:
                lines = list(map(shape.decode, raws[lo:hi]))
            except _FAST_MISS:
                pass
            else:
                out.append((lo, self._block(shape, raws, lo, lines)))
                return
        pending: list[Any] = []  # lines the fast path decoded, all by ``shape`` (not None)
        start = lo
        for i in range(lo, hi):
            raw = raws[i]
            cut = bool(truncated[i]) if truncated else False
            if shape is not None and not cut:
                try:
                    pending.append(shape.decode(raw))
                    continue
                except _FAST_MISS:
                    pass
            if pending and shape is not None:
                out.append((start, self._block(shape, raws, start, pending)))
                pending = []
            out.append((i, self._decode_slow(raw, cut)))
            shape = self._shape  # it may have learned a wider shape
            start = i + 1
        if pending and shape is not None:
            out.append((start, self._block(shape, raws, start, pending)))

    def _block(self, shape: _Shape, raws: Sequence[bytes], start: int, lines: list[Any]
               ) -> MetricBlock:
        cols = list(zip(*map(_astuple, lines), strict=True))  # fields -> columns, in C
        steps = cols[0]
        last = self.last_step
        if not ((last is None or steps[0] > last) and all(map(lt, steps, islice(steps, 1, None)))):
            for k, step in enumerate(steps):  # rare: count exactly as line by line
                if last is not None and step <= last:
                    self.oddities.note("step_backwards", raws[start + k])
                last = step
        self.last_step = steps[-1]
        fmt = f"{len(steps)}d"
        columns, missing = [], []
        for name, i in shape.metric_at:
            col = cols[i]
            columns.append((name, array("d", _pack(fmt, *col))))
            missing.append(col.count(MISSING))  # by identity first: fast
        return MetricBlock(array("d", _pack(fmt, *steps)), columns, missing, steps[-1])

    def _learn(self, raw: bytes) -> None:
        """Widen the fast path's shape with the keys of a clean metric line."""
        try:
            obj = _decode(raw.lstrip())
        except (_DecodeError, RecursionError):
            obj = None
        kinds = _Shape.kinds_of(obj) if isinstance(obj, dict) else None
        merged = dict(self._shape.kinds) if self._shape is not None else {"step": _STEP}
        changed = False
        for key, kind in (kinds or {}).items():
            known = merged.get(key)
            if known is None:
                merged[key] = kind
                changed = True
            elif known != kind:  # a key that is sometimes a number, sometimes not
                self._learning, self._shape = False, None
                return
        if changed and len(merged) <= _MAX_FIELDS:
            self._shape = _Shape(merged)
            return
        self._misses += 1
        if self._misses > _MAX_MISSES or len(merged) > _MAX_FIELDS:
            self._learning = False  # keep the shape; lines it refuses take the general path

    def _decode_general(self, raw: bytes, truncated: bool) -> Record:
        if truncated:
            self.oddities.note("truncated", raw)
        stripped = raw.lstrip()
        if stripped[:1] != b"{" and (b"\r" in raw or b"\x1b" in raw) and b'{"' in raw:
            # a protocol line printed while a progress bar was up (stdout and stderr share
            # the arm's pipe): the line is what a terminal shows after the bar's last \r
            shown = terminal_text(raw.decode("utf-8", "replace")).lstrip()
            if shown[:2] == '{"':  # a JSON object (a Python dict's repr starts with {')
                stripped = shown.encode()
        if stripped[:1] == b"{" and stripped[:2] != b"{'":  # {' is a Python dict's repr
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
            if isinstance(step, float) and step.is_integer() and abs(step) < _STEP_LIMIT:
                step = int(step)
            else:
                self.oddities.note("wrong_type", raw)
                return TextRecord(self._text(raw))
        elif abs(step) >= _STEP_LIMIT:  # would overflow the float columns of the store
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
