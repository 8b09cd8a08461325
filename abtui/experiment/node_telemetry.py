"""Telemetry from the nodes: what ``abtui.telemetry.node`` sampled next to each remote arm.

The agent appends to ``arms/<run>/node_telemetry.jsonl`` on the node (the run directory is
on a shared path). Each tick of the monitor's own sampler, ``NodeTelemetry.merge`` reads
what each file gained and folds the newest node sample into the monitor's sample before
it is written to telemetry.jsonl: the GPU panel, the report's GPU traces and the throttle
confounds then see remote GPUs exactly like local ones.

- **GPU indices**: a node's GPU ``i`` of the run at position ``p`` becomes index
  ``REMOTE_BASE + 16 p + i`` (unique and the same on every attach), with ``host`` and
  ``node_index`` kept in the entry, and the run as its ``arm``.
- **Clocks**: node and monitor clocks differ. The skew is estimated as the smallest
  (receive time − node time) seen so far (clock offset plus the least delay), and node
  times are aligned by it; ``nodes[run]`` in the sample records ``t`` (aligned), ``skew_s``
  and the file ``offset`` merged up to, from which a reattaching monitor resumes.
- Only the newest node sample per tick is kept (telemetry is sampled, not a log):
  a tick never carries the same GPU twice.
- Foreign-process findings are not taken from nodes: the agent does not know the arm's
  process IDs there, and Slurm allocates a job's GPUs to it alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from abtui.infra.safe_io import open_read
from abtui.run_files import Sample
from abtui.rundir import NODE_FACTS, RunDir

REMOTE_BASE = 1000
PER_RUN = 16
_READ_MAX = 1 << 20  # at most 1 MB per file per tick (a backlog is read over a few ticks)
_TAIL = 1 << 20


class NodeTelemetry:
    """Follows each run's node telemetry file and merges it into the monitor's samples."""

    def __init__(self, rundir: RunDir, run_ids: Iterable[str], file_name: str) -> None:
        self.rundir = rundir
        self.run_ids = list(run_ids)
        self.file_name = file_name
        self.offsets: dict[str, int] = {r: 0 for r in self.run_ids}
        self.skew: dict[str, float] = {}
        self._static: dict[str, dict[int, dict[str, Any]]] = {}
        self._host: dict[str, str] = {}
        self.resume_from(rundir.telemetry_path)

    def resume_from(self, telemetry: Path) -> None:
        """Offsets and skews from the last merged samples in telemetry.jsonl (reattach)."""
        try:
            with open(open_read(telemetry), "rb") as fh:
                fh.seek(0, 2)
                size = fh.tell()
                fh.seek(max(0, size - _TAIL))
                tail = fh.read()
        except OSError:
            return
        found: set[str] = set()
        for raw in reversed(tail.splitlines()):
            if b'"nodes"' not in raw:
                continue
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            for run_id, node in (obj.get("nodes") or {}).items():
                if run_id in self.offsets and run_id not in found and isinstance(node, dict):
                    found.add(run_id)
                    self.offsets[run_id] = int(node.get("offset") or 0)
                    if isinstance(node.get("skew_s"), (int, float)):
                        self.skew[run_id] = float(node["skew_s"])
            if len(found) == len(self.offsets):
                break

    def _read(self, run_id: str) -> list[dict[str, Any]]:
        path = self.rundir.arm_dir(run_id) / self.file_name
        try:
            with open(open_read(path), "rb") as fh:
                fh.seek(self.offsets[run_id])
                data = fh.read(_READ_MAX)
        except OSError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self.offsets[run_id] += end + 1
        out = []
        for raw in data[:end].splitlines():
            try:
                obj = json.loads(raw)
            except ValueError:
                continue  # a torn or garbage line (the agent was killed mid-write)
            if isinstance(obj, dict):
                out.append(obj)
        return out

    def merge(self, sample: Sample, now: float | None = None) -> None:
        """Fold what the node files gained into ``sample`` (in place)."""
        now = time.time() if now is None else now
        for pos, run_id in enumerate(self.run_ids):
            newest, judged = None, None
            for obj in self._read(run_id):
                kind = obj.get("kind", "sample")
                if kind == "gpu_info":
                    self._static[run_id] = {g["index"]: g for g in obj.get("gpus") or ()
                                            if isinstance(g, dict) and isinstance(g.get("index"), int)}
                elif kind == "sample" and isinstance(obj.get("t"), (int, float)):
                    lag = now - float(obj["t"])
                    self.skew[run_id] = min(self.skew.get(run_id, lag), lag)
                    newest = obj
                    if "foreign_cores" in (obj.get("host") or {}):
                        judged = obj["host"]
            if newest is None:
                continue
            host = newest.get("host") or {}
            if judged is not None and "foreign_cores" not in host:
                # the sampler states material foreign load only on samples that listed the
                # processes: keep the latest such judgement of this tick's samples
                newest = {**newest, "host": {**host, **{k: judged[k] for k in
                                                        ("foreign_cores", "foreign_top") if k in judged}}}
            self._fold(sample, pos, run_id, newest)

    def _hostname(self, run_id: str) -> str | None:
        if run_id not in self._host:
            try:
                facts = json.loads((self.rundir.arm_dir(run_id) / self.file_name).with_name(NODE_FACTS).read_text("utf-8"))
            except (OSError, ValueError):
                return None
            if isinstance(facts, dict) and isinstance(facts.get("host"), str):
                self._host[run_id] = facts["host"]
        return self._host.get(run_id)

    def _fold(self, sample: Sample, pos: int, run_id: str, node: dict[str, Any]) -> None:
        static = self._static.get(run_id, {})
        hostname = self._hostname(run_id)
        gpus = sample.setdefault("gpus", [])
        host = (node.get("host") or {})
        for g in node.get("gpus") or ():
            if not isinstance(g, dict) or not isinstance(g.get("index"), int):
                continue
            local = g["index"]
            entry = {**static.get(local, {}), **g}
            entry.update({"index": REMOTE_BASE + PER_RUN * pos + local % PER_RUN,
                          "node_index": local, "run": run_id, "host": hostname})
            entry.pop("processes", None)
            entry.pop("arm", None)  # an older agent's name for the run (SAMPLE_VERSION 1)
            gpus.append(entry)
        skew = self.skew.get(run_id, 0.0)
        sample.setdefault("nodes", {})[run_id] = {
            "t": round(float(node["t"]) + skew, 3), "skew_s": round(skew, 3),
            "offset": self.offsets[run_id], "hostname": hostname, "host": host,
            "cost_ms": node.get("cost_ms"),
        }
