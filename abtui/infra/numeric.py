"""numpy, imported on first use: the store's folds and the report's summaries are
vectorised with it, while ``abtui --help``, the arms' wrappers and the reporter never
pay for the import."""

from __future__ import annotations

from types import ModuleType

_np: ModuleType | None = None


def numpy() -> ModuleType:
    global _np
    if _np is None:
        import numpy as np

        _np = np
    return _np
