"""What the report says of each run beyond its numbers: the warm-up cutoff it used, how far
its seed is known to have reached it, where its throughput came from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from abtui.compare.summary import warmup_rule


def warmup_text(warmup_steps: int | None, steps: int | None,
                 summaries: Mapping[str, list[Any]]) -> str:
    """The warm-up rule with the cutoff each run used (without a spec's steps, each run's
    own last logged step stands for the total)."""
    if warmup_steps is not None or steps:
        return warmup_rule(warmup_steps, steps).text
    cutoffs = {r.run_id: r.metrics.get("warmup_cutoff_step") for runs in summaries.values()
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


def throughput_notes(arms: Mapping[str, Any]) -> list[str]:
    """Where a throughput came from when it was not printed as a rate, and which runs have
    none (the verdict then says nothing of speed: said here, not dropped in silence)."""
    derived: dict[str, list[str]] = {}
    missing = []
    for arm in arms.values():
        for r in arm["runs"]:
            source = r.get("throughput_source")
            if r.get("throughput") is None and r.get("records"):
                missing.append(str(r.get("run_id")))
            elif source not in (None, "records", "final record"):
                derived.setdefault(str(source), []).append(str(r.get("run_id")))
    out = [f"throughput of {', '.join(ids)}: derived from the {src}" for src, ids in derived.items()]
    if missing:
        out.append(f"no throughput for {', '.join(missing)}: the log prints no rate, step time "
                   "or sample counter (print samples/s, or ms per step, to compare speed)")
    return out
