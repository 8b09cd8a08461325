"""Everything known about one run (arm x replicate): series, records, status, running summaries."""

from __future__ import annotations

import threading
from array import array
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from abtui.adapters import LogAdapter, Parsed, clip, split_line
from abtui.infra.untrusted import inert, inert_record
from abtui.ingest.decode import Decoder
from abtui.ingest.records import (
    EnvRecord,
    EventRecord,
    FinalRecord,
    MetricBlock,
    MetricRecord,
    Record,
    TextRecord,
)
from abtui.run_files import ArmExit
from abtui.store.implied import ImpliedThroughput
from abtui.store.series import Series, doubles
from abtui.store.status import ArmStatus, allowed, log

LOG_KEEP = 5000  # plain log lines kept in memory per arm (all of them are on disk)
LOG_LINE_CHARS = 4096  # characters of a line kept in that ring (5000 x 4 KiB: 20 MB at most)
MAX_EVENT_CHARS = 65536  # an event record larger than this is kept in memory as a stub
MAX_SERIES = 1000  # distinct metric names per arm; the rest are counted and ignored
MAX_KEY = 128  # a metric name longer than this is counted and ignored
MAX_EVENTS = 1000  # event records kept in memory per arm (all of them are on disk)
MAX_REFUSED = 10_000  # distinct refused names remembered (so each is counted once)
UNREAD_KEEP = 5  # the first plain lines no adapter read, kept to say why nothing was read
UNREAD_CHARS = 200


@dataclass
class RunState:
    """One run (arm x replicate). Written by one ingest thread; read by front ends."""

    run_id: str
    arm: str
    replicate: int = 0
    total_steps: int | None = None
    gpus: tuple[int, ...] = ()
    status: str = ArmStatus.PENDING
    exit: ArmExit | None = None
    env: dict[str, Any] | None = None
    final: dict[str, Any] | None = None
    step: int | None = None
    first_time: float | None = None
    last_time: float | None = None
    last: dict[str, float] = field(default_factory=dict)
    series: dict[str, Series] = field(default_factory=dict)
    logs: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=LOG_KEEP))
    log_count: int = 0
    lines: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)  # metric names refused (see _new_series)
    adapter: LogAdapter = field(default_factory=LogAdapter)  # plain lines read as metrics
    adapted_lines: int = 0  # plain lines an adapter read
    implied: ImpliedThroughput = field(default_factory=ImpliedThroughput)  # rates a log implies
    unread: list[str] = field(default_factory=list)  # the first plain lines none read
    decoder: Decoder = field(default_factory=Decoder)
    # metric lines made from the files the arm writes (abtui.ingest.files): their own
    # decoder (their steps are not the output's), and the bytes of files.jsonl folded
    file_decoder: Decoder = field(default_factory=Decoder, repr=False)
    files_offset: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    version: int = 0
    # The step and time of every metric line: the columns of the series that every metric
    # line has carried (most of them), held once for all of them. Dropped (None) once no
    # series shares it and none can any more.
    clock: tuple[array, array] | None = field(
        default_factory=lambda: (array("d"), array("d")), repr=False)

    def move(self, status: str) -> bool:
        """The one way a run's status is written: ``status`` if the move is real (see
        ``store.status.MOVES``), else nothing (False; an ended run never comes back)."""
        if not allowed(self.status, status):
            log.debug("run %s: %s -> %s refused", self.run_id, self.status, status)
            return False
        if self.status != status:
            self.status = ArmStatus(status)
            self.version += 1
        return True

    def ingest(self, raw: bytes, t: float, truncated: bool = False) -> Record:
        """Decode one line and fold it in."""
        rec = self.decoder.decode(raw, truncated)
        with self.lock:
            self.lines += 1
            self.version += 1
            if self.first_time is None:
                self.first_time = t
            self.last_time = t
            if type(rec) is MetricRecord:
                self._metric(rec, t)
            else:
                self._other(rec, t)
        return rec

    def ingest_files(self, raws: Sequence[bytes], t: float | Sequence[float], end: int) -> int:
        """Fold metric lines made from the arm's files, which end at byte ``end`` of its
        files.jsonl."""
        n = self.ingest_many(raws, t, decoder=self.file_decoder)
        self.files_offset = end
        return n

    def ingest_many(self, raws: Sequence[bytes], t: float | Sequence[float],
                    truncated: Sequence[bool] | None = None, decoder: Decoder | None = None
                    ) -> int:
        """Decode a batch of lines and fold it in under one lock; the same state as calling
        :meth:`ingest` for each line. ``t`` is one receive time for the batch or one per line.

        Returns the number of lines ingested.
        """
        n = len(raws)
        if not n:
            return 0
        items = (decoder or self.decoder).decode_many(raws, truncated)
        each: Sequence[float] | None = None if isinstance(t, (int, float)) else t
        one = float(t) if isinstance(t, (int, float)) else 0.0
        with self.lock:
            self.lines += n
            self.version += n
            if self.first_time is None:
                self.first_time = each[0] if each is not None else one
            self.last_time = each[-1] if each is not None else one
            for i, item in items:
                at = each[i] if each is not None else one
                if isinstance(item, MetricBlock):
                    k = len(item.steps)
                    times = (doubles(each[i:i + k]) if each is not None
                             else array("d", [one]) * k)
                    self._metric_block(item, times)
                elif isinstance(item, MetricRecord):
                    self._metric(item, at)
                else:
                    self._other(item, at)
        return n

    def _other(self, rec: Record, t: float) -> None:
        if type(rec) is TextRecord:
            raw = rec.text
            split = split_line(clip(raw))  # once: for the log pane and the adapter
            text = (split[-1][0] if split else "") if ("\r" in raw or "\x1b" in raw) else raw
            # the ring holds LOG_KEEP lines of at most LOG_LINE_CHARS: bounded in bytes
            # (every line is whole on disk, in output.log and events.jsonl)
            self.logs.append((t, text if len(text) <= LOG_LINE_CHARS
                              else text[:LOG_LINE_CHARS] + " …"))
            self.log_count += 1
            if self.adapter.mode == "protocol":
                return
            known = self.adapter.name
            read = self.adapter.feed_split(split)
            if not read:
                if len(self.unread) < UNREAD_KEEP and text.strip():
                    self.unread.append(text[:UNREAD_CHARS])
                return
            self.adapted_lines += 1
            if self.adapter.name != known:  # detected (or fell back): say so where users look
                self.logs.append((t, f"[abtui] arm {self.run_id}: reading "
                                     f"{self.adapter.words} as metrics"))
            for parsed in read:
                self._adapted(parsed, t)
        elif type(rec) is EnvRecord:  # strings made inert once, here (abtui.infra.untrusted)
            self.env = inert_record(rec.data)
        elif type(rec) is FinalRecord:
            self.final = inert_record(rec.data)
        elif type(rec) is EventRecord:
            data = inert_record(rec.data)
            shown = str(data)
            if len(shown) > MAX_EVENT_CHARS:  # kept on disk whole; in memory, bounded
                data = {"event": inert(str(rec.name))[:MAX_KEY], "truncated": True,
                        "chars": len(shown)}
                shown = str(data)
            if len(self.events) < MAX_EVENTS:
                self.events.append(data)
            else:
                self.decoder.oddities.note("events_capped", rec.name)
            self.logs.append((t, f"[{inert(str(rec.name))[:MAX_KEY]}] {shown[:LOG_LINE_CHARS]}"))
            self.log_count += 1

    def _adapted(self, parsed: Parsed, t: float) -> None:
        """A plain line a log adapter read: totals into the final record, else metrics."""
        values = {k: v for k, v in parsed.values.items() if v == v and abs(v) != float("inf")}
        if not parsed.final:
            self.implied.add(values, t, self.final)
        if parsed.final:
            self.final = {**(self.final or {}), **values}
        elif values and parsed.step is not None:
            self._metric(MetricRecord(parsed.step, values), t)

    def nothing_read(self) -> str | None:
        """Why no metric was read from this run, with the fix; None when one was."""
        if self.series or (not self.lines and self.status != ArmStatus.DONE):
            return None  # read, or never ran: its failure says why
        if not self.lines:
            return (f"arm {self.run_id}: printed nothing and wrote no metric file under "
                    "$ABTUI_OUT")
        fmt = ("no known format matched" if self.adapter.mode == "auto"
               else f"log_format {self.adapter.name or self.adapter.mode} matched nothing")
        seen = "; ".join(repr(u[:120]) for u in self.unread[:3]) or "(only blank lines)"
        return (f"arm {self.run_id}: no metric read from its {self.lines} lines ({fmt}); the "
                f"first unread: {seen}. Fix: give the pattern, e.g. abtui ab --log-format "
                "'regex:step (?P<step>\\d+).*loss (?P<loss>[-.\\de]+)' (or log_format: {regex: "
                "...} in the spec), print JSON lines {\"step\": N, \"loss\": x} (abtui.reporter), "
                "or write TensorBoard / CSV logs under $ABTUI_OUT")

    def _new_series(self, name: str, base: int) -> Series | None:
        """A series for a metric first seen after ``base`` metric lines: on the clock when
        every metric line so far has it (``base == 0``). None for a name that is refused:
        not printable, longer than ``MAX_KEY``, or past ``MAX_SERIES`` names (an arm is
        untrusted: a flood of unique keys must not grow the monitor without bound)."""
        if name in self.refused:
            return None
        kind = (None if len(name) <= MAX_KEY and name.isprintable() and name.strip() == name
                else "bad_key")
        if kind is None and len(self.series) >= MAX_SERIES:
            kind = "series_capped"
        if kind is not None:
            if len(self.refused) < MAX_REFUSED:
                self.refused.add(name)
            self.decoder.oddities.note(kind, repr(name[:80]))
            return None
        clock = self.clock
        s = self.series[name] = Series(clock if base == 0 and clock is not None else None)
        return s

    def _clock_base(self) -> int:
        """How many metric lines the clock holds (-1: no clock, or none any more)."""
        clock = self.clock
        if clock is None:
            return -1
        base = len(clock[0])
        if base and not any(s.shared for s in self.series.values()):
            self.clock = None  # nothing shares it, nothing ever will
            return -1
        return base

    def _tick(self, steps: array, times: array) -> int:
        """Put metric lines on the clock; returns how many it held before (-1: no clock)."""
        base = self._clock_base()
        if base >= 0 and self.clock is not None:
            self.clock[0].extend(steps)
            self.clock[1].extend(times)
        return base

    def _tick_one(self, step: float, t: float) -> int:
        """``_tick`` for one metric line."""
        base = self._clock_base()
        if base >= 0 and self.clock is not None:
            self.clock[0].append(step)
            self.clock[1].append(t)
        return base

    def _untick(self, carried: set[str] | dict[str, float]) -> None:
        """Series on the clock that these lines did not carry leave it."""
        for name, s in self.series.items():
            if s.shared and name not in carried:
                s.detach()

    def _metric(self, rec: MetricRecord, t: float) -> None:
        step = rec.step
        if self.adapter.mode == "auto" and self.adapter.name is None:
            self.adapter.mode = "protocol"  # it speaks the protocol: no guessing at its text
        self.step = step
        series = self.series
        last = self.last
        values = rec.values
        base = self._tick_one(step, t)
        if base > 0:
            self._untick(values)
        for name, v in values.items():
            s = series.get(name)
            if s is None:
                s = self._new_series(name, base)
                if s is None:
                    continue
            s.append(step, v, t)
            last[name] = v

    def _metric_block(self, block: MetricBlock, times: array) -> None:
        if self.adapter.mode == "auto" and self.adapter.name is None:
            self.adapter.mode = "protocol"
        step_col = block.steps
        n = len(step_col)
        self.step = block.last_step
        series, last = self.series, self.last
        base = self._tick(step_col, times)
        carried = set()
        for (name, col), miss in zip(block.columns, block.missing, strict=True):
            if miss == n:
                continue
            s = series.get(name)
            if miss:  # a metric some lines lack: keep the lines that have it
                if s is not None:
                    s.detach()
                keep = [k for k, v in enumerate(col) if v == v]
                at_steps = array("d", [step_col[k] for k in keep])
                at_times = array("d", [times[k] for k in keep])
                col = array("d", [col[k] for k in keep])
                if s is None:
                    s = self._new_series(name, -1)
            else:
                at_steps, at_times = step_col, times
                if s is None:
                    s = self._new_series(name, base)
                if s is not None:
                    carried.add(name)
            if s is None:
                continue
            s.put(at_steps, col, at_times)
            last[name] = col[-1]
        if base > 0:
            self._untick(carried)

    def columns(self, names: Sequence[str]) -> dict[str, tuple[Any, Any, Any]]:
        """(steps, values, times) numpy copies of each of ``names`` the arm has; the step
        and time columns that series share (the clock) copied once for all of them.
        Call with ``lock`` held (a report of millions of points: each copy is a memcpy of
        tens of MB)."""
        out: dict[str, tuple[Any, Any, Any]] = {}
        shared: dict[int, tuple[Any, Any]] = {}
        for name in names:
            s = self.series.get(name)
            if s is None:
                continue
            if not s.shared:
                steps, values, times = s.arrays()
            else:
                n = len(s)
                key = n  # under the lock every shared series is as long as the clock
                if key not in shared:
                    shared[key] = s.arrays("st")
                steps, times = shared[key]
                (values,) = s.arrays("v")
            out[name] = (steps, values, times)
        return out

    @property
    def peak(self) -> dict[str, float]:
        """The largest value of each metric (folded from the series when asked)."""
        return {name: p for name, s in list(self.series.items()) if (p := s.peak) is not None}

    @property
    def oddities(self) -> dict[str, Any]:
        return self.decoder.oddities.to_dict()

    @property
    def progress(self) -> float | None:
        if self.step is None or not self.total_steps:
            return None
        return min(1.0, self.step / self.total_steps)

    def eta_s(self) -> float | None:
        """Seconds left at the pace seen so far."""
        p = self.progress
        if not p or self.first_time is None or self.last_time is None or p >= 1:
            return None
        elapsed = self.last_time - self.first_time
        return elapsed * (1 - p) / p if elapsed > 0 else None

    def recent_logs(self, n: int = 200) -> list[tuple[float, str]]:
        with self.lock:
            return list(self.logs)[-n:]
