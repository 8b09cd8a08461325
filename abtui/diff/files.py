"""Files findings: a path that two arms both wrote in a shared place.

Arms of one experiment usually start in one working directory, and scripts write where
they like: ``out/ckpt.pt``, ``model.pt`` (which the PyTorch word LM reloads for its final
test), timm's ``output/train/…/summary.csv``, Lightning's ``lightning_logs/version_0``.
Each Python process of an arm records the files it opens for writing outside ``$ABTUI_OUT``
(abtui/arm_site), so when two arms wrote the same path one overwrote the other, and a
script that reads its file back may have read the other arm's: not a fair comparison.
"""

from __future__ import annotations

import os

from abtui.diff.context import RunPair
from abtui.diff.findings import WARNING, Finding

CATEGORY = "files"
SHOWN = 3  # paths named in the message; the detail lists them all
# Places made to be shared by concurrent processes (caches and their locks): two arms
# writing there is not one overwriting the other's results.
_SHARED_PARTS = ("__pycache__", ".cache", ".triton", ".nv", ".config", ".local")
_SHARED_PREFIXES = ("/tmp/torchinductor_", "/tmp/triton", "/var/tmp/torchinductor_")
_SHARED_SUFFIXES = (".lock", ".pyc")


def _benign(path: str) -> bool:
    parts = path.split(os.sep)
    return (any(p in _SHARED_PARTS for p in parts) or path.startswith(_SHARED_PREFIXES)
            or path.endswith(_SHARED_SUFFIXES))


def _short(path: str, cwd: str | None) -> str:
    if cwd:
        rel = os.path.relpath(path, cwd)
        if not rel.startswith(".."):
            return rel
    return path


def files_findings(pair: RunPair) -> list[Finding]:
    """The paths both runs of a pair wrote (never between replicates of one arm: they run
    one after another)."""
    wa, wb = pair.a.writes, pair.b.writes
    if pair.within_arm or wa is None or wb is None:
        return []
    both = sorted(p for p in set(wa) & set(wb) if not _benign(p))
    if not both:
        return []
    cwd = pair.a.cwd
    names = [_short(p, cwd) for p in both]
    shown = ", ".join(names[:SHOWN]) + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN
                                        else "")
    message = (f"both arms wrote {shown}: one overwrote the other (give each arm its own "
               "path: {out} or $ABTUI_OUT in the command)")
    return [pair.finding("files.written", CATEGORY, len(wa), len(wb), message, WARNING,
                         detail="\n".join(names), intended=False)]
