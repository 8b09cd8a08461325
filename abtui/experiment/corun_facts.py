"""What ran beside each run in its steady state, from an experiment's store and manifest.

Used by the conclusion and by the sequential design's looks (the compared windows)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from abtui.experiment.orchestrator import Experiment


def corun_facts(exp: Experiment) -> dict[str, Any]:
    """What ran beside each run in its steady state (``abtui.telemetry.corun``), with the
    CPU placement the manifest recorded."""
    from abtui.compare.summary import THROUGHPUT, warmup_rule
    from abtui.telemetry.corun import corun, span_of

    spans = []
    for run_id, st in exp.store.runs.items():
        with st.lock:
            series = st.series.get(THROUGHPUT)
            cols = series.arrays("st") if series is not None and len(series) else None
            first, last = st.first_time, st.last_time
        rule = warmup_rule(exp.spec.warmup_steps, st.total_steps or exp.spec.steps,
                           float(cols[0][-1]) if cols is not None else None)
        kept = cols[1][cols[0] > rule.cutoff_step] if cols is not None else []
        # span_of reads the first and last steady-state times (and whether there are two)
        steady = [float(kept[0]), float(kept[-1])] if len(kept) >= 2 else list(kept)
        span = span_of(run_id, st.arm, st.replicate, first, last, steady)
        if span is not None:
            spans.append(span)
    # the backends mark an arm on another machine in its ref (Slurm jobs, remote engines)
    remote = [rid for rid, r in (exp.manifest.get("runs") or {}).items()
              if (r.get("ref") or {}).get("remote")]
    cpus = {rid: r.get("cpus") for rid, r in (exp.manifest.get("runs") or {}).items()}
    out = corun(spans, list(exp.store.telemetry), remote=remote,
                cpus={rid: c for rid, c in cpus.items() if isinstance(c, list)})
    out["placement"] = exp.manifest.get("placement")
    out["cpus"] = cpus
    return out
