"""The diff engine: every difference between the arms of a run, intended or a confound.

``find_differences`` compares every arm with the baseline (every pair of arms when there
are more than two), replicate by replicate, and the replicates of each arm with each
other (where only the seed may differ). ``diff_runs`` (in ``abtui.diff.runs``) compares
two past runs. Nothing here imports a UI toolkit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from abtui.diff.categories import comparisons, names
from abtui.diff.checked import category_checks
from abtui.diff.context import RunFacts, RunPair, SecretScrubber, Treatment, pairs_of
from abtui.diff.fairness import Fairness, fairness
from abtui.diff.findings import Finding, findings_to_json, severity_rank, summarize
from abtui.diff.hardware import sentence_findings
from abtui.diff.image import image_identity
from abtui.diff.render import render_findings
from abtui.spec.models import ExperimentSpec
from abtui.spec.resolve import flatten


def find_differences(manifest: Mapping[str, Any], envs: Mapping[str, Mapping[str, Any] | None],
                     spec: ExperimentSpec, telemetry: Mapping[str, Any] | None = None,
                     confounds: Sequence[str] = (),
                     writes: Mapping[str, Sequence[str] | None] | None = None) -> list[Finding]:
    """Every difference between the runs of one experiment (see ``examine``)."""
    return examine(manifest, envs, spec, telemetry, confounds, writes)[0]


def examine(manifest: Mapping[str, Any], envs: Mapping[str, Mapping[str, Any] | None],
            spec: ExperimentSpec, telemetry: Mapping[str, Any] | None = None,
            confounds: Sequence[str] = (),
            writes: Mapping[str, Sequence[str] | None] | None = None,
            workdir: str | None = None) -> tuple[list[Finding], list[dict[str, str]]]:
    """Every difference between the runs of one experiment, and every category's state
    (identical / treatment / confound / not recorded), from one set of run facts.

    ``manifest``: the run's manifest (``runs``, ``backend_facts``). ``envs``: run id → the
    runner's env record (None while it has not reported). ``telemetry``: run id → telemetry
    summary (``TelemetrySummary.runs``). ``confounds``:
    sentences from ``abtui.telemetry.summary.confounds``. ``writes``: run id → the files its
    processes wrote outside its output folder (None: not recorded). Secrets are masked in
    every finding. Sorted by category, most serious first.
    """
    summaries = telemetry_by_run(telemetry)
    facts = run_facts(manifest, envs, spec.model_dump(mode="json"), summaries)
    for run_id, paths in (writes or {}).items():
        if run_id in facts and paths is not None:
            facts[run_id].writes = tuple(paths)
            facts[run_id].cwd = workdir
    arm_order = [a for a in spec.arms if any(f.arm == a for f in facts.values())]
    baseline = spec.baseline_arm
    treatment = Treatment(spec.treatment)
    pairs = experiment_pairs(facts, arm_order, baseline, treatment)
    findings = compare_pairs(pairs)
    if confounds:
        run_arm = {rid: f.arm for rid, f in facts.items()}
        run_arm.update({a: a for a in arm_order})
        base = baseline if baseline in arm_order or not arm_order else arm_order[0]
        findings, extra = sentence_findings(list(confounds), findings, run_arm, arm_order, base)
        findings += extra
    scrubber = SecretScrubber()
    for f in facts.values():
        collect_secrets(scrubber, f)
    collect_secrets_in(scrubber, manifest.get("backend_facts"))
    found = order([scrubber.finding(f) for f in findings])
    return found, [c.to_dict() for c in category_checks(facts.values(), found)]


def telemetry_by_run(telemetry: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Run id → summary dict (a summary object is taken in its dict form). One shape: a
    wrapper with an ``arms`` key was also taken once, which a run named ``arms`` broke."""
    if not telemetry:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for run_id, s in telemetry.items():
        if hasattr(s, "to_dict"):
            s = s.to_dict()
        if isinstance(s, Mapping):
            out[str(run_id)] = dict(s)
    return out


def _base_command(spec: Mapping[str, Any], arm: str) -> list[str] | None:
    arm_spec = (spec.get("arms") or {}).get(arm) or {}
    cmd = arm_spec.get("command") or spec.get("command")
    return list(cmd) if cmd else None


def run_facts(manifest: Mapping[str, Any], envs: Mapping[str, Mapping[str, Any] | None],
              spec: Mapping[str, Any], summaries: Mapping[str, dict[str, Any]],
              source: str = "") -> dict[str, RunFacts]:
    """Run id → facts, from a manifest, the env records and telemetry summaries."""
    runs = manifest.get("runs") or {}
    backend = manifest.get("backend_facts") or {}
    images = backend.get("images") or {}
    identities: dict[str, dict[str, Any]] = {}
    for ident in [backend.get("image"), *(backend.get("image_refs") or {}).values()]:
        norm = image_identity(ident) if isinstance(ident, Mapping) else None
        if norm and norm.get("id"):
            identities.setdefault(norm["id"], norm)
    out: dict[str, RunFacts] = {}
    for run_id in list(runs) + [r for r in envs if r not in runs]:
        entry = runs.get(run_id) or {}
        inspect: dict[str, Any] = entry["inspect"] if isinstance(entry.get("inspect"), dict) else {}
        arm = entry.get("arm") or run_id.split(".r")[0]
        image_id = images.get(run_id) or inspect.get("image_id")
        ident = identities.get(image_id) if image_id else None
        if ident is None and image_id:
            ident = {"id": image_id}
        if ident is None and not images and len(identities) == 1 and entry.get("image"):
            ident = next(iter(identities.values()))
        env = envs.get(run_id)
        out[run_id] = RunFacts(
            run_id=run_id, arm=arm, replicate=int(entry.get("replicate") or 0),
            seed=entry.get("seed"), config=dict(entry.get("config") or {}),
            env=dict(env) if isinstance(env, Mapping) else None,
            spec_env=dict(entry.get("env") or {}), command=_base_command(spec, arm),
            image=ident, image_ref=entry.get("image") or inspect.get("image_ref"),
            telemetry=summaries.get(run_id) or summaries.get(arm), inspect=inspect,
            source=source, secret_digests=dict(entry.get("secret_digests") or {}),
        )
    return out


def config_keys(facts: Iterable[RunFacts]) -> frozenset[str]:
    keys: set[str] = set()
    for f in facts:
        keys |= set(flatten(f.env_config or f.config or {}))
    return frozenset(keys)


def experiment_pairs(facts: Mapping[str, RunFacts], arm_order: Sequence[str], baseline: str,
                     treatment: Treatment) -> list[RunPair]:
    """Arms against the baseline replicate by replicate, then replicates inside each arm."""
    by_arm: dict[str, dict[int, RunFacts]] = {}
    for f in facts.values():
        by_arm.setdefault(f.arm, {})[f.replicate] = f
    keys = config_keys(facts.values())
    pairs: list[RunPair] = []
    names = [a for a in arm_order if a in by_arm]
    if names:
        for x, y in pairs_of(names, baseline if baseline in names else names[0]):
            for rep in sorted(set(by_arm[x]) & set(by_arm[y])):
                pairs.append(RunPair(by_arm[x][rep], by_arm[y][rep], treatment,
                                     config_keys=keys))
    for arm in names:
        reps = sorted(by_arm[arm])
        for rep in reps[1:]:
            pairs.append(RunPair(by_arm[arm][reps[0]], by_arm[arm][rep], treatment,
                                 within_arm=True, config_keys=keys))
    return pairs


def compare_pairs(pairs: Iterable[RunPair]) -> list[Finding]:
    """Run every comparison on every pair; one finding per (key, arms), however many
    replicate pairs showed it."""
    merged: dict[tuple[str, tuple[str, str]], Finding] = {}
    counts: dict[tuple[str, tuple[str, str]], int] = {}
    total: dict[tuple[str, str], int] = {}
    for pair in pairs:
        total[pair.arms] = total.get(pair.arms, 0) + 1
        for compare in comparisons():
            for f in compare(pair):
                k = (f.key, f.arms)
                counts[k] = counts.get(k, 0) + 1
                merged.setdefault(k, f)
    out = []
    for k, f in merged.items():
        n, of = counts[k], total.get(f.arms, 1)
        if of > 1:
            f = f.with_message(f"{f.message} [in {n} of {of} replicate pairs]")
        out.append(f)
    return out


def collect_secrets(scrubber: SecretScrubber, facts: RunFacts) -> None:
    env = facts.env or {}
    for part in (env.get("env_vars"), env.get("config"), facts.config, facts.spec_env):
        scrubber.collect(part)


def collect_secrets_in(scrubber: SecretScrubber, backend_facts: Any) -> None:
    if not isinstance(backend_facts, Mapping):
        return
    for ident in [backend_facts.get("image"), *(backend_facts.get("image_refs") or {}).values()]:
        if isinstance(ident, Mapping):
            scrubber.collect(ident.get("env"))
            scrubber.collect(ident.get("labels"))
            scrubber.collect((ident.get("Config") or {}).get("Env"))


def order(findings: Iterable[Finding]) -> list[Finding]:
    """Category order, then most serious first, intended before notes, then key."""
    rank = {c: i for i, c in enumerate(names())}
    return sorted(findings, key=lambda f: (rank.get(f.category, len(rank)),
                                           -severity_rank(f.severity), not f.intended, f.key,
                                           f.arms))


__all__ = [
    "Fairness",
    "Finding",
    "fairness",
    "find_differences",
    "findings_to_json",
    "render_findings",
    "summarize",
]
