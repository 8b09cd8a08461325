"""Replay: ``abtui attach`` / ``report`` of a finished run of 10 M lines (2 arms x 5 M).

A run directory is written with EventWriter (manifest, events.jsonl, exit.json per arm),
then timed:

- ``Experiment.attach(root, follow=False)`` without store snapshots (orchestrator.replay:
  read_event_batches and RunState.ingest_many over all of events.jsonl);
- the same attach of the run as a finished monitor leaves it: with ``arms/<run>/store.snap``
  (written from the replayed store with ``write_snapshot``, as the watcher does when an arm
  ends; that write is timed too), so replay loads the columns and decodes no line; checked
  to build the same store as the full replay;
- quick mode only, as a check: the same attach with replay() line by line (read_events and
  RunState.ingest, the old replay) must build the same store (10 M lines that way: minutes);
- ``abtui report`` of the run, the whole command in a subprocess, before any snapshot exists
  (a run whose monitor died: replay, summaries, traces, report files);
- baseline: reading events.jsonl and decoding each stored line with msgspec, no store
  (the floor any replay pays).

Quick mode: 200 k lines. Wall time (the user waits for it); CPU time in the notes.
"""

from __future__ import annotations

import gc
import shutil
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path

import msgspec
from common import PY, REPO, Figure, at_most, line_batches, ratio

from abtui.experiment import Experiment
from abtui.ingest.events import EventWriter, read_events
from abtui.rundir import RunDir
from abtui.spec import parse_spec
from abtui.store import ArmStatus
from abtui.store.snapshot import snapshot_path, write_snapshot

NAME = "replay"
TARGET_S = 15.0
SPEC = """
name: bench-replay
backend: local
command: [python, -c, pass]
steps: {steps}
treatment: [lr]
arms:
  A: {{config: {{lr: 0.1}}}}
  B: {{config: {{lr: 0.2}}}}
"""
T0 = 1.7e9


def make_run(base: Path, lines_per_arm: int) -> Path:
    """A finished two-arm run directory of ``lines_per_arm`` metric lines per arm."""
    spec = parse_spec(SPEC.format(steps=lines_per_arm))
    rd = RunDir.create(base, spec.name)
    rd.write_manifest({
        "experiment": spec.name, "created_at": T0, "status": "finished", "backend": "local",
        "workdir": str(base), "spec": spec.model_dump(mode="json"),
        "runs": {a: {"arm": a, "replicate": 0, "gpus": []} for a in ("A", "B")},
    })
    for seed, arm in enumerate(("A", "B")):
        writer = EventWriter(rd.events_path(arm))
        offset = 0
        writer.write(b'{"event": "env", "torch": "2.13.0", "seed": %d}' % seed, 0, T0)
        for batch in line_batches(lines_per_arm, 2000, seed):
            tokens = []
            for raw in batch:
                offset += len(raw) + 1
                tokens.append(offset)
            writer.write_many(batch, tokens, T0 + offset * 1e-7)
        writer.write(b'{"event": "final", "steps": %d}' % lines_per_arm, offset, T0 + offset * 1e-7)
        writer.close()
        rd.write_json(rd.exit_path(arm), {"exit_code": 0, "oom_killed": False, "error": None,
                                          "status": ArmStatus.DONE})
    return rd.root


def line_replay(self: Experiment) -> None:
    """The old orchestrator.replay, line by line (read_events + ingest): the reference."""
    for run_id in self.rundir.run_ids():
        state = self.store.runs.get(run_id) or self.store.add_run(run_id, run_id)
        for line in read_events(self.rundir.events_path(run_id)):
            state.ingest(line.raw, line.t, line.truncated)
        self.restore_status(run_id, state)


def _timed(fn):  # type: ignore[no-untyped-def]
    gc.collect()
    w0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - w0, time.process_time() - c0


def _fingerprint(exp: Experiment) -> list[tuple]:
    return [(s.lines, s.step, {k: (len(v), v.view(64)) for k, v in s.series.items()}, s.last,
             s.peak, s.oddities, s.status)
            for s in exp.store.runs.values()]


def _write_snapshots(exp: Experiment) -> None:
    """What the watchers leave when the arms end: each arm's store in store.snap."""
    for run_id in exp.rundir.run_ids():
        assert write_snapshot(exp.store.run(run_id), exp.rundir.events_path(run_id))


def _floor(root: Path) -> None:
    decode = msgspec.json.Decoder().decode
    for events in sorted(root.glob("arms/*/events.jsonl")):
        with open(events, "rb") as fh:
            for line in fh:
                decode(line)


def run(quick: bool) -> list[Figure]:
    per_arm = 100_000 if quick else 5_000_000
    total = 2 * per_arm
    base = Path(tempfile.mkdtemp(prefix="abtui-bench-replay-"))
    try:
        _, gen_s, _ = _timed(lambda: make_run(base, per_arm))
        root = next(base.iterdir())
        size_mb = sum(p.stat().st_size for p in root.glob("arms/*/events.jsonl")) / 1e6
        _floor(root)  # warm the page cache: every contender reads from memory
        _, floor_s, _ = _timed(lambda: _floor(root))

        # the whole `abtui report` command on the run as it is: no store snapshots yet
        t0 = time.perf_counter()
        proc = subprocess.run([PY, "-m", "abtui", "report", str(root)], cwd=REPO,
                              capture_output=True, text=True, timeout=600)
        report_s = time.perf_counter() - t0 if proc.returncode in (0, 1) else None
        report_err = proc.stderr.strip().splitlines()[-1:] if report_s is None else []
        for p in root.glob("arms/*/store.snap"):  # in case the report left any
            p.unlink()

        exp, now_s, now_cpu = _timed(lambda: Experiment.attach(root, follow=False))
        got = _fingerprint(exp)
        _, write_s, _ = _timed(partial(_write_snapshots, exp))
        snap_mb = sum(snapshot_path(p).stat().st_size for p in root.glob("arms/*/events.jsonl")) / 1e6
        del exp
        gc.collect()
        exp, snap_s, snap_cpu = _timed(lambda: Experiment.attach(root, follow=False))
        snap_same = _fingerprint(exp) == got
        del exp
        same = None
        if quick:  # the store must be the one line-by-line replay builds
            original = Experiment.replay
            Experiment.replay = line_replay  # type: ignore[method-assign]
            try:
                same = _fingerprint(Experiment.attach(root, follow=False)) == got
            finally:
                Experiment.replay = original  # type: ignore[method-assign]
    finally:
        shutil.rmtree(base, ignore_errors=True)
    label = f"{total / 1e6:g} M lines"
    note = f"{size_mb:,.0f} MB of events.jsonl, page cache warm; generated in {gen_s:.1f} s"
    figures = [
        Figure(f"attach, {label}: batched replay", now_s, "s",
               target=f"<= {TARGET_S:.0f} s", met=at_most(now_s, TARGET_S),
               baseline="read + msgspec-decode events.jsonl", baseline_value=floor_s,
               ratio=ratio(now_s, floor_s),
               note=f"{total / now_s / 1e6:.2f} M lines/s; CPU {now_cpu:.1f} s; {note}"
                    + ("" if same is None else f"; same store as line by line: {same}")),
        Figure(f"attach, {label}: with store snapshots (finished run)", snap_s, "s",
               target=f"<= {TARGET_S:.0f} s", met=at_most(snap_s, TARGET_S),
               baseline="batched replay, no snapshot", baseline_value=now_s,
               ratio=ratio(snap_s, now_s),
               note=f"CPU {snap_cpu:.1f} s; {snap_mb:,.0f} MB of store.snap, written in "
                    f"{write_s:.1f} s when the arms end; same store as the full replay: "
                    f"{snap_same}"),
    ]
    figures.append(Figure(f"`abtui report`, {label}, no snapshots (whole command)", report_s,
                          "s", target=f"<= {TARGET_S:.0f} s",
                          met=report_s is not None and at_most(report_s, TARGET_S),
                          baseline="batched replay alone", baseline_value=now_s,
                          ratio=ratio(report_s, now_s) if report_s else None,
                          note="subprocess: start-up, full replay, compare, traces, "
                               "report.json/md/html" + (f"; FAILED: {report_err}"
                                                         if report_s is None else "")))
    if same is False:
        figures[0].note += "; WARNING: batched replay built a different store"
    if not snap_same:
        figures[1].note += "; WARNING: the snapshot built a different store"
    return figures
