"""The optional C hot loops of ingest (``abtui._speedups``, from abtui/csrc/), or None.

Built with the package when a C compiler is there; without it (or with
``ABTUI_PURE_PYTHON=1`` in the environment, which the tests use to check that both paths
give the same store) every caller takes its pure-Python path: the same records, bit for
bit, only slower.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from types import ModuleType


def _load() -> ModuleType | None:
    if os.environ.get("ABTUI_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from abtui import _speedups
    except ImportError:
        return None
    _speedups.tune_malloc()  # big store columns grow without copying (see abtui/csrc/store.c)
    return _speedups


native = _load()


@contextlib.contextmanager
def pure_python() -> Iterator[None]:
    """Within: every caller takes its pure-Python path (tests and benchmarks compare)."""
    global native
    saved, native = native, None
    try:
        yield
    finally:
        native = saved
