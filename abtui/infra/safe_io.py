"""The one way to touch files in a run directory or an arm's output: no link followed,
regular files only, reads bounded and non-blocking, temporary files created exclusively.

Run directories are shared (an NFS ``runs/``, a colleague's tarball, a CI artifact) and
arms write into them, so every name in one may have been planted: a ``report.md.tmp`` that
links to a ``.pth`` file in site-packages, an ``output.log`` that links to a private key, a
``metrics.csv`` that is a FIFO. The standard library opens follow links and block on FIFOs
by default; these helpers never do.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["TEMP_SUFFIX", "NotARegularFile", "atomic_write", "open_append", "open_lock",
           "open_read", "read_bounded", "sweep_temps"]

TEMP_SUFFIX = ".abtui-tmp"
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


class NotARegularFile(OSError):
    """A path in a run directory that is a link, a FIFO, a device or a directory."""


def _regular(fd: int, path: str | Path) -> None:
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotARegularFile(f"{path}: not a regular file (refused)")


def open_read(path: str | Path) -> int:
    """A descriptor for reading ``path``: never through a link (ELOOP), never a FIFO or a
    device (refused), never blocking; the caller closes it."""
    fd = os.open(path, _READ_FLAGS)
    _regular(fd, path)
    # back to blocking reads: a regular file never blocks, and Python's buffered reader
    # expects a blocking descriptor
    os.set_blocking(fd, True)
    return fd


def read_bounded(path: str | Path, limit: int) -> bytes:
    """At most ``limit`` bytes of ``path`` (see ``open_read``)."""
    fd = open_read(path)
    try:
        chunks, left = [], limit
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def open_append(path: str | Path, mode: int = 0o600) -> int:
    """A descriptor appending to ``path`` (created if missing), never through a link."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
                 | getattr(os, "O_CLOEXEC", 0), mode)
    _regular(fd, path)
    return fd


def open_lock(path: str | Path) -> int:
    """A descriptor on a lock file (created if missing), never through a link."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                 0o600)
    _regular(fd, path)
    return fd


def atomic_write(path: str | Path, data: bytes | str, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` whole: a temporary file of a fresh random name,
    created exclusively beside it (a planted name or link is never written through),
    synced, then renamed over ``path`` (a link at ``path`` itself is replaced, not
    followed). On failure the temporary file is removed and ``path`` is as it was."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def sweep_temps(folder: str | Path) -> int:
    """Remove the temporary files ``atomic_write`` left behind when a process was killed
    mid-write (regular files of ours only); the number removed."""
    removed = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX):
                with contextlib.suppress(OSError):
                    if entry.is_file(follow_symlinks=False) and \
                            entry.stat(follow_symlinks=False).st_uid == os.geteuid():
                        os.unlink(entry.path)
                        removed += 1
    return removed
