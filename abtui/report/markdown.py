"""report.md: the report dict as Markdown (tables, verdict, gates, findings, text charts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from abtui.compare.effects import read_comparisons
from abtui.compare.gates import read_gates
from abtui.diff.fairness import Fairness
from abtui.report import charts
from abtui.report.environment import environment_markdown
from abtui.report.format import (
    EFFECT_HEADERS,
    RANKING_HEADERS,
    RUN_HEADERS,
    arm_headers,
    arm_rows,
    effect_row,
    num,
    ranking_rows,
    run_rows,
)

SPARK_WIDTH = 60
BAR_WIDTH = 40
TELEMETRY_COLUMNS = (("energy (J)", "energy_j"), ("J/sample", "energy_per_sample_j"),
                     ("mean power (W)", "power_mean_w"), ("max temp (°C)", "temp_max_c"),
                     ("SM clock (MHz)", "sm_clock_mean_mhz"),
                     ("power-capped", "power_capped_share"), ("thermal", "thermal_share"))


def _cell(x: Any) -> str:
    if x is None:
        return "–"  # not measured: never the word None in a table
    text = x if isinstance(x, str) else num(x) if isinstance(x, (int, float)) else str(x)
    return md_text(text).replace("|", "\\|").replace("\n", " ")


_MD_ACTIVE = str.maketrans({"<": "&lt;", ">": "&gt;", "[": "\\[", "]": "\\]", "`": "\\`"})


def md_text(text: str) -> str:
    """Arm-made text as Markdown shows it literally: no image, link, HTML or code span it
    could open (an env record's ``<script>``, ``![x](http://…)``, ``javascript:`` link)."""
    return text.translate(_MD_ACTIVE) if any(c in text for c in "<>[]`") else text


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A GitHub-flavoured Markdown table."""
    out = ["| " + " | ".join(_cell(h) for h in headers) + " |",
           "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def _runs_section(report: Mapping[str, Any]) -> list[str]:
    # how each run that did not finish ended, in the backend's words (a Slurm TIMEOUT, ...)
    ends = [f"- {_cell(r.get('run_id'))}: {_cell(r['exit_error'])}"
            for data in (report.get("arms") or {}).values() for r in data.get("runs", [])
            if r.get("exit_error") and r.get("status") != "done"]
    return ["## Runs", "", *table(RUN_HEADERS, run_rows(report)), "",
            *([*ends, ""] if ends else [])]


def _comparisons_section(report: Mapping[str, Any]) -> list[str]:
    out = ["## Comparisons", ""]
    if not report.get("comparisons"):
        return out + ["No comparison (the baseline or the other arms have no runs).", ""]
    for comp in read_comparisons(report):
        out += [f"### {comp.arm} vs {comp.baseline}", ""]
        out += [f"- {s}" for s in comp.sentences] + [""]
        out += table(EFFECT_HEADERS, [effect_row(e) for e in comp.effects.values()])
        out += [""] + [f"> {n}" for n in comp.notes] + [""]
    return out


def _gates_section(report: Mapping[str, Any]) -> list[str]:
    gates = read_gates(report)
    if not gates:
        return ["## Gates", "", "No gates.", ""]
    return ["## Gates", "", "```", *[g.line for g in gates], "```", ""]


def _ranking_section(report: Mapping[str, Any]) -> list[str]:
    ranking = report.get("ranking")
    if not ranking:
        return []
    return [f"## Ranking by {ranking['label']}", "", ranking.get("sentence", ""), "",
            *table(RANKING_HEADERS, ranking_rows(ranking)), "",
            f"{ranking['method']}. The lead is the arm's mean minus the best of the others' "
            "(in the better direction); its interval holds with the others' together, and "
            "ends at 0 for an arm another beats beyond its noise.", ""]


def _grid_section(report: Mapping[str, Any]) -> list[str]:
    grid = report.get("factorial")
    if not grid:
        return []
    rows = [[f"{e['key']} {e['level']} vs {e['base']}", f"{e['estimate']:+.4g}",
             f"{e['ci'][0]:+.3g} .. {e['ci'][1]:+.3g}" if e.get("ci") else "-",
             f"{e['p_value']:.2g}" if e.get("p_value") is not None else "-"]
            for e in grid["effects"]]
    rows += [[f"interaction {' x '.join(i['keys'])}",
              f"F({i['df'][0]}, {i['df'][1]}) = {i['f']:.3g}" if i.get("f") is not None else "-",
              "", f"{i['p_value']:.2g}" if i.get("p_value") is not None else "-"]
             for i in grid["interactions"]]
    return [f"## The grid: what each key does ({grid['label']})", "",
            *table(["contrast", "estimate", "95 % CI", "p"], rows), "", grid["method"], ""]


def _fairness_section(report: Mapping[str, Any]) -> list[str]:
    fair = Fairness.read(report.get("fairness"))
    state = fair.state
    head = {"fair": "fair", "confounded": "**NOT fair** (confounded)",
            "unverifiable": "**unverifiable** (evidence missing)"}[state]
    odd = fair.arms
    per_arm = (["Confounds by arm (the other arms compare fairly with each other):", "",
                *table(["arm", "confounded by"], [[a, "; ".join(r)] for a, r in odd.items()]),
                ""] if odd else [])
    return ["## Fairness", "", f"Comparison: {head}.", "", *per_arm,
            *[f"- {r}" for r in fair.reasons if r != "not checked"],
            *[f"- missing: {m}" for m in fair.missing if m not in fair.reasons],
            "", *_checked(fair)]


def _checked(fair: Fairness) -> list[str]:
    checks = fair.checked_categories
    if not checks:
        return []
    rows = [[c.get("category"), c.get("state"), c.get("text")] for c in checks]
    return ["What was checked:", "", *table(["category", "state", "evidence"], rows), ""]


def _findings_section(report: Mapping[str, Any]) -> list[str]:
    findings = report.get("findings") or []
    out = ["## Findings", ""]
    if not findings:
        return out + ["No findings were passed to the report.", ""]
    rows = []
    for f in findings:
        kind = ("treatment" if f.get("intended") else "CONFOUND" if f.get("confound")
                else f.get("severity", ""))
        rows.append([kind, f.get("category", ""), f.get("key", ""),
                     f.get("message") or f"{f.get('a')} \u2192 {f.get('b')}"])
    return out + table(["kind", "category", "key", "what"], rows) + [""]


def _charts_section(report: Mapping[str, Any]) -> list[str]:
    ch = report.get("charts") or {}
    out = ["## Charts", ""]
    for metric in ("loss", "accuracy"):
        curves = ch.get(metric) or {}
        if not curves:
            continue
        vals = [v for c in curves.values() for v in c["mean"]]
        lo, hi = min(vals), max(vals)
        out += [f"{metric} by step ({num(lo)} \u2026 {num(hi)}), mean over runs:", "", "```"]
        width = max(len(a) for a in curves)
        out += [f"{arm:<{width}}  {charts.sparkline(c['mean'], SPARK_WIDTH, lo, hi)}"
                f"  {num(c['mean'][-1])}" for arm, c in curves.items()]
        out += ["```", ""]
    bars = [b for b in ch.get("throughput") or [] if b.get("value") is not None]
    if bars:
        vmax = max(max(b["value"], b.get("hi") or 0) for b in bars)
        width = max(len(b["arm"]) for b in bars)
        out += ["throughput (samples/s, 95 % interval in brackets):", "", "```"]
        for b in bars:
            ci = f"  [{num(b['lo'])} \u2026 {num(b['hi'])}]" if b.get("lo") is not None else ""
            out.append(f"{b['arm']:<{width}}  {charts.bar(b['value'], vmax, BAR_WIDTH):<{BAR_WIDTH}}"
                       f"  {num(b['value'])}{ci}")
        out += ["```", ""]
    return out if len(out) > 2 else []


def _telemetry_section(report: Mapping[str, Any]) -> list[str]:
    tel = {k: v for k, v in (report.get("telemetry") or {}).items() if isinstance(v, Mapping)}
    if not tel:
        return []
    rows = [[run] + [num(t.get(k)) for _, k in TELEMETRY_COLUMNS] for run, t in tel.items()]
    return ["## Telemetry", "", *table(["run"] + [h for h, _ in TELEMETRY_COLUMNS], rows), ""]


def _oddities_section(report: Mapping[str, Any]) -> list[str]:
    lines = []
    for data in (report.get("arms") or {}).values():
        for r in data.get("runs", []):
            odd = r.get("oddities") or {}
            kinds = [f"{k} {v}" for k, v in odd.items() if k != "examples" and v]
            if kinds:
                lines.append(f"- {r['run_id']}: " + ", ".join(kinds))
    return ["## Oddities in the logs", "", *lines, ""] if lines else []


def render_markdown(report: Mapping[str, Any]) -> str:
    """The whole report.md."""
    spec = report.get("spec") or {}
    out = [f"# abtui report: {report.get('experiment')}", "",
           f"**Verdict:** {(report.get('verdict') or {}).get('summary', '')}", ""]
    if spec.get("description"):
        out += [spec["description"], ""]
    out += [f"- run directory: `{report.get('run_dir')}`",
            f"- created: {report.get('created') or '?'}; finished: {report.get('finished') or 'not yet'}",
            f"- baseline: {spec.get('baseline')}; treatment: {', '.join(spec.get('treatment') or []) or 'not declared'}",
            f"- steps: {spec.get('steps') or 'not given (each run up to its own last step)'}; "
            f"replicates per arm: {spec.get('replicates')}", ""]
    out += ["## Arms", "", *table(arm_headers(), arm_rows(report)), ""]
    out += _runs_section(report)
    out += _comparisons_section(report)
    out += _ranking_section(report)
    out += _grid_section(report)
    out += _gates_section(report)
    out += _fairness_section(report)
    out += _findings_section(report)
    out += _charts_section(report)
    out += _telemetry_section(report)
    out += environment_markdown(report)
    out += _oddities_section(report)
    out += ["## Notes", "", *[f"- {n}" for n in report.get("notes", [])], ""]
    return "\n".join(out)
