"""Store snapshots: an arm's whole state cached beside its ``events.jsonl``.

Rebuilding a long run from ``events.jsonl`` means decoding every line again (10 M lines:
~30 s). When an arm has ended (or the monitor detaches) its :class:`RunState` is written to
``arms/<run_id>/store.snap``; ``attach`` / ``report`` load it and replay only the lines
appended after the byte offset it covers.

The file is only a cache, and a run directory may come from someone else: it is plain
data (no pickle, nothing in it is ever executed), checked on load (magic, format and abtui
version, lengths, CRC-32s, the ``events.jsonl`` bytes it claims to cover), and anything
wrong with it means "no snapshot": a full replay, never an error. Layout::

    MAGIC | u64 header length | u32 CRC-32 of the header | header (JSON) | array bytes

The header holds the scalar state (JSON through the stdlib, so NaN and lone surrogates
that the lenient decoder let through round-trip) and, per series, which blob of the
payload each column is; identical columns (the steps and times of metrics logged
together) are stored once.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import sys
import tempfile
import zlib
from array import array
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from abtui import __version__
from abtui.adapters import ADAPTERS, FALLBACK, LogAdapter
from abtui.infra.safe_io import TEMP_SUFFIX, open_read
from abtui.ingest.decode import Decoder
from abtui.ingest.events import read_event_batches
from abtui.store.run import LOG_KEEP, RunState
from abtui.store.series import BUCKETS, Series

FORMAT = 2  # 2: raw columns only (the buckets are folded from them when read)
MAGIC = b"ABTUI-STORE-SNAPSHOT\n"
SNAP_NAME = "store.snap"
FILES_NAME = "files.jsonl"  # lines made from the files an arm writes (abtui.ingest.files)
_PREFIX = struct.Struct("<QI")  # header length, CRC-32 of the header
# events.jsonl is recognised by a CRC-32 of windows spread over the bytes a snapshot covers
# (a few reads, whatever the size): another run's file, or one cut and written again, fails
_WINDOWS, _WINDOW = 16, 256
_COLUMNS = ("steps", "values", "times")


def snapshot_path(events_path: str | Path) -> Path:
    """Where the snapshot of the arm whose lines are in ``events_path`` lives."""
    return Path(events_path).with_name(SNAP_NAME)


def write_snapshot(state: RunState, events_path: str | Path, size: int | None = None,
                   path: Path | None = None) -> bool:
    """Write ``state`` as the snapshot covering ``events_path`` as it is now (or its first
    ``size`` bytes), to its ``store.snap`` (or ``path``).

    Call it only when ``state`` holds exactly the complete lines of those bytes and
    nothing ingests any more (the arm's watcher done, its writer closed). Atomic (tmp +
    rename); any OSError just means no snapshot (False).
    """
    path = path or snapshot_path(events_path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
        size = os.path.getsize(events_path) if size is None else size
        mark = _fingerprint(events_path, size)
        with state.lock:
            header, blobs = _describe(state, size, mark)
        # written outside the lock (readers never wait for the disk): no ingest goes on
        raw = json.dumps(header, ensure_ascii=True, separators=(",", ":")).encode()
        with os.fdopen(fd, "wb") as fh:  # created exclusively: no planted name written through
            fh.write(MAGIC + _PREFIX.pack(len(raw), zlib.crc32(raw)) + raw)
            for blob in blobs:
                fh.write(memoryview(blob).cast("B"))
        os.replace(tmp, path)
        return True
    except OSError:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return False


def covered_size(events_path: str | Path) -> int | None:
    """The ``events.jsonl`` size the existing snapshot covers (header only), or None."""
    try:
        with open(open_read(snapshot_path(events_path)), "rb") as fh:
            header = _read_header(fh)
    except (OSError, ValueError):
        return None
    return header["events_size"] if header is not None else None


def load_snapshot(state: RunState, events_path: str | Path, path: Path | None = None) -> int:
    """Fill a fresh ``state`` from the snapshot of ``events_path`` (its ``store.snap``, or
    ``path``) if there is a valid one.

    Returns the byte offset of ``events_path`` the state now covers (0: nothing loaded,
    ``state`` untouched).
    """
    try:
        with open(open_read(path or snapshot_path(events_path)), "rb") as fh:
            header = _read_header(fh)
            if header is None:
                return 0
            size = header["events_size"]
            if (type(size) is not int or size <= 0 or size > os.path.getsize(events_path)
                    or _fingerprint(events_path, size) != header["events_crc"]):
                return 0
            blobs = _read_blobs(fh, header)
        if blobs is None:
            return 0
        _restore(state, header, blobs)
    except Exception:  # a cache: whatever is wrong with it, replay in full
        return 0
    return size


def replay_events(state: RunState, events_path: str | Path, offset: int | None = None,
                  stop: int | None = None) -> None:
    """Fold ``events_path`` into ``state``: snapshot first if valid, then the lines after
    it (the same state as folding every line). ``offset``: ``state`` already covers the
    file up to there (no snapshot is read); ``stop``: fold only the lines ending by then.
    Then the lines made from the arm's files (``files.jsonl`` beside it) that the state
    does not hold yet."""
    if offset is None:
        offset = load_snapshot(state, events_path)
    for batch in read_event_batches(events_path, offset=offset, stop=stop):
        state.ingest_many(batch.raws, batch.times, batch.truncated)
    replay_files(state, Path(events_path).with_name(FILES_NAME))


def replay_files(state: RunState, files_path: Path) -> None:
    """Fold the lines of ``files.jsonl`` past ``state.files_offset``."""
    for batch in read_event_batches(files_path, offset=state.files_offset):
        state.ingest_files(batch.raws, batch.times, batch.end)


# ---- writing ----------------------------------------------------------------------------

def _describe(state: RunState, size: int, mark: int) -> tuple[dict[str, Any], list[array]]:
    blobs: list[array] = []
    index: dict[tuple[str, int, int], list[int]] = {}
    crc = 0

    def blob_of(column: array) -> int:
        nonlocal crc
        c = zlib.crc32(memoryview(column).cast("B"))
        key = (column.typecode, len(column), c)
        for k in index.get(key, ()):  # the same bytes already stored: refer to them
            if blobs[k].tobytes() == column.tobytes():
                return k
        index.setdefault(key, []).append(len(blobs))
        blobs.append(column)
        crc = zlib.crc32(memoryview(column).cast("B"), crc)
        return len(blobs) - 1

    series = [{"name": name, "columns": [blob_of(getattr(s, col)) for col in _COLUMNS]}
              for name, s in state.series.items()]
    clock = state.clock
    dec = state.decoder
    header = {
        "format": FORMAT, "abtui": __version__, "buckets": BUCKETS, "log_keep": LOG_KEEP,
        "byteorder": sys.byteorder, "itemsize": {"d": array("d").itemsize, "l": array("l").itemsize},
        "events_size": size, "events_crc": mark,
        "state": {
            "status": state.status, "exit": state.exit.to_dict() if state.exit else None,
            "env": state.env, "final": state.final,
            "step": state.step, "first_time": state.first_time, "last_time": state.last_time,
            "last": state.last, "logs": list(state.logs),
            "log_count": state.log_count, "lines": state.lines, "events": state.events,
            "files_offset": state.files_offset,
        },
        # the decoder with its learned fast path: restored so decoding goes on alike
        "decoder": dec.to_state(),
        "series": series,
        # the log adapter as the arm left it (auto: the format detected, counted steps)
        "adapter": {"mode": state.adapter.mode, "name": state.adapter.name,
                    "pattern": state.adapter.pattern, "last_step": state.adapter.last_step,
                    "adapted_lines": state.adapted_lines, "unread": state.unread,
                    "throughput_source": state.implied.source},
        # the arm's step/time columns: series whose columns are these bytes share them
        "clock": [blob_of(clock[0]), blob_of(clock[1])] if clock is not None else None,
        "blobs": [[b.typecode, len(b)] for b in blobs],
        "payload_crc": crc,
    }
    return header, blobs


# ---- reading ----------------------------------------------------------------------------

def _fingerprint(events_path: str | Path, size: int) -> int:
    """CRC-32 of the first ``size`` bytes of ``events_path`` sampled: windows at even
    spacing, the last one ending at ``size`` (a line's end: the resume offset)."""
    starts = sorted({max(0, min(size * k // _WINDOWS, size - _WINDOW)) for k in range(_WINDOWS)}
                    | {max(0, size - _WINDOW)})
    crc = zlib.crc32(b"%d" % size)
    with open(open_read(events_path), "rb") as fh:
        for start in starts:
            fh.seek(start)
            crc = zlib.crc32(fh.read(min(_WINDOW, size - start)), crc)
    return crc


def _read_header(fh: Any) -> dict[str, Any] | None:
    """The header if the file is a snapshot of this format and abtui version, else None."""
    if fh.read(len(MAGIC)) != MAGIC:
        return None
    prefix = fh.read(_PREFIX.size)
    if len(prefix) != _PREFIX.size:
        return None
    length, crc = _PREFIX.unpack(prefix)
    if length > 1 << 30:
        return None
    raw = fh.read(length)
    if len(raw) != length or zlib.crc32(raw) != crc:
        return None
    header = json.loads(raw)
    if not isinstance(header, dict):
        return None
    same = (header.get("format") == FORMAT and header.get("abtui") == __version__
            and header.get("buckets") == BUCKETS and header.get("log_keep") == LOG_KEEP
            and header.get("byteorder") == sys.byteorder
            and header.get("itemsize") == {"d": array("d").itemsize, "l": array("l").itemsize})
    return header if same else None


def _read_blobs(fh: Any, header: dict[str, Any]) -> list[array] | None:
    blobs: list[array] = []
    crc = 0
    for typecode, count in header["blobs"]:
        if typecode not in ("d", "l") or type(count) is not int or count < 0:
            return None
        column = array(typecode)
        nbytes = count * column.itemsize
        data = fh.read(nbytes)
        if len(data) != nbytes:
            return None
        crc = zlib.crc32(data, crc)
        column.frombytes(data)
        blobs.append(column)
    if fh.read(1) or crc != header["payload_crc"]:
        return None
    return blobs


def _check(ok: bool) -> None:
    if not ok:
        raise ValueError("inconsistent snapshot")


def _is(kinds: type | tuple[type, ...], allow_none: bool = True) -> Callable[[Any], bool]:
    return lambda v: (allow_none and v is None) or (isinstance(v, kinds) and type(v) is not bool)


_number = _is((int, float))


def _restore(state: RunState, header: dict[str, Any], blobs: list[array]) -> None:
    """Build everything first, then assign: a bad snapshot leaves ``state`` untouched."""
    st = header["state"]
    _check(_is(int)(st["step"]) and _number(st["first_time"]) and _number(st["last_time"])
           and _is(int, False)(st["lines"]) and _is(int, False)(st["log_count"])
           and all(_is(dict)(st[k]) for k in ("exit", "env", "final"))
           and isinstance(st["events"], list) and isinstance(st["status"], str))
    last = {str(k): float(v) for k, v in st["last"].items()}
    logs: deque[tuple[float, str]] = deque(maxlen=LOG_KEEP)
    for t, text in st["logs"]:
        _check(_number(t) and isinstance(text, str))
        logs.append((t, text))

    used: set[int] = set()
    clock = None
    ticks = header.get("clock")  # absent in older snapshots: a fresh clock
    if ticks is not None:
        _check(isinstance(ticks, list) and len(ticks) == 2
               and all(_is(int, False)(k) and k < len(blobs) for k in ticks))
        clock = (blobs[ticks[0]], blobs[ticks[1]])
        _check(clock[0].typecode == clock[1].typecode == "d" and len(clock[0]) == len(clock[1]))
        used.update(ticks)
    series: dict[str, Series] = {}
    for entry in header["series"]:
        cols = entry["columns"]
        on_clock = ticks is not None and [cols[0], cols[2]] == ticks
        s = Series(clock if on_clock else None)
        for col, k in zip(_COLUMNS, cols, strict=True):
            if on_clock and col in ("steps", "times"):
                continue
            blob = blobs[k]
            _check(blob.typecode == getattr(s, col).typecode)
            # a shared blob is copied: every series owns (and grows) its own columns
            setattr(s, col, array(blob.typecode, blob) if k in used else blob)
            used.add(k)
        _check(len(s.steps) == len(s.values) == len(s.times) and entry["name"] not in series)
        series[str(entry["name"])] = s

    decoder = Decoder.from_state(header["decoder"])
    files_offset = st.get("files_offset", 0)
    _check(_is(int, False)(files_offset) and files_offset >= 0)

    adapter = state.adapter
    a = header.get("adapter")  # absent in older snapshots: the spec's adapter, fresh
    if isinstance(a, dict) and isinstance(a.get("mode"), str):
        name = a.get("name")
        if name == "regex" and isinstance(a.get("pattern"), str):
            adapter = LogAdapter("regex", a["pattern"])
        elif name == FALLBACK and a["mode"] == "auto":  # the fallback: still detecting
            adapter = LogAdapter("auto")
            adapter.name, adapter.words = name, ADAPTERS[name][0]
        elif isinstance(name, str) and name in ADAPTERS:
            adapter = LogAdapter(name)
            adapter.mode = a["mode"]  # auto, with the format it had detected
        else:
            adapter = LogAdapter(a["mode"])
        _check(_is(int, False)(a.get("last_step", 0)))
        adapter.last_step = int(a.get("last_step", 0))
        adapted = a.get("adapted_lines", 0)
        unread = a.get("unread", [])
        source = a.get("throughput_source")
        _check(_is(int, False)(adapted) and isinstance(unread, list)
               and all(isinstance(u, str) for u in unread)
               and (source is None or isinstance(source, str)))
    else:
        adapted, unread, source = 0, [], None

    # status and exit are kept for readers of the file; replay takes them from exit.json
    with state.lock:
        state.adapter = adapter
        state.adapted_lines, state.unread = adapted, unread[:5]
        state.implied.source = source
        state.env, state.final, state.events = st["env"], st["final"], st["events"]
        state.step, state.first_time, state.last_time = st["step"], st["first_time"], st["last_time"]
        state.last, state.series = last, series
        state.logs, state.log_count, state.lines = logs, st["log_count"], st["lines"]
        state.decoder = decoder
        state.files_offset = files_offset
        state.clock = clock if ticks is not None else (array("d"), array("d"))
        state.version += st["lines"]
