"""Side by side with W&B's terminal viewer (``wandb leet``): the same two-run load watched by
each, in tmux at 120x40, in one run of this benchmark.

    python bench/leet.py [--wandb-python /opt/wandb-venv/bin/python] [--seconds 30] [--trials 2]

wandb is not a dependency of abtui: it lives in its own virtual environment
(``python -m venv /opt/wandb-venv && /opt/wandb-venv/bin/pip install wandb``); without it
this benchmark reports itself as not measurable. The load (``bench/fixtures/leet_load.py``)
is two runs logging loss and accuracy 100 times a second, through W&B (offline) for LEET
and through abtui's reporter for abtui (``abtui ab 'load a' 'load b'``). Trials alternate
(LEET, abtui, LEET, abtui ...). For each viewer, over the same window while data arrives:

- viewer CPU (% of a core; psutil user + system of the viewer's own processes: LEET's
  process tree, abtui's process without its arms) and RSS;
- refreshes per second: how often the pane's text changed (``capture-pane`` at 20 Hz);
- time to first chart: from the first record logged (or, for LEET, which is started on
  runs already logging, from its own start) to the first braille chart cell on screen;
- idle: viewer CPU on the finished runs (10 s after both ended);
- the logging side: each load process's CPU share and its cost per call at 100 calls/s.

abtui's targets: viewer CPU at most a third of LEET's while refreshing at least as often,
first chart within 1 s of the first data, idle at most 0.5 % of a core.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from common import PY, REPO, Figure, at_most, ratio

NAME = "leet"
LOAD = REPO / "bench" / "fixtures" / "leet_load.py"
WANDB_PY = os.environ.get("ABTUI_WANDB_PYTHON", "/opt/wandb-venv/bin/python")
SIZE = ("120", "40")
BRAILLE = range(0x2801, 0x2900)


def _tmux_cmd(session: str) -> list[str]:
    """tmux on a server of the session's own: a trial that kills its session (and with it
    a shared server) raced the next trial's new session, which then vanished."""
    return ["tmux", "-L", f"abtui-{session}"]


def _pane(session: str) -> str:
    out = subprocess.run([*_tmux_cmd(session), "capture-pane", "-t", session, "-p"], capture_output=True,
                         text=True)
    return out.stdout


def _has_chart(text: str) -> bool:
    return sum(1 for ch in text if ord(ch) in BRAILLE) >= 20


def _cpu_s(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _rss_mb(procs: list[psutil.Process]) -> float:
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total / 2**20


def _watch(session: str, procs_of: Any, seconds: float) -> dict[str, float]:
    """Viewer CPU %, max RSS and refreshes/s over ``seconds``."""
    procs = procs_of()
    c0, t0 = _cpu_s(procs), time.monotonic()
    frames, last, rss = 0, None, 0.0
    while time.monotonic() - t0 < seconds:
        text = _pane(session)
        if text != last:
            frames += 1
            last = text
        rss = max(rss, _rss_mb(procs))
        time.sleep(0.05)
    wall = time.monotonic() - t0
    return {"cpu_pct": (_cpu_s(procs) - c0) / wall * 100, "rss_mb": rss,
            "refresh_hz": frames / wall}


def _first_chart(session: str, since: float, timeout: float = 30) -> float | None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if _has_chart(_pane(session)):
            return time.time() - since
        time.sleep(0.02)
    return None


def _stamp(path: Path, timeout: float = 60) -> float:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_text().strip():
            return float(path.read_text())
        time.sleep(0.02)
    raise RuntimeError(f"no first record: {path}")


def _logging(errs: list[Path]) -> dict[str, float]:
    rows = []
    for e in errs:
        for line in e.read_text().splitlines()[::-1]:
            if line.startswith("{"):
                rows.append(json.loads(line))
                break
    return {"log_cpu_pct": sum(r["cpu_percent"] for r in rows),
            "us_per_call": statistics.mean(r["us_per_call"] for r in rows) if rows else 0.0}


def _tmux(session: str, command: list[str], env: dict[str, str]) -> None:
    subprocess.run([*_tmux_cmd(session), "kill-session", "-t", session], capture_output=True)
    subprocess.run([*_tmux_cmd(session), "new-session", "-d", "-s", session, "-x", SIZE[0], "-y", SIZE[1],
                    " ".join(command)], check=True, env=env)


def _pane_pid(session: str) -> int:
    out = subprocess.run([*_tmux_cmd(session), "list-panes", "-t", session, "-F", "#{pane_pid}"],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def leet_trial(work: Path, seconds: float) -> dict[str, float]:
    d = work / "wandb-runs"
    d.mkdir()
    errs = [work / "leet-a.err", work / "leet-b.err"]
    loads = [subprocess.Popen([WANDB_PY, str(LOAD), "--kind", "wandb", "--name", n,
                               "--seconds", str(seconds), "--dir", str(d),
                               "--stamp", str(work / f"leet-{n}.stamp")],
                              stdout=subprocess.DEVNULL, stderr=open(e, "w"), cwd=work)
             for n, e in zip("ab", errs, strict=True)]
    first = max(_stamp(work / "leet-a.stamp"), _stamp(work / "leet-b.stamp"))
    while len(list((d / "wandb").glob("offline-run-*"))) < 2:
        time.sleep(0.05)
    env = {**os.environ, "TERM": "xterm-256color", "WANDB_SILENT": "true"}
    started = time.time()
    _tmux("bench-leet", [str(Path(WANDB_PY).parent / "wandb"), "leet", str(d / "wandb")], env)
    chart = _first_chart("bench-leet", max(started, first))
    time.sleep(1.0)
    subprocess.run([*_tmux_cmd("bench-leet"), "send-keys", "-t", "bench-leet", "s", "space"])  # both runs shown
    root = psutil.Process(_pane_pid("bench-leet"))

    def procs() -> list[psutil.Process]:
        return [root, *root.children(recursive=True)]

    time.sleep(2.0)
    live = _watch("bench-leet", procs, min(10.0, seconds / 3))
    for p in loads:
        p.wait()
    time.sleep(2.0)
    idle = _watch("bench-leet", procs, 10.0)
    subprocess.run([*_tmux_cmd("bench-leet"), "kill-session", "-t", "bench-leet"], capture_output=True)
    return {**live, "first_chart_s": chart if chart is not None else float("nan"),
            "idle_cpu_pct": idle["cpu_pct"], **_logging(errs)}


def abtui_trial(work: Path, seconds: float) -> dict[str, float]:
    runs = work / "abtui-runs"
    cmds = [f"python {LOAD} --kind abtui --name {n} --seconds {seconds} --stamp "
            f"{work / f'abtui-{n}.stamp'}" for n in "ab"]
    env = {**os.environ, "TERM": "xterm-256color"}
    _tmux("bench-abtui", [PY, "-m", "abtui", "ab", *(f"'{c}'" for c in cmds), "--name", "a,b",
                          "--runs-dir", str(runs)], env)
    first = min(_stamp(work / "abtui-a.stamp"), _stamp(work / "abtui-b.stamp"))
    chart = _first_chart("bench-abtui", first)
    pane = psutil.Process(_pane_pid("bench-abtui"))
    monitor = next((p for p in [pane, *pane.children(recursive=True)]
                    if "abtui" in " ".join(p.cmdline()) and " ab " in " ".join(p.cmdline())), pane)
    time.sleep(2.0)
    live = _watch("bench-abtui", lambda: [monitor], min(10.0, seconds / 3))
    deadline = time.time() + seconds + 60
    root = next(runs.iterdir())
    while time.time() < deadline and not all((root / "arms" / r / "exit.json").exists() for r in "ab"):
        time.sleep(0.2)
    time.sleep(2.0)
    idle = _watch("bench-abtui", lambda: [monitor], 10.0)
    subprocess.run([*_tmux_cmd("bench-abtui"), "send-keys", "-t", "bench-abtui", "q"])
    time.sleep(1.0)
    subprocess.run([*_tmux_cmd("bench-abtui"), "kill-session", "-t", "bench-abtui"], capture_output=True)
    errs = []
    for r in "ab":
        log = root / "arms" / r / "output.log"
        e = work / f"abtui-{r}.err"
        e.write_text("\n".join(ln for ln in log.read_text().splitlines() if '"us_per_call"' in ln))
        errs.append(e)
    return {**live, "first_chart_s": chart if chart is not None else float("nan"),
            "idle_cpu_pct": idle["cpu_pct"], **_logging(errs)}


def _median(trials: list[dict[str, float]], key: str) -> float:
    return statistics.median(t[key] for t in trials)


def run(quick: bool, seconds: float = 30.0, trials: int = 2) -> list[Figure]:
    if quick or not Path(WANDB_PY).exists() or shutil.which("tmux") is None:
        why = ("quick mode" if quick else f"wandb is not installed ({WANDB_PY}; see the "
               "docstring)" if not Path(WANDB_PY).exists() else "no tmux")
        return [Figure("viewer CPU vs wandb leet", None, "ratio", "<= 0.33", note=f"not run: {why}")]
    leet: list[dict[str, float]] = []
    ours: list[dict[str, float]] = []
    for _ in range(trials):
        for kind, out in (("leet", leet), ("abtui", ours)):
            with tempfile.TemporaryDirectory(prefix=f"abtui-bench-{kind}-") as tmp:
                out.append((leet_trial if kind == "leet" else abtui_trial)(Path(tmp), seconds))
    m = {k: (_median(ours, k), _median(leet, k)) for k in ours[0]}
    cpu_ratio = ratio(m["cpu_pct"][0], m["cpu_pct"][1])
    figs = [
        Figure("viewer CPU, 2 runs at 100 records/s", round(m["cpu_pct"][0], 2), "% of a core",
               "<= 1/3 of LEET's", met=at_most(cpu_ratio, 1 / 3), baseline="wandb leet",
               baseline_value=round(m["cpu_pct"][1], 2), ratio=cpu_ratio,
               note=f"median of {trials} alternating trials, tmux 120x40"),
        Figure("viewer refreshes per second", round(m["refresh_hz"][0], 2), "Hz",
               ">= LEET's", met=m["refresh_hz"][0] >= m["refresh_hz"][1] * 0.95,
               baseline="wandb leet", baseline_value=round(m["refresh_hz"][1], 2),
               ratio=ratio(m["refresh_hz"][0], m["refresh_hz"][1])),
        Figure("viewer RSS", round(m["rss_mb"][0], 1), "MB", baseline="wandb leet",
               baseline_value=round(m["rss_mb"][1], 1), ratio=ratio(m["rss_mb"][0], m["rss_mb"][1])),
        Figure("first chart after the first record", round(m["first_chart_s"][0], 2), "s",
               "<= 1", met=at_most(m["first_chart_s"][0], 1.0), baseline="wandb leet "
               "(from its start, on runs already logging)",
               baseline_value=round(m["first_chart_s"][1], 2)),
        Figure("viewer idle on finished runs", round(m["idle_cpu_pct"][0], 2), "% of a core",
               "<= 0.5", met=at_most(m["idle_cpu_pct"][0], 0.5), baseline="wandb leet",
               baseline_value=round(m["idle_cpu_pct"][1], 2)),
        Figure("logging side, both runs", round(m["log_cpu_pct"][0], 2), "% of a core",
               baseline="wandb (offline)", baseline_value=round(m["log_cpu_pct"][1], 2),
               ratio=ratio(m["log_cpu_pct"][0], m["log_cpu_pct"][1])),
        Figure("logging cost per call at 100 calls/s", round(m["us_per_call"][0], 1), "µs",
               baseline="wandb run.log", baseline_value=round(m["us_per_call"][1], 1),
               ratio=ratio(m["us_per_call"][0], m["us_per_call"][1])),
    ]
    return figs


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--trials", type=int, default=2)
    args = ap.parse_args()
    for f in run(False, args.seconds, args.trials):
        print(json.dumps(f.to_dict()))
