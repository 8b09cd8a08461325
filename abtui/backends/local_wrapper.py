"""``python -m abtui.backends.local_wrapper MARKER -- argv...``: run argv, record its exit status.

The wrapper is the arm's session leader; it forwards SIGTERM/SIGINT/SIGHUP to the child
and writes the child's status to MARKER (negative: killed by that signal), so that any
monitor, not only the parent, learns how the arm ended. With ``ABTUI_CPUS`` set (``0,1``)
it pins itself, and so the arm, to those cores first.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys


def main() -> int:
    marker, sep, *argv = sys.argv[1:]
    if sep != "--" or not argv:
        print("usage: local_wrapper MARKER -- argv...", file=sys.stderr)
        return 2
    cpus = os.environ.get("ABTUI_CPUS")
    if cpus:  # the cores abtui placed this arm on (disjoint from the other arms')
        try:
            os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
        except (OSError, ValueError) as exc:
            print(f"abtui: cannot pin to CPUs {cpus}: {exc}", file=sys.stderr, flush=True)
    try:
        child = subprocess.Popen(argv)
    except OSError as exc:
        print(f"abtui: cannot start {argv[0]!r}: {exc}", file=sys.stderr, flush=True)
        _write(marker, 127)
        return 127

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    code = child.wait()
    _write(marker, code)
    return code if code >= 0 else 128 - code


def _write(marker: str, code: int) -> None:
    tmp = marker + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(f"{code}\n")
    os.replace(tmp, marker)


if __name__ == "__main__":
    sys.exit(main())
