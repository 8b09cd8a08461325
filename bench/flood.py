"""A hostile arm's flood: the monitor's memory after an arm prints GB of unique metric keys.

A child process runs one arm's ingest path (RunState.ingest_many, as the watcher calls it)
on lines that each carry 20 never-seen-before keys (~480 bytes a line), plus events, and
notes its peak RSS. Without the caps (1,000 series, 128-character names, 1,000 events per
arm) every key would become a series: about 26 MB of memory per 0.58 MB of output.
Target: under 300 MB RSS after 1 GB of output (quick: 100 MB). A second child feeds the
same path a hostile arm's worst lines in turn (``hostile_child``), with the same target. Baseline, in the same run:
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


def hostile_child(total_bytes: int) -> dict:
    """The watcher's path (64 KiB reads through ``LineAssembler.split_batch``, then
    ``ingest_many`` with the adapter of ``log_format: auto``) fed a hostile arm's output:
    16 MiB lines without a newline, records nested 600 deep, 1e308 and NaN values, invalid
    UTF-8, 1 MiB event records, 9,000-key env records and ANSI floods, in turn."""
    import psutil

    from abtui.adapters import make_adapter
    from abtui.ingest.lines import LineAssembler
    from abtui.store import RunState

    state = RunState("a", "a")
    state.adapter = make_adapter("auto")
    asm = LineAssembler()
    proc = psutil.Process()
    deep = ("[" * 600 + "]" * 600).encode()
    kinds = [
        b"x" * (16 << 20),  # one line of 16 MiB (no newline until its end)
        b'{"step": 1, "loss": ' + deep + b"}\n",
        b'{"step": 2, "loss": 1e308, "acc": NaN, "lr": -1e308}\n',
        b"\xff\xfe\x80 not utf-8 " * 1000 + b"\n",
        json.dumps({"event": "custom", "blob": "z" * (1 << 20)}).encode() + b"\n",
        *(json.dumps({"event": f"e{i}", "blob": "z" * 60_000}).encode() + b"\n"
          for i in range(40)),
        json.dumps({"event": "env", **{f"K{i}": {"n": [i] * 20} for i in range(9000)}}).encode()
        + b"\n",
        b"\x1b[31m\x1b]0;title\x07\x1b[2J" * 5000 + b"\n",
    ]
    sent, k, peak = 0, 0, 0
    while sent < total_bytes:
        data = kinds[k % len(kinds)]
        k += 1
        for i in range(0, len(data), 1 << 16):
            raws, _, cut = asm.split_batch(data[i:i + (1 << 16)])
            if raws:
                state.ingest_many(raws, 1.7e9, cut)
        sent += len(data)
        if k % len(kinds) == 0:
            peak = max(peak, proc.memory_info().rss)
    peak = max(peak, proc.memory_info().rss)
    return {"rss_mb": peak / 2**20, "sent_mb": sent / 2**20, "series": len(state.series),
            "events": len(state.events), "lines": state.lines}


def _spawn(total: int, mode: str = "--child") -> dict:
    out = subprocess.run([PY, __file__, mode, str(total)], capture_output=True, text=True,
                         timeout=900, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool) -> list[Figure]:
    total = (100 if quick else 1024) * 2**20
    base = _spawn(500_000)
    flood = _spawn(total)
    hostile = _spawn(total, "--hostile")
    return [Figure(f"monitor RSS after {hostile['sent_mb']:.0f} MB of hostile lines",
                   hostile["rss_mb"], "MB", f"<= {TARGET_MB} MB",
                   at_most(hostile["rss_mb"], TARGET_MB),
                   "RSS after 0.5 MB of ordinary lines", base["rss_mb"],
                   ratio(hostile["rss_mb"], base["rss_mb"]),
                   note="16 MiB lines, 600-deep nesting, 1e308/NaN, invalid UTF-8, 1 MiB events, "
                        f"9,000-key env records, ANSI floods; {hostile['lines']} lines, "
                        f"{hostile['events']} events kept"),
            Figure(f"monitor RSS after {flood['sent_mb']:.0f} MB of unique metric keys",
                   flood["rss_mb"], "MB", f"<= {TARGET_MB} MB", at_most(flood["rss_mb"], TARGET_MB),
                   "RSS after 0.5 MB of ordinary lines", base["rss_mb"],
                   ratio(flood["rss_mb"], base["rss_mb"]),
                   note=f"{flood['series']} series kept, {flood['capped']} names refused, "
                        f"{flood['events']} events kept")]


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] in ("--child", "--hostile"):
    sys.path.insert(0, __import__("os").path.dirname(__file__))
    work = child if sys.argv[1] == "--child" else hostile_child
    print(json.dumps(work(int(sys.argv[2]))))
