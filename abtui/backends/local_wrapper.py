"""``python -m abtui.backends.local_wrapper MARKER OUTPUT -- argv...``: run argv, relay its
output to OUTPUT, record its exit status in MARKER.

The wrapper is the arm's session leader; it forwards SIGTERM/SIGINT/SIGHUP to the child
and writes the child's status to MARKER (negative: killed by that signal), so that any
monitor, not only the parent, learns how the arm ended.

It is also the only writer of the arm's output file, so that **the monitor's disk can
never kill training**: the child writes into a pipe the wrapper drains; when a write to
OUTPUT fails (a full disk, a quota) the wrapper keeps draining, counts the bytes it could
not keep and retries on the next chunk; when writing works again it appends a gap record
to ``OUTPUT.gaps.jsonl`` (``{"t0", "t1", "lost_bytes", "error"}``), which the report shows.
Stdlib only, and it imports nothing of abtui (31 MB per arm less).

With ``ABTUI_CPUS`` set (``0,1``) it pins itself, and so the arm, to those cores first;
with ``ABTUI_USER_UMASK`` it gives the arm the user's umask back.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import time

CHUNK = 65536
MARKER_RETRY_S = 30.0


class Relay:
    """Appends chunks to the output file; never raises on a failed write."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: int | None = None
        self.lost = 0
        self.gap_start: float | None = None
        self.error: str | None = None
        self.pending_gaps: list[dict[str, object]] = []

    def _open(self) -> int:
        if self.fd is None:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return self.fd

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            fd = self._open()
            while view:
                n = os.write(fd, view)
                view = view[n:]
        except OSError as exc:
            # a partial write leaves a cut line; what was not written is counted as lost
            if self.gap_start is None:
                self.gap_start = time.time()
                self.error = errno.errorcode.get(exc.errno or 0, str(exc))
            self.lost += len(view)
            return
        if self.gap_start is not None:
            self.pending_gaps.append({"t0": round(self.gap_start, 3), "t1": round(time.time(), 3),
                                      "lost_bytes": self.lost, "error": self.error})
            self.gap_start, self.lost = None, 0
        self._flush_gaps()

    def _flush_gaps(self) -> None:
        while self.pending_gaps:
            line = json.dumps(self.pending_gaps[0]) + "\n"
            try:
                fd = os.open(self.path + ".gaps.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                             0o600)
                try:
                    os.write(fd, line.encode())
                finally:
                    os.close(fd)
            except OSError:
                return  # still no room: keep it for the next successful write
            self.pending_gaps.pop(0)

    def close(self) -> None:
        if self.gap_start is not None:  # lost up to the end: record it if there is room now
            self.pending_gaps.append({"t0": round(self.gap_start, 3), "t1": round(time.time(), 3),
                                      "lost_bytes": self.lost, "error": self.error,
                                      "until_exit": True})
            self.gap_start = None
        self._flush_gaps()
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)


def main() -> int:
    marker, output, sep, *argv = sys.argv[1:] if len(sys.argv) > 3 else ["", "", "", ""]
    if sep != "--" or not argv:
        print("usage: local_wrapper MARKER OUTPUT -- argv...", file=sys.stderr)
        return 2
    umask = os.environ.get("ABTUI_USER_UMASK")
    relay = Relay(output)
    cpus = os.environ.get("ABTUI_CPUS")
    if cpus:  # the cores abtui placed this arm on (disjoint from the other arms')
        try:
            os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
        except (OSError, ValueError) as exc:
            relay.write(f"abtui: cannot pin to CPUs {cpus}: {exc}\n".encode())
    old_umask = None
    if umask:  # the monitor writes its run dir owner-only; the arm gets the user's umask
        with contextlib.suppress(ValueError):
            old_umask = os.umask(int(umask, 8))
    try:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT)
    except OSError as exc:
        relay.write(f"abtui: cannot start {argv[0]!r}: {exc}\n".encode())
        relay.close()
        _write(marker, 127)
        return 127
    if old_umask is not None:
        os.umask(old_umask)

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    assert child.stdout is not None
    fd = child.stdout.fileno()
    while True:
        try:
            data = os.read(fd, CHUNK)
        except InterruptedError:
            continue
        if not data:
            break
        relay.write(data)
    code = child.wait()
    relay.close()
    _write(marker, code)
    return code if code >= 0 else 128 - code


def _write(marker: str, code: int) -> None:
    """The exit status, retried for a while when the disk is full (nothing else is lost
    if it never lands: a monitor that is the parent knows the status anyway)."""
    deadline = time.monotonic() + MARKER_RETRY_S
    tmp = marker + ".tmp"
    while True:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, f"{code}\n".encode())
            finally:
                os.close(fd)
            os.replace(tmp, marker)
            return
        except OSError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
