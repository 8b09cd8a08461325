"""The optional C hot loops of ingest (``abtui/_speedups.c``), or None.

Built with the package when a C compiler is there; without it (or with
``ABTUI_PURE_PYTHON=1`` in the environment, which the tests use to check that both paths
give the same store) every caller takes its pure-Python path: the same records, bit for
bit, only slower.
"""

from __future__ import annotations

import os
from types import ModuleType


def _load() -> ModuleType | None:
    if os.environ.get("ABTUI_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from abtui import _speedups
    except ImportError:
        return None
    return _speedups


native = _load()
