"""Tail a container's log through the Docker daemon: complete lines, resume tokens, no loss.

What the daemon does that this module has to undo (measured on Engine 20.10, json-file):

- A log entry is one line, except that a line longer than 16 KiB is split into several
  *partial* entries (no trailing newline). All parts carry the timestamp of the first part.
- stdout and stderr are separate entries, interleaved in arrival order, so a stderr line can
  sit between two parts of a long stdout line: timestamps are not monotonic in file order.
- ``follow=True`` can hang after the container exits, and ends with a connection error when the
  daemon restarts (with ``--live-restore`` the container keeps running and logging).

Each stream, though, is in timestamp order (one copier per stream stamps and writes in turn),
while between the two streams the file order lags the stamps by up to several lines on a busy
host. So the resume token keeps one watermark per stream: the daemon timestamp (RFC3339Nano)
of the last stdout line handed on, then ``;err=<timestamp>`` once a stderr line was, and
``;since=<timestamp>`` when an incomplete long line started before the usual re-read window.
A runner that only prints to stdout gets a bare timestamp. On resume, each stream's entries
at or before its watermark are skipped: no line twice, none lost.
"""

from __future__ import annotations

import calendar
import contextlib
import http.client
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import docker.errors
import requests
import urllib3
from docker.types.daemon import CancellableStream

from abtui.backends.base import LogLine
from abtui.ingest.lines import MAX_LINE, LineAssembler

_EXIT_GRACE_S = 2.0  # after the container exits, how long the follow stream may take to end
_WATCH_S = 0.25
NS = 1_000_000_000


# --------------------------------------------------------------------------- timestamps
_SECONDS: dict[str, int] = {}


def parse_ts(stamp: str | bytes) -> int:
    """RFC3339Nano (``2026-11-23T02:49:42.495164275Z``) -> integer nanoseconds since the epoch."""
    s = stamp.decode() if isinstance(stamp, bytes) else stamp
    if not s.endswith("Z"):  # the daemon writes UTC; accept an explicit offset too
        from datetime import datetime

        dt = datetime.fromisoformat(s)
        return int(dt.timestamp()) * NS + dt.microsecond * 1000
    main, _, frac = s[:-1].partition(".")
    secs = _SECONDS.get(main)
    if secs is None:  # consecutive entries mostly share their second: parse it once
        secs = calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S"))
        if len(_SECONDS) > 256:
            _SECONDS.clear()
        _SECONDS[main] = secs
    if not frac.isdigit() and frac:
        raise ValueError(f"bad timestamp {s!r}")
    return secs * NS + int((frac + "000000000")[:9] or 0)


def format_ts(ns: int) -> str:
    """Integer nanoseconds -> RFC3339Nano with all nine digits."""
    secs, frac = divmod(ns, NS)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


STDOUT, STDERR = 1, 2
_LAG_NS = 30 * NS  # far more than the two streams ever drift apart in the daemon's file


def _default_since(last: dict[int, int]) -> int | None:
    """Where a re-read must start: each stream's entries after its watermark are all later
    than this (a stream with no watermark has had everything before ``newest - lag`` read)."""
    if not last:
        return None
    newest = max(last.values())
    if len(last) == 2:
        return max(min(last.values()), newest - _LAG_NS)
    return newest - _LAG_NS


@dataclass
class ResumePoint:
    """Per stream, the stamp of the last line handed on; ``since``: where a re-read starts."""

    last: dict[int, int] = field(default_factory=dict)
    since: int | None = None

    @classmethod
    def parse(cls, token: int | str | None) -> ResumePoint:
        if token is None or token == "":
            return cls()
        if isinstance(token, int):  # nanoseconds: treat as both streams' watermark
            return cls({STDOUT: token, STDERR: token}, token)
        head, *rest = str(token).split(";")
        last = {STDOUT: parse_ts(head)} if head else {}
        fields = dict(part.partition("=")[::2] for part in rest)
        if fields.get("err"):
            last[STDERR] = parse_ts(fields["err"])
        since = parse_ts(fields["since"]) if fields.get("since") else _default_since(last)
        return cls(last, since)

    def token(self) -> str:
        parts = [format_ts(self.last[STDOUT]) if STDOUT in self.last else ""]
        if STDERR in self.last:
            parts.append(f"err={format_ts(self.last[STDERR])}")
        if self.since is not None and self.since != _default_since(self.last):
            parts.append(f"since={format_ts(self.since)}")
        return ";".join(parts)

    def seen(self, stream: int, ts: int) -> bool:
        """True if the entry stamped ``ts`` on ``stream`` belongs to a line handed on already."""
        mark = self.last.get(stream)
        return mark is not None and ts <= mark

    def copy(self) -> ResumePoint:
        return ResumePoint(dict(self.last), self.since)

    def advance(self, stream: int, ts: int, pending: list[int]) -> None:
        """A line of ``stream`` whose last entry is stamped ``ts`` was handed on; ``pending``:
        the first stamps of lines still incomplete, which a re-read must include."""
        self.last[stream] = max(ts, self.last.get(stream, ts))
        self.since = min([_default_since(self.last) or 0, *pending])


# ------------------------------------------------------------------------------ frames
#: The docker-py internals ``raw_logs_response`` uses (tests/test_private_apis.py fails
#: on an upgrade that drops them).
DOCKER_PRIVATE_API = ("_url", "_get", "_raise_for_status")


def raw_logs_response(api: docker.APIClient, container_id: str, params: dict[str, object],
                      follow: bool) -> Any:
    """The HTTP response of ``GET /containers/{id}/logs``, unread: the only use of
    docker-py's private API in abtui. The public ``logs()`` demultiplexes the frames and
    drops which stream (stdout / stderr) and which timestamp each came with, which resume
    tokens need; a follow stream must also run without the client's read timeout."""
    url = api._url("/containers/{0}/logs", container_id)
    # a follow stream blocks for as long as the arm is quiet: no read timeout there (the
    # watcher thread closes it); a plain read keeps the client's timeout
    extra = {"timeout": None} if follow else {}
    response = api._get(url, params=params, stream=True, **extra)
    api._raise_for_status(response)
    return response


class _Stream:
    """One HTTP logs request, read frame by frame (stdout/stderr multiplexed, 8-byte header)."""

    def __init__(self, api: docker.APIClient, container_id: str, follow: bool, since_s: int | None):
        params: dict[str, object] = {"stdout": 1, "stderr": 1, "timestamps": 1,
                                     "follow": int(follow), "tail": "all"}
        if since_s:
            params["since"] = since_s
        self.response = raw_logs_response(api, container_id, params, follow)
        self.closed_by_us = False

    def _read(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            part = self.response.raw.read(n - len(buf))
            if not part:
                break
            buf += part
        return buf

    def frames(self) -> Iterator[tuple[int, bytes]]:
        """``(stream, payload)`` until the daemon ends the response (1: stdout, 2: stderr)."""
        while True:
            header = self._read(8)
            if len(header) < 8:
                return
            stream, length = struct.unpack(">BxxxL", header)
            payload = self._read(length)
            if len(payload) < length:
                return
            yield stream, payload

    def close(self) -> None:
        """Unblock a reader in another thread (shutdown of the socket), then close."""
        self.closed_by_us = True
        with contextlib.suppress(Exception):
            CancellableStream(iter(()), self.response).close()
        with contextlib.suppress(Exception):
            self.response.close()


# what a daemon that restarts or goes away looks like from here (requests' errors are OSErrors)
CONNECTION_ERRORS = (OSError, urllib3.exceptions.HTTPError, requests.exceptions.RequestException,
                      http.client.HTTPException)
LIVE_STATES = ("running", "created", "restarting", "paused")
T = TypeVar("T")


class Abandoned(Exception):
    """``through_breaks`` was told to give up while it waited (the watch is stopping)."""


def through_breaks(call: Callable[[], T], within_s: float,
                   pause: Callable[[float], bool]) -> T:
    """``call()``, again after a connection error (backoff from 0.2 s up to 5 s) until
    ``within_s`` has passed, then the error is raised; ``Abandoned`` when ``pause`` (which
    waits the delay) returns True."""
    deadline, delay = time.monotonic() + within_s, 0.2
    while True:
        try:
            return call()
        except CONNECTION_ERRORS:
            if time.monotonic() > deadline:
                raise
            if pause(delay):
                raise Abandoned from None
            delay = min(delay * 2, 5.0)


# ------------------------------------------------------------------------------ reader
class ContainerLogReader:
    """Complete lines of one container's stdout+stderr, each with its resume token.

    ``state`` returns the container's status ("running", "exited", ...), ``None`` when it is
    gone, and raises a connection error while the daemon is unreachable.
    """

    def __init__(self, api: docker.APIClient, container_id: str, state: Callable[[], str | None],
                 resume: int | str | None, stop: threading.Event, max_line: int = MAX_LINE,
                 reconnect_s: float = 120.0) -> None:
        self.api = api
        self.container_id = container_id
        self.state = state
        self.point = ResumePoint.parse(resume)
        self.stop = stop
        self.max_line = max_line
        self.reconnect_s = reconnect_s
        self.reconnects = 0
        self._reset()

    def _reset(self) -> None:
        """Forget incomplete lines: after a reconnect their entries are read again."""
        self._asm = {STDOUT: LineAssembler(self.max_line), STDERR: LineAssembler(self.max_line)}
        self._pending: dict[int, int] = {}  # stream -> first stamp of its incomplete line

    def _entry(self, stream: int, payload: bytes, skip: ResumePoint | None) -> Iterator[LogLine]:
        stamp, sep, data = payload.partition(b" ")
        try:
            ts = parse_ts(stamp)
        except ValueError:  # not a timestamped frame: keep the bytes, stamp them "now"
            ts, data = time.time_ns(), payload
        stream = stream if stream in self._asm else STDOUT
        if skip is not None and skip.seen(stream, ts):
            return
        asm = self._asm[stream]
        for raw, _, truncated in list(asm.iter_lines(data)):
            self._pending.pop(stream, None)
            self.point.advance(stream, ts, list(self._pending.values()))
            yield LogLine(raw, self.point.token(), truncated)
        if asm.pending:
            self._pending.setdefault(stream, ts)

    def _flush(self) -> Iterator[LogLine]:
        for stream, asm in self._asm.items():
            cut_before = asm.truncated_lines
            tail = asm.flush()
            if tail is None:
                continue
            ts = self._pending.pop(stream, None)
            if ts is None:
                ts = self.point.last.get(stream, 0)
            self.point.advance(stream, ts, list(self._pending.values()))
            yield LogLine(tail, self.point.token(), asm.truncated_lines > cut_before)

    def _state_with_retry(self) -> str | None:
        """The container state, waiting out a daemon restart (backoff up to ``reconnect_s``)."""
        try:
            return through_breaks(self.state, self.reconnect_s, self.stop.wait)
        except Abandoned:
            return "stopping"

    def _session(self, follow: bool) -> Iterator[LogLine]:
        """One logs request from the resume point; entries already handed on are skipped."""
        skip = self.point.copy() if self.point.last else None
        since = max(1, self.point.since // NS) if self.point.since is not None else None
        self._reset()
        stream = _Stream(self.api, self.container_id, follow, since)
        done = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(stream, done), daemon=True,
                                   name=f"abtui-logwatch-{self.container_id[:12]}")
        if follow:
            watcher.start()
        frames = stream.frames()
        try:
            while True:
                try:
                    kind, payload = next(frames)
                except StopIteration:
                    return
                except Exception as exc:
                    # a socket shut down under a blocked read surfaces as anything from http.client
                    if stream.closed_by_us:
                        return
                    if isinstance(exc, CONNECTION_ERRORS):
                        raise
                    raise ConnectionError(f"the log stream broke: {exc!r}") from exc
                yield from self._entry(kind, payload, skip)
        finally:
            done.set()
            stream.close()

    def _watch(self, stream: _Stream, done: threading.Event) -> None:
        """Close a follow stream on ``stop``, or when it outlives its container's exit."""
        exited_at = None
        while not done.wait(_WATCH_S):
            if self.stop.is_set():
                stream.close()
                return
            if exited_at is None:
                try:
                    status = self.state()
                except CONNECTION_ERRORS:
                    continue  # the reader sees the broken connection itself
                if status not in LIVE_STATES:
                    exited_at = time.monotonic()
            elif time.monotonic() - exited_at > _EXIT_GRACE_S:
                stream.close()
                return

    def lines(self) -> Iterator[LogLine]:
        """Follow until the container has exited and every line is out, or ``stop`` is set.

        Raises ``docker.errors.APIError`` when the daemon refuses the logs (e.g. a log driver
        that cannot be read back) and a connection error when it stays away for too long.
        """
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                yield from self._session(follow=True)
            except docker.errors.NotFound:
                pass  # removed under us: the state below says so
            except CONNECTION_ERRORS:
                pass  # a daemon restart: wait for it below, then resume
            if self.stop.is_set():
                return
            status = self._state_with_retry()
            if status in LIVE_STATES:
                # the stream ended while the container runs: resume it, but never spin
                self.reconnects += 1
                if time.monotonic() - started < 1.0 and self.stop.wait(0.5):
                    return
                continue
            if status == "stopping":
                return
            # exited (or removed): one plain read from the resume point catches whatever the
            # follow stream did not deliver, then the last unterminated line
            if status is not None:
                yield from self._final_read()
            yield from self._flush()
            return

    def _final_read(self) -> Iterator[LogLine]:
        """The plain read after the container exited, from the resume point: a link cut
        during it (an SSH hop near the arm's end) is waited out and the read done again
        (the entries already handed on are skipped), instead of losing the arm's last lines
        and its end."""
        deadline = time.monotonic() + self.reconnect_s
        delay = 0.2
        while True:
            try:
                yield from self._session(follow=False)
                return
            except docker.errors.NotFound:
                return  # removed under us: nothing more to read
            except CONNECTION_ERRORS:
                if time.monotonic() > deadline:
                    raise
                self.reconnects += 1
                if self.stop.wait(delay):
                    return
                delay = min(delay * 2, 5.0)
