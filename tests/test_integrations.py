"""The drop-in loggers on the real frameworks, in a process of their own: what they print
is abtui's protocol, and abtui's decoder reads every record of it as such."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from abtui.ingest.decode import Decoder
from abtui.ingest.records import EnvRecord, FinalRecord, MetricRecord

SCRIPT = Path(__file__).resolve().parent / "fixtures" / "callback_scripts.py"


def _records(kind: str) -> tuple[list, list[str]]:
    proc = subprocess.run([sys.executable, str(SCRIPT), kind], capture_output=True, text=True,
                          timeout=300, cwd=SCRIPT.parent.parent.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [x for x in proc.stdout.splitlines() if x.startswith('{"')]  # not HF's own dicts
    dec = Decoder()
    recs = [dec.decode(line.encode()) for line in lines]
    assert dec.oddities.total() == 0, dec.oddities
    return recs, lines


def test_the_hf_callback_writes_protocol_records_from_a_real_trainer() -> None:
    recs, _ = _records("hf")
    assert isinstance(recs[0], EnvRecord) and recs[0].data["seed"] == 7
    metrics = [r for r in recs if isinstance(r, MetricRecord)]
    assert [m.step for m in metrics] == [5, 10, 15, 20]
    assert all("loss" in m.values and "lr" in m.values for m in metrics)
    [final] = [r for r in recs if isinstance(r, FinalRecord)]
    assert final.data["steps"] == 20 and final.data["throughput_samples_per_sec"] > 0


def test_the_lightning_logger_writes_protocol_records_from_a_real_trainer() -> None:
    recs, lines = _records("lightning")
    env = next(r for r in recs if isinstance(r, EnvRecord))
    assert env.data["config"]["lr"] == 0.1
    metrics = [r for r in recs if isinstance(r, MetricRecord)]
    assert [m.step for m in metrics] == [4, 9, 14] and all("loss" in m.values for m in metrics)
    assert json.loads(lines[-1])["event"] == "finished"
