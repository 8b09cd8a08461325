"""What the report says of each run beyond its numbers: the warm-up cutoff it used, how far
its seed is known to have reached it, where its throughput came from; and what the run
directory says beside them (where the arms ran, output a full disk lost)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from abtui.compare.summary import RunSummary, warmup_rule
from abtui.rundir import RunDir


def warmup_text(warmup_steps: int | None, steps: int | None,
                 summaries: Mapping[str, list[RunSummary]]) -> str:
    """The warm-up rule with the cutoff each run used (without a spec's steps, each run's
    own last logged step stands for the total)."""
    if warmup_steps is not None or steps:
        return warmup_rule(warmup_steps, steps).text
    cutoffs = {r.run_id: r.metrics.warmup_cutoff_step for runs in summaries.values()
               for r in runs}
    same = set(cutoffs.values())
    used = (f"step {next(iter(same)):g}" if len(same) == 1 and None not in same
            else ", ".join(f"{rid} step {c:g}" for rid, c in cutoffs.items() if c is not None)
            or "none: no metric records")
    return ("warm-up: the first 10 % of each run's logged steps (the spec gives no steps) and "
            f"the first record; cutoff {used}")


def seed_status(spec: Any, arm: str, seed: Any, env: Mapping[str, Any] | None) -> str:
    """How far the replicate's seed is known to have reached the run: confirmed by its env
    record, passed in its command (``{seed}``, ``args: flags`` or ``env``), or only offered
    in ``ABTUI_SEED``."""
    if seed is None:
        return "no seed"
    if env and env.get("seed") is not None:
        return ("confirmed (env record)" if env.get("seed") == seed
                else f"the run reports seed {env.get('seed')}, not {seed}")
    command = (spec.arms[arm].command if arm in spec.arms and spec.arms[arm].command
               else spec.command)
    if spec.args in ("flags", "env") or any("{seed}" in w for w in command):
        return "passed in the command"
    return "offered (ABTUI_SEED), not confirmed"


def throughput_notes(summaries: Mapping[str, Sequence[RunSummary]]) -> list[str]:
    """Where a throughput came from when it was not printed as a rate, and which runs have
    none (the verdict then says nothing of speed: said here, not dropped in silence)."""
    derived: dict[str, list[str]] = {}
    missing = []
    for runs in summaries.values():
        for r in (run.metrics for run in runs):
            if r.throughput is None and r.records:
                missing.append(r.run_id)
            elif r.throughput_source not in (None, "records", "final record"):
                derived.setdefault(str(r.throughput_source), []).append(r.run_id)
    out = [f"throughput of {', '.join(ids)}: derived from the {src}" for src, ids in derived.items()]
    if missing:
        out.append(f"no throughput for {', '.join(missing)}: the log prints no rate, step time "
                   "or sample counter (print samples/s, or ms per step, to compare speed)")
    return out


def iso_time(t: Any) -> str | None:
    """A manifest's time as ISO 8601; None for anything that is not one (a run directory
    may say ``created_at: 1e308``)."""
    if not isinstance(t, (int, float)) or isinstance(t, bool):
        return None
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    except (OverflowError, OSError, ValueError):
        return None


def output_gaps(rundir: RunDir) -> dict[str, list[dict[str, Any]]]:
    """Per run, the output its relay could not keep (``output.log.gaps.jsonl``)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for run_id in rundir.run_ids():
        path = rundir.root / "arms" / run_id / "output.log.gaps.jsonl"
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for line in lines:
            with contextlib.suppress(ValueError):
                gap = json.loads(line)
                if isinstance(gap, dict):
                    out.setdefault(run_id, []).append(gap)
    return out


def output_gap_notes(rundir: RunDir) -> list[str]:
    notes = []
    for run_id, gaps in output_gaps(rundir).items():
        lost = sum(int(g.get("lost_bytes") or 0) for g in gaps)
        when = iso_time(gaps[0].get("t0")) or "?"
        notes.append(f"arm {run_id}: {lost / 1e6:.2f} MB of output lost to a full disk "
                     f"({gaps[0].get('error')}) from {when}; training went on")
    return notes


def corun_notes(corun: Mapping[str, Any] | None) -> list[str]:
    """The co-run facts in words: where the arms ran, how long each ran alone."""
    if not corun:
        return []
    out = []
    placement = corun.get("placement") or {}
    cpus = {r: c for r, c in (corun.get("cpus") or {}).items() if c}
    if placement.get("pinned") and cpus:
        out.append("CPU placement: " + ", ".join(f"{r} on core{'s' if len(c) > 1 else ''} "
                                                 f"{','.join(map(str, c))}"
                                                 for r, c in cpus.items()))
    elif placement.get("why"):
        out.append(f"CPU placement: not pinned ({placement['why']})")
    runs = corun.get("runs") or {}
    used = {r: v["window_share"] for r, v in runs.items() if v.get("window_share") is not None}
    if used:
        out.append("throughput and step time are compared while every run of a replicate was "
                   "running: " + ", ".join(f"{r} {v * 100:.0f} % of its steady state"
                                           for r, v in used.items()))
    shares = {r: v.get("alone_share") for r, v in runs.items()}
    if any(v is not None for v in shares.values()):
        out.append("share of each run's steady state with no other run on the host: "
                   + ", ".join(f"{r} {v * 100:.0f} %" for r, v in shares.items() if v is not None))
    return out
