"""Memory: resident memory per stored point, and the whole monitor for a 10 M-point run.

A child process imports the store, notes its RSS, ingests two arms of ~195-byte metric lines
(6 metrics a line, so 10 M points = 2 arms x 833,334 lines) through RunState.ingest_many,
collects garbage and notes its RSS again. A point is one (step, value, time) of one metric.
Baseline: the floor of the layout, a double a point plus the arm's step and time columns
(shared by the 6 metrics of a line): 8 + 16 / 6 = 10.7 B. Quick: 1 M points.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys

from common import METRICS_PER_LINE, PY, Figure, at_most, ratio

NAME = "memory"
TARGET_BYTES_PER_POINT = 16
TARGET_TOTAL_MB = 400
FLOOR = 8 + 16 / 6  # the value, plus step and time once a line for the line's 6 metrics


def child(lines_per_arm: int) -> dict:
    """In the child process: RSS before and after storing the points."""
    import psutil
    from common import line_batches

    from abtui.infra.numeric import numpy
    from abtui.store import Store

    numpy()  # imported by the first fold: a fixed cost, not a cost per point
    proc = psutil.Process()
    gc.collect()
    before = proc.memory_info().rss
    store = Store()
    for seed, arm in enumerate(("A", "B")):
        state = store.add_run(arm, arm)
        for batch in line_batches(lines_per_arm, 4096, seed):
            state.ingest_many(batch, 1.7e9)
    del batch
    for a in store.runs.values():  # the buckets, as the first look at the store folds them
        for s in a.series.values():
            s.view(240)
    gc.collect()
    after = proc.memory_info().rss
    points = sum(len(s) for a in store.runs.values() for s in a.series.values())
    return {"before": before, "after": after, "points": points,
            "buckets": max(len(s._bn) for a in store.runs.values() for s in a.series.values())}


def run(quick: bool) -> list[Figure]:
    points_goal = 1_000_000 if quick else 10_000_000
    lines_per_arm = -(-points_goal // (2 * METRICS_PER_LINE))
    out = subprocess.run([PY, __file__, "--child", str(lines_per_arm)], capture_output=True,
                         text=True, check=True, timeout=600)
    m = json.loads(out.stdout.strip().splitlines()[-1])
    per_point = (m["after"] - m["before"]) / m["points"]
    total_mb = m["after"] / 1e6
    label = f"{m['points'] / 1e6:g} M points"
    return [
        Figure(f"RSS growth per stored point ({label})", per_point, "B",
               target=f"<= {TARGET_BYTES_PER_POINT} B", met=at_most(per_point, TARGET_BYTES_PER_POINT),
               baseline="a double a point + step/time a line (the floor)", baseline_value=FLOOR,
               ratio=ratio(per_point, FLOOR),
               note=f"2 arms x {lines_per_arm:,} lines x {METRICS_PER_LINE} metrics; psutil RSS "
                    f"in a child process"),
        Figure(f"monitor RSS holding a {label} run", total_mb, "MB",
               target=f"<= {TARGET_TOTAL_MB} MB" if not quick else "",
               met=at_most(total_mb, TARGET_TOTAL_MB) if not quick else None,
               baseline="RSS after imports, before ingest", baseline_value=m["before"] / 1e6,
               ratio=ratio(m["after"], m["before"]),
               note="interpreter + abtui store modules + the series (target applies at 10 M)"),
    ]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(int(sys.argv[2]))))
