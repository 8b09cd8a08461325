"""Metrics an arm writes to files, read as protocol lines.

Some trainers log to files rather than to their output: Lightning's ``CSVLogger``
(``metrics.csv``) and ``torch.utils.tensorboard.SummaryWriter`` (``events.out.tfevents.*``).
``OutputFiles`` finds such files under the arm's output directory (``$ABTUI_OUT``) and
among the files the arm's processes wrote elsewhere (``arms/<run>/writes/``), follows
each from a resume cursor and turns what is new into protocol metric lines, one per step,
each with a resume token ``{"file": <path under the directory>, "at": <cursor>}``. The
monitor persists them in ``arms/<run>/files.jsonl`` and folds them like any other line.

The directory is the arm's, so untrusted: symbolic links and anything but regular files
are not followed, the walk is bounded in depth and in files, and a read is bounded too.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from abtui.ingest.files.csvlog import CsvLog
from abtui.ingest.files.names import canonical
from abtui.ingest.files.tfevents import EventFile

__all__ = ["OutputFiles", "kind_of"]

MAX_FILES = 32
MAX_DEPTH = 6
EAGER_S = 10.0  # an arm's first seconds: new metrics files looked for on every poll
DISCOVER_S = 5.0  # afterwards, every this often (and once more when the arm ends)
_encode = msgspec.json.encode


def kind_of(name: str) -> str | None:
    """``"csv"`` for a metrics CSV, ``"tfevents"`` for a TensorBoard event file, else None."""
    if name == "metrics.csv":
        return "csv"
    if name.startswith("events.out.tfevents."):
        return "tfevents"
    return None


def _line(step: int, values: dict[str, float]) -> bytes:
    return _encode({"step": step, **values})


class OutputFiles:
    """Every metrics file under ``root``, followed from ``cursors`` (path -> cursor)."""

    def __init__(self, root: Path, cursors: dict[str, int] | None = None,
                 elsewhere: Callable[[], list[str]] | None = None) -> None:
        self.root = Path(root)
        self.cursors = dict(cursors or {})
        self.followers: dict[str, CsvLog | EventFile] = {}
        self.skipped = 0  # files past MAX_FILES
        # the files the arm's processes wrote outside ``root`` (absolute paths): a script
        # that puts its logs where it likes (LightningCLI's ./lightning_logs, a
        # SummaryWriter's ./runs) is read too, and only the files this arm wrote
        self.elsewhere = elsewhere
        self._started = time.monotonic()
        self._discovered = float("-inf")

    def _due(self) -> bool:
        """Look for new files on every poll in an arm's first ``EAGER_S`` (when a script
        opens its logs), then every ``DISCOVER_S``: a walk of the output folder and a read
        of the arm's writes record per poll was most of 32 arms' file-watching cost."""
        now = time.monotonic()
        if now - self._started < EAGER_S or now - self._discovered >= DISCOVER_S:
            self._discovered = now
            return True
        return False

    def _discover(self) -> None:
        if self.root.is_dir() and not self.root.is_symlink():
            base = len(self.root.parts)
            for dirpath, dirnames, filenames in os.walk(self.root):  # never follows links
                if len(Path(dirpath).parts) - base >= MAX_DEPTH:
                    dirnames.clear()
                for name in sorted(filenames):
                    path = os.path.join(dirpath, name)
                    self._follow(os.path.relpath(path, self.root), path)
        for path in self.elsewhere() if self.elsewhere is not None else ():
            if os.path.isabs(path):
                self._follow(path, path)

    def _follow(self, key: str, path: str) -> None:
        """Follow ``path`` (a metrics file, a regular one) under ``key``, its token's name."""
        kind = kind_of(os.path.basename(path))
        if kind is None or key in self.followers:
            return
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                return
        except OSError:
            return
        if len(self.followers) >= MAX_FILES:
            self.skipped += 1
            return
        at = self.cursors.get(key, 0)
        self.followers[key] = CsvLog(path, rows=at) if kind == "csv" else EventFile(path, at)

    def poll(self, final: bool = False) -> tuple[list[bytes], list[Any]]:
        """The new protocol lines and their resume tokens, in file order per file.
        ``final``: the arm has ended; every file is looked for once more."""
        if final or self._due():
            self._discover()
        lines: list[bytes] = []
        tokens: list[Any] = []
        for rel, f in self.followers.items():
            if isinstance(f, CsvLog):
                # consecutive rows of one step (train and validation metrics) make one line
                pending: tuple[int, dict[str, float], int] | None = None
                for row in f.poll():
                    if pending is not None and pending[0] == row.step:
                        pending = (row.step, {**pending[1], **row.values}, row.index + 1)
                        continue
                    if pending is not None:
                        lines.append(_line(pending[0], pending[1]))
                        tokens.append({"file": rel, "at": pending[2]})
                    pending = (row.step, row.values, row.index + 1)
                if pending is not None:
                    lines.append(_line(pending[0], pending[1]))
                    tokens.append({"file": rel, "at": f.rows})
                    self.cursors[rel] = f.rows
            else:
                group: dict[str, float] = {}
                step, at = None, None
                for offset, scalars in f.poll():
                    for s in scalars:
                        if step is not None and s.step != step and group:
                            lines.append(_line(step, canonical(group)))
                            tokens.append({"file": rel, "at": at})
                            group = {}
                        step = s.step
                        group[s.tag] = s.value
                    at = offset
                if group and step is not None:
                    lines.append(_line(step, canonical(group)))
                    tokens.append({"file": rel, "at": f.offset})
                self.cursors[rel] = f.offset
        return lines, tokens


def cursors_from_tokens(tokens: list[Any]) -> dict[str, int]:
    """The resume cursor of each file from the tokens persisted so far (the last wins)."""
    out: dict[str, int] = {}
    for tok in tokens:
        if isinstance(tok, dict) and isinstance(tok.get("file"), str) and type(tok.get("at")) is int:
            out[tok["file"]] = tok["at"]
    return out
