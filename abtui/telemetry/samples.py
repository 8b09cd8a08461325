"""telemetry.jsonl on disk: the writer (gpu_info once per opening, then compact sample
lines) and the readers (every line; samples with each GPU entry completed from the latest
gpu_info). The format is described in ``abtui.telemetry.sampler``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from abtui.telemetry.nvml import STATIC_KEYS

if TYPE_CHECKING:  # types only: the telemetry agent's image holds abtui.telemetry alone
    from abtui.run_files import GpuInfo, Sample


#: The sample line's format. 2: the run that owns a GPU is under ``run`` (``gpus[]`` and
#: ``foreign[]``), a neighbour process's own run under ``pid_run``, each run's processes
#: under ``runs``; version 1 (no ``v``) named all three ``arm``, ``pid_arm``, ``arms``,
#: though they held run ids. Readers take both: ``upgrade``.
SAMPLE_VERSION = 2


def upgrade(line: dict[str, Any]) -> dict[str, Any]:
    """A sample line of any version in the current format (in place; other lines as they
    are). A line from an older monitor, or from a node agent of an older image."""
    if line.get("kind", "sample") != "sample" or line.get("v", 1) >= SAMPLE_VERSION:
        return line
    for entry in [*(line.get("gpus") or ()), *(line.get("foreign") or ())]:
        if isinstance(entry, dict):
            if "arm" in entry:
                entry["run"] = entry.pop("arm")
            if "pid_arm" in entry:
                entry["pid_run"] = entry.pop("pid_arm")
    if "arms" in line:
        line["runs"] = line.pop("arms")
    line["v"] = SAMPLE_VERSION
    return line


class SampleWriter:
    """Appends samples to telemetry.jsonl: gpu_info once, then compact sample lines, flushed."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        torn = self.path.exists() and self.path.stat().st_size > 0 and not _ends_with_newline(self.path)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - held open for the run
        if torn:  # a monitor died mid-line: do not glue the next line onto it
            self._file.write("\n")

    def write_info(self, info: GpuInfo) -> None:
        """Write a gpu_info line (static GPU facts that following samples leave out)."""
        self._write(info)

    def write_sample(self, sample: Sample) -> None:
        """Write one sample without the static GPU keys (they are in gpu_info)."""
        line = sample.copy()
        # a remote node's GPU (merged, with its node_index) keeps its static facts: the
        # gpu_info line only describes this host's GPUs
        line["gpus"] = [g if "node_index" in g else
                        {k: v for k, v in g.items() if k not in STATIC_KEYS}
                        for g in sample["gpus"]]
        self._write(line)

    def _write(self, obj: Sample | GpuInfo) -> None:
        self._file.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def read_lines(path: str | Path) -> Iterator[dict[str, Any]]:
    """Every JSON object line of a telemetry file as written; torn or garbage lines skipped."""
    with open(path, "rb") as f:
        for raw in f:
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            if isinstance(obj, dict):
                yield obj


def read_samples(path: str | Path) -> Iterator[Sample]:
    """Samples of a telemetry file, each GPU entry completed from the latest gpu_info line.

    Tolerates a torn last line (a monitor killed mid-write) and a file still being written.
    """
    static: dict[int, dict[str, Any]] = {}
    for obj in read_lines(path):
        kind = obj.get("kind", "sample")
        if kind == "gpu_info":
            static = {g["index"]: g for g in obj.get("gpus") or () if "index" in g}
        elif kind == "sample":
            for g in obj.get("gpus") or ():
                for k, v in static.get(g.get("index"), {}).items():
                    g.setdefault(k, v)
            # an older line in today's format; one may still lack a key (.get)
            yield cast("Sample", upgrade(obj))
