"""A hostile arm's flood: the monitor's memory after an arm prints GB of unique metric keys.

A child process runs one arm's ingest path (RunState.ingest_many, as the watcher calls it)
on lines that each carry 20 never-seen-before keys (~480 bytes a line), plus events, and
notes its peak RSS. Without the caps (1,000 series, 128-character names, 1,000 events per
arm) every key would become a series: about 26 MB of memory per 0.58 MB of output.
Target: under 300 MB RSS after 1 GB of output (quick: 100 MB). Baseline, in the same run:
the same child's RSS after 1,000 ordinary metric lines (the monitor's floor).
"""

from __future__ import annotations

import json
import subprocess
import sys

from common import PY, Figure, at_most, ratio

NAME = "flood"
TARGET_MB = 300
KEYS_PER_LINE = 20


def child(total_bytes: int) -> dict:
    import psutil

    from abtui.store import RunState

    state = RunState("a", "a")
    proc = psutil.Process()
    step, sent = 0, 0
    while sent < total_bytes:
        batch = []
        for _ in range(2000):
            step += 1
            rec = {"step": step, **{f"k{step}_{j}": 1.0 for j in range(KEYS_PER_LINE)}}
            batch.append(json.dumps(rec).encode())
            if step % 50 == 0:
                batch.append(json.dumps({"event": f"e{step}", "x": "y" * 100}).encode())
        sent += sum(len(b) + 1 for b in batch)
        state.ingest_many(batch, 1.7e9)
    peak = max(proc.memory_info().rss, getattr(proc.memory_full_info(), "uss", 0))
    return {"rss_mb": peak / 2**20, "sent_mb": sent / 2**20, "series": len(state.series),
            "capped": state.oddities["series_capped"], "events": len(state.events)}


def _spawn(total: int) -> dict:
    out = subprocess.run([PY, __file__, "--child", str(total)], capture_output=True, text=True,
                         timeout=900, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool) -> list[Figure]:
    total = (100 if quick else 1024) * 2**20
    base = _spawn(500_000)
    flood = _spawn(total)
    return [Figure(f"monitor RSS after {flood['sent_mb']:.0f} MB of unique metric keys",
                   flood["rss_mb"], "MB", f"<= {TARGET_MB} MB", at_most(flood["rss_mb"], TARGET_MB),
                   "RSS after 0.5 MB of ordinary lines", base["rss_mb"],
                   ratio(flood["rss_mb"], base["rss_mb"]),
                   note=f"{flood['series']} series kept, {flood['capped']} names refused, "
                        f"{flood['events']} events kept")]


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--child":
    sys.path.insert(0, __import__("os").path.dirname(__file__))
    print(json.dumps(child(int(sys.argv[2]))))
