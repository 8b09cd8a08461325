"""``abtui diff RUN_A RUN_B``: every difference between two past runs, arms matched by name.

Reads only the run directories: each manifest, each arm's first env record from its
``events.jsonl``, and ``telemetry.jsonl`` when there is one. Between two runs nothing is
"the treatment": every difference is shown as one.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from abtui.diff.checked import CategoryCheck, category_checks
from abtui.diff.context import RunFacts, RunPair, SecretScrubber, Treatment
from abtui.diff.engine import (
    collect_secrets,
    collect_secrets_in,
    compare_pairs,
    config_keys,
    order,
    run_facts,
)
from abtui.diff.findings import INFO, WARNING, Finding, show
from abtui.diff.working_tree import snapshot_findings
from abtui.infra.errors import RunDirError
from abtui.ingest.decode import Decoder, EnvRecord, EventRecord, MetricRecord
from abtui.ingest.events import read_events
from abtui.rundir import Manifest, RunDir
from abtui.spec.resolve import flatten

#: Spec fields compared between runs (the per-arm config is compared run by run).
SPEC_FIELDS_INFO = ("description", "gates", "treatment", "baseline", "telemetry", "target", "image")
#: Compared elsewhere (config, env vars, launch command) or names only.
SPEC_FIELDS_SKIP = ("name", "arms", "config", "env", "command")
MAX_ENV_SCAN_LINES = 10_000  # the env record comes first; never read a whole huge log for it


def first_env_record(events_path: Path) -> dict[str, Any] | None:
    """The first ``{"event": "env"}`` record an arm printed (with the numerics it reported
    at its first logged step, when that comes soon after), or None."""
    decoder = Decoder()
    env: dict[str, Any] | None = None
    for n, stored in enumerate(read_events(events_path)):
        if n >= MAX_ENV_SCAN_LINES:
            break
        rec = decoder.decode(stored.raw, stored.truncated)
        if type(rec) is EnvRecord and env is None:
            env = dict(rec.data)
        elif type(rec) is EventRecord and rec.name == "numerics" and env is not None:
            env["numerics_at_first_step"] = {k: v for k, v in rec.data.items()
                                             if k not in ("event", "at_step", "timestamp")}
            return env
        elif type(rec) is MetricRecord and env is not None and n > 200:
            return env  # metrics flow and no numerics event came: an older reporter
    return env


def _telemetry(rundir: RunDir, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not rundir.telemetry_path.is_file():
        return {}
    from abtui.telemetry import read_samples, summarize

    with contextlib.suppress(Exception):  # telemetry is a bonus here, never a failure
        return summarize(list(read_samples(rundir.telemetry_path)), run_ids=run_ids)
    return {}


def load_run(root: Path) -> tuple[RunDir, Manifest, dict[str, RunFacts]]:
    """A run directory's manifest and per-run facts (env records read from events.jsonl)."""
    rundir = RunDir.open(root)
    manifest = rundir.read_manifest()
    spec: dict[str, Any] = manifest["spec"] if isinstance(manifest.get("spec"), dict) else {}
    run_ids = list(dict.fromkeys([*(manifest.get("runs") or {}), *rundir.run_ids()]))
    envs = {rid: first_env_record(rundir.root / "arms" / rid / "events.jsonl")
            or rundir.observed_env(rid) for rid in run_ids}
    summaries = _telemetry(rundir, run_ids)
    facts = run_facts(manifest, envs, spec, summaries, source=rundir.name)
    return rundir, manifest, facts


def diff_runs(run_a: Path, run_b: Path) -> list[Finding]:
    """Every difference between two past runs, arm by arm (matched by name) and replicate
    by replicate. Raises ``RunDirError`` (a clear message) for a path that is not a run."""
    return diff_runs_checked(run_a, run_b)[0]


def diff_runs_checked(run_a: Path, run_b: Path) -> tuple[list[Finding], list[CategoryCheck]]:
    """``diff_runs`` and every category's state between the two runs (``abtui diff``),
    each run directory read once."""
    run_a, run_b = Path(run_a), Path(run_b)
    rd_a, man_a, facts_a = load_run(run_a)
    rd_b, man_b, facts_b = load_run(run_b)
    if rd_a.root.resolve() == rd_b.root.resolve():
        raise RunDirError(f"{run_a}: both arguments name the same run")
    la, lb = rd_a.name, rd_b.name
    if la == lb:
        la, lb = str(run_a), str(run_b)
    by_a = {(f.arm, f.replicate): f for f in facts_a.values()}
    by_b = {(f.arm, f.replicate): f for f in facts_b.values()}
    keys = config_keys([*facts_a.values(), *facts_b.values()])
    nothing = Treatment(())
    pairs = [
        RunPair(fa, by_b[k], nothing, arms=(f"{la}/{fa.run_id}", f"{lb}/{by_b[k].run_id}"),
                config_keys=keys)
        for k, fa in by_a.items() if k in by_b
    ]
    findings = _merge_arms(compare_pairs(pairs), la, lb)
    findings += snapshot_findings(rd_a.root, rd_b.root, la, lb)
    findings += _unmatched(la, lb, by_a, by_b)
    findings += _spec_findings(la, lb, man_a.get("spec") or {}, man_b.get("spec") or {})
    scrubber = SecretScrubber()
    for f in [*facts_a.values(), *facts_b.values()]:
        collect_secrets(scrubber, f)
    collect_secrets_in(scrubber, man_a.get("backend_facts"))
    collect_secrets_in(scrubber, man_b.get("backend_facts"))
    found = order([scrubber.finding(f) for f in findings])
    return found, category_checks([*facts_a.values(), *facts_b.values()], found)


def _merge_arms(findings: list[Finding], la: str, lb: str) -> list[Finding]:
    """One finding for a difference every matched arm shows alike (a new commit, a changed
    variable), labelled by run; per-arm findings otherwise."""
    groups: dict[tuple[str, str, str, str | None], list[Finding]] = {}
    for f in findings:
        sig = (f.key, json.dumps(f.a, sort_keys=True, default=str),
               json.dumps(f.b, sort_keys=True, default=str), f.detail)
        groups.setdefault(sig, []).append(f)
    out = []
    for group in groups.values():
        first = group[0]
        if len(group) == 1:
            out.append(first)
            continue
        message = first.message.replace(first.arms[0], la).replace(first.arms[1], lb)
        runs = ", ".join(f.arms[0].rpartition("/")[2] for f in group)
        out.append(replace(first, arms=(la, lb), message=f"{message} [runs {runs}]"))
    return out


def _unmatched(la: str, lb: str, by_a: dict[tuple[str, int], RunFacts],
               by_b: dict[tuple[str, int], RunFacts]) -> list[Finding]:
    out = []
    for (arm, rep), f in sorted({**by_a, **by_b}.items()):
        if (arm, rep) in by_a and (arm, rep) in by_b:
            continue
        here, there = (la, lb) if (arm, rep) in by_a else (lb, la)
        out.append(Finding(
            key="runs.unmatched", category="config", a=f.run_id if here == la else None,
            b=f.run_id if here == lb else None, intended=False, severity=INFO,
            message=f"run {f.run_id} (arm {arm}, replicate {rep}) exists in {here} only, "
                    f"so it is not compared with {there}",
            arms=(la, lb)))
    return out


def _spec_findings(la: str, lb: str, sa: dict[str, Any], sb: dict[str, Any]) -> list[Finding]:
    fa = flatten({k: v for k, v in sa.items() if k not in SPEC_FIELDS_SKIP})
    fb = flatten({k: v for k, v in sb.items() if k not in SPEC_FIELDS_SKIP})
    out = []
    for key in sorted(set(fa) | set(fb)):
        va, vb = fa.get(key), fb.get(key)
        if va == vb:
            continue
        severity = INFO if key.split(".")[0] in SPEC_FIELDS_INFO else WARNING
        out.append(Finding(key=f"spec.{key}", category="config", a=va, b=vb, intended=False,
                           severity=severity,
                           message=f"the experiment spec's {key} differs ({la}: {show(va)}, "
                                   f"{lb}: {show(vb)})",
                           arms=(la, lb)))
    return out
