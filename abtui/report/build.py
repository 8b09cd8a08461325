"""Build the report dict (the content of report.json) from an experiment, and write the files.

Works from a run directory alone: ``Experiment.attach(root, follow=False)`` rebuilds the
store, and everything here reads only ``exp.spec``, ``exp.manifest``, ``exp.store`` and
files under ``exp.rundir``. The keys are documented in docs/report.md and stable.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from abtui.compare.effects import HEADLINE, adjust_family, compare_arm, time_target_source
from abtui.compare.factorial import of_grid
from abtui.compare.gates import evaluate_gates, parse_gates, read_gates, require_fair
from abtui.compare.ranking import pick_metric, rank
from abtui.compare.summary import SMOOTHING_ALPHA, RunSummary, aggregate, summarize_run
from abtui.compare.verdict import comparison_sentences, verdict_line
from abtui.diff.fairness import CONFOUNDED, NOT_CHECKED, SPEED_EFFECTS, Fairness
from abtui.infra.errors import EnvironmentFailure
from abtui.infra.safe_io import atomic_write
from abtui.infra.secrets import mask_config
from abtui.infra.untrusted import shown
from abtui.report import design, traces
from abtui.report.environment import environment_section
from abtui.report.run_notes import (
    corun_notes,
    iso_time,
    output_gap_notes,
    seed_status,
    throughput_notes,
    warmup_text,
)
from abtui.report.schema import Report
from abtui.rundir import Manifest, RunDir
from abtui.spec.models import flatten
from abtui.store import ArmStatus, RunState

if TYPE_CHECKING:
    from abtui.spec import ExperimentSpec
    from abtui.store import Store


class RunView(Protocol):
    """What a report reads from an experiment (``abtui.experiment.Experiment`` is one):
    the spec, the manifest, the store and the run directory, nothing else."""

    spec: ExperimentSpec
    manifest: Manifest
    store: Store
    rundir: RunDir

SCHEMA_VERSION = 1


def _jsonable(obj: Any) -> Any:
    """NaN / Inf become null, tuples lists, dataclasses dicts: report.json is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(dataclasses.asdict(obj))
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)


def _finding_dict(f: Any) -> dict[str, Any]:
    if hasattr(f, "to_dict"):
        return dict(f.to_dict())
    if dataclasses.is_dataclass(f) and not isinstance(f, type):
        return dataclasses.asdict(f)
    if isinstance(f, Mapping):
        return dict(f)
    return {"message": str(f)}


def _spec_summary(exp: RunView) -> dict[str, Any]:
    spec = exp.spec
    return {
        "name": spec.name, "description": spec.description, "backend": spec.backend,
        "image": spec.image, "steps": spec.steps, "replicates": spec.replicates,
        "seed": spec.seed, "baseline": spec.baseline_arm, "treatment": list(spec.treatment),
        "target": {"loss": spec.target.loss, "accuracy": spec.target.accuracy},
        "warmup_steps": spec.warmup_steps, "gates": list(spec.gates),
        "gate_point": bool(getattr(spec, "gate_point", False)),
        "allow_confounds": bool(getattr(spec, "allow_confounds", False)),
        "arms": {name: {"config": mask_config(arm.config), "gpus": list(arm.gpus),
                        "image": arm.image}
                 for name, arm in spec.arms.items()},
    }


def runs_by_arm(exp: RunView) -> dict[str, list[RunState]]:
    order = list(exp.spec.arms)
    out: dict[str, list[RunState]] = {a: [] for a in order}
    for state in exp.store.runs.values():
        out.setdefault(state.arm, []).append(state)
    for states in out.values():
        states.sort(key=lambda s: (s.replicate, s.run_id))
    return out


def _target_text(loss: float | None, accuracy: float | None) -> str:
    if loss is not None:
        return f"time to loss \u2264 {loss:g}"
    if accuracy is not None:
        return f"time to accuracy \u2265 {accuracy:g}"
    return "time to target"


def _gpu_owners(manifest: Mapping[str, Any]) -> dict[int, str]:
    """GPU index -> its run id; the arm name when replicates of one arm share it."""
    runs_on: dict[int, list[tuple[str, str]]] = {}
    for run_id, r in (manifest.get("runs") or {}).items():
        for g in r.get("gpus", []):
            runs_on.setdefault(g, []).append((run_id, str(r.get("arm", run_id))))
    out = {}
    for g, users in runs_on.items():
        arms = sorted({a for _, a in users})
        out[g] = users[0][0] if len(users) == 1 else ", ".join(arms)
    return out


def common_quality_step(states: Mapping[str, Sequence[RunState]]) -> float | None:
    """When a run the comparison uses did not finish (an arm with no finished run: stopped,
    failed, lost or still going): the last step every used run reached (quality is
    compared there); None when every used run finished (see ``usable_runs``)."""
    runs = []
    for ss in states.values():
        done = [s for s in ss if s.status == ArmStatus.DONE]
        runs += done or list(ss)
    if all(s.status == ArmStatus.DONE for s in runs):
        return None
    lasts = []
    for s in runs:
        with s.lock:
            series = s.series.get("loss") or s.series.get("accuracy")
            if series is not None and len(series):
                lasts.append(float(series.steps[-1]))
    return min(lasts) if lasts else None


def run_summaries(exp: RunView, states: Mapping[str, Sequence[RunState]],
                  telemetry: Mapping[str, Any] | None, corun: Mapping[str, Any] | None,
                  at_step: float | None) -> dict[str, list[RunSummary]]:
    """Each arm's per-run summaries as the report computes them (the sequential design's
    looks use this too, so a look and the report read the same numbers)."""
    spec = exp.spec
    telemetry = telemetry or {}
    windows = {r: tuple(v["window"]) for r, v in ((corun or {}).get("runs") or {}).items()
               if v.get("window")}
    return {arm: [summarize_run(s, warmup_steps=spec.warmup_steps,
                                total_steps=s.total_steps or spec.steps,
                                target_loss=spec.target.loss,
                                target_accuracy=spec.target.accuracy,
                                energy=(e if isinstance(e := telemetry.get(s.run_id), Mapping)
                                        else None),
                                window=windows.get(s.run_id), at_step=at_step)
                  for s in arm_states]
            for arm, arm_states in states.items()}


def _stated(comp: Any, gates: Sequence[Any]) -> set[tuple[str, str]]:
    """(arm, metric) pairs the verdict states about ``comp``: its headline effects, and the
    gated metrics of gates that apply to it."""
    out = {(comp.arm, m) for m in HEADLINE}
    out |= {(comp.arm, g.metric) for g in gates if g.arm in (None, comp.arm)}
    return out


def build_report(exp: RunView, gates: Sequence[str] = (), findings: Iterable[Any] | None = None,
                 telemetry: Mapping[str, Any] | None = None,
                 fairness: Fairness | None = None,
                 corun: Mapping[str, Any] | None = None,
                 checked: Sequence[Mapping[str, str]] = ()) -> Report:
    """The report as a dict with stable keys (``Report``; see docs/report.md).

    ``gates``: gate texts added to the spec's own ``gates`` (duplicates dropped); a bad one
    raises ``GateError`` (exit code 2). ``findings``: the diff engine's findings (objects
    with ``to_dict`` or dicts). ``telemetry``: per-run telemetry summaries keyed by run id
    (``{"energy_j": ..., ...}``), kept as given. ``fairness``: the diff's verdict on the
    comparison (None: not checked, said as unverifiable); ``checked``: what the diff looked
    at, category by category (``diff.checked``).
    """
    spec = exp.spec
    gate_list = parse_gates([*spec.gates, *gates])  # fail on a bad gate before any work
    telemetry = dict(telemetry or {})
    baseline = spec.baseline_arm
    states = runs_by_arm(exp)
    at_step = common_quality_step(states)
    summaries = run_summaries(exp, states, telemetry, corun, at_step)
    for arm, runs in summaries.items():
        for r in runs:
            entry: Mapping[str, Any] = exp.manifest.get("runs", {}).get(r.run_id) or {}
            env = next((s.env for s in states.get(arm, []) if s.run_id == r.run_id), None)
            r.metrics.seed = entry.get("seed")
            r.metrics.seed_status = seed_status(spec, arm, r.metrics.seed, env)
    aggregates = {arm: aggregate(runs) for arm, runs in summaries.items()}
    arms = {arm: {"runs": [r.metrics.to_report() for r in runs],
                  "aggregate": aggregates[arm].to_report()}
            for arm, runs in summaries.items()}

    ttt = time_target_source(spec.target.loss, spec.target.accuracy)
    target_text = _target_text(spec.target.loss, spec.target.accuracy)
    comparisons = []
    notes = [warmup_text(spec.warmup_steps, spec.steps, summaries),
             f"final loss is an EMA (alpha {SMOOTHING_ALPHA}, bias-corrected) of the logged loss; "
             "accuracy final / best are logged values",
             "time to target: first record where the EMA-smoothed curve reaches the target, "
             "seconds from the run's first received line",
             "throughput is time-weighted: steady-state samples over steady-state time "
             "(the step-weighted harmonic mean of the logged rates), so stalls count; "
             "throughput_median is the typical logged rate; step time p50 / p95 are "
             "percentiles of the logged per-interval step times",
             "intervals are 95 %: with replicates a Welch t interval (on log values for "
             "ratios: a ratio of geometric means; on values for deltas), p-value and "
             "significance from the same test; with n = 1 nothing is tested (throughput: a "
             "within-run interval, within-run noise only)"]
    comps = []
    # the design, as the manifest wrote it before any data: paired replicates, or not
    paired = bool((exp.manifest.get("design") or {}).get("paired"))
    if paired:
        notes.append("paired design: replicate i of every arm ran with one seed (and, run "
                      "at once, in one time slot); effects are paired t over the replicates")
    if at_step is not None:
        notes.append(f"runs incomplete: loss and accuracy are compared at step {at_step:g}, "
                     "the last step every run reached")
    for arm, runs in summaries.items():
        if arm == baseline or baseline not in summaries:
            continue
        comps.append(compare_arm(summaries[baseline], runs, arm=arm, baseline=baseline,
                                 time_target=ttt, paired=paired))
    ranking = grid = None
    if len(summaries) >= 3:  # which is best, and which cannot be told apart from it
        metric = pick_metric(summaries, spec.rank_by)
        ranking = rank(summaries, metric) if metric else None
        grid = (of_grid(summaries, {a: flatten(arm.config) for a, arm in spec.arms.items()},
                        spec.grid_keys, metric) if metric else None)
    seq = design.section(spec, exp.manifest, summaries)
    if seq is not None:
        notes.append(design.note(seq))
        for comp in comps:
            design.apply(comp, seq)
    family_metrics = set(HEADLINE) | {g.metric for g in gate_list}
    decided_on = seq["metric"] if seq else None  # decided by its own rule, at 5 %
    family = adjust_family(e for c in comps for name, e in c.effects.items()
                           if name in family_metrics and name != decided_on
                           and (c.arm, name) in _stated(c, gate_list))
    if family > 1:
        notes.append(f"multiple comparisons: significance is Holm-adjusted across the {family} "
                     "effects the verdict states or gates check (family-wise error rate 5 %)")
    for comp in comps:
        comp.sentences = comparison_sentences(comp, target_text=target_text)
        if seq is not None and comp.arm in seq["final"]:
            comp.sequential = seq["final"][comp.arm]
            comp.sentences.insert(0, seq["final"][comp.arm]["sentence"])
        comparisons.append(comp.to_dict())
        notes += [n for n in comp.notes if n not in notes]

    failed = [s.run_id for ss in states.values() for s in ss
              if s.status in ArmStatus.ENDED and s.status != ArmStatus.DONE]
    manifest = exp.manifest
    fair = (NOT_CHECKED if fairness is None
            else dataclasses.replace(fairness, checked_categories=[dict(c) for c in checked]))
    # the arms a ranking marks: speed-only confounds leave a ranking on loss or accuracy fair
    odd = (fair.arms if ranking and (fair.affects != "speed"
                                     or ranking.metric == "throughput") else None)
    owner = _gpu_owners(manifest)
    samples = traces.read_telemetry_samples(exp.rundir.telemetry_path, list(exp.store.telemetry))
    report: Report = {
        "schema_version": SCHEMA_VERSION,
        "experiment": spec.name,
        "run_dir": str(exp.rundir.root),
        "created": iso_time(manifest.get("created_at")),
        "finished": iso_time(manifest.get("finished_at")),
        "generated": iso_time(time.time()),
        "status": manifest.get("status"),
        "spec": _spec_summary(exp),
        "arms": arms,
        "comparisons": comparisons,
        "gates": [],
        "findings": [_finding_dict(f) for f in findings or ()],
        "fairness": fair.to_dict(),
        "telemetry": telemetry,
        "failed_runs": failed,
        "environment": environment_section(exp),
        "corun": _jsonable(dict(corun)) if corun else None,
        "sequential": seq,
        "ranking": ranking.to_dict(odd) if ranking else None,
        "factorial": grid.to_dict() if grid else None,
        "notes": notes,
        "charts": {
            "loss": traces.arm_curves(states, "loss"),
            "accuracy": traces.arm_curves(states, "accuracy"),
            "throughput": traces.throughput_bars(aggregates),
            "gpu": traces.gpu_traces(samples, owner, t0=manifest.get("created_at")),
        },
        "verdict": {"summary": "", "fair": fair.fair, "fairness": fair.state,
                    "gates_passed": None, "failed_runs": failed},  # completed below
    }
    notes += corun_notes(corun)
    notes += output_gap_notes(exp.rundir)
    notes += [f"arm {s.run_id}: read as {s.adapter.words} (log_format {exp.spec.log_format})"
              for ss in states.values() for s in ss if s.adapter.words and s.series]
    notes += [why for ss in states.values() for s in ss if (why := s.nothing_read())]
    notes += throughput_notes(summaries)
    results = evaluate_gates(comps, gate_list, baseline=baseline,
                             point=bool(getattr(spec, "gate_point", False)))
    why = "; ".join((fair.reasons if fair.state == CONFOUNDED
                     else fair.missing or fair.reasons)[:2])
    results = require_fair(results, fair.state, why,
                           bool(getattr(spec, "allow_confounds", False)),
                           SPEED_EFFECTS if fair.affects == "speed" else None)
    report["gates"] = [r.to_dict() for r in results]
    report["verdict"] = {
        "summary": verdict_line(comps, results, fair, failed,
                                ranking.sentence(odd) if ranking else None),
        "fair": fair.fair,
        "fairness": fair.state,
        "gates_passed": all(r.passed for r in results) if results else None,
        "failed_runs": failed,
    }
    return cast(Report, redacted(_jsonable(report)))  # the same keys, secrets masked


def gates_failed(report: Mapping[str, Any]) -> bool:
    """True when any gate in the report failed (the CLI then exits 1)."""
    return any(not g.passed for g in read_gates(report))


def _write_atomic(path: Path, text: str) -> None:
    atomic_write(path, text)


def redacted(value: Any) -> Any:
    """A report (or any JSON value) with every string inert and secret shapes masked."""
    if isinstance(value, str):
        return shown(value)
    if isinstance(value, Mapping):
        return {shown(str(k)): redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


def write_reports(rundir: RunDir | str | Path, report: Mapping[str, Any]) -> dict[str, Path]:
    """Write report.json, report.md and report.html into the run directory, each atomically.

    Returns the paths by format (``{"json": ..., "md": ..., "html": ...}``).
    """
    from abtui.report.html import render_html
    from abtui.report.markdown import render_markdown

    root = rundir.root if isinstance(rundir, RunDir) else Path(rundir)
    paths = {"json": root / "report.json", "md": root / "report.md", "html": root / "report.html"}
    # the report is clean already (build_report's last step is ``redacted``); the rendered
    # texts pass the sanitising boundary as every rendering path does
    try:
        _write_atomic(paths["json"], json.dumps(report, indent=2, allow_nan=False) + "\n")
        _write_atomic(paths["md"], shown(render_markdown(report)))
        _write_atomic(paths["html"], shown(render_html(report)))
    except OSError as exc:
        raise EnvironmentFailure(
            f"cannot write the report into {root}: {exc.strerror or exc}; the run directory "
            f"keeps everything else: `abtui report {root}` once there is room") from None
    return paths
