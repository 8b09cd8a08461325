"""report.html: one self-contained page (inline CSS and SVG; no script, no external file)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from abtui.compare.effects import read_comparisons
from abtui.compare.gates import read_gates
from abtui.diff.fairness import Fairness
from abtui.report import svg
from abtui.report.format import (
    ARM_COLUMNS,
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
from abtui.report.html_sort import SORT_CSS, sortable_table

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.verdict{padding:.7em 1em;border-left:5px solid #1f77b4;background:#f3f7fb;font-weight:600}
.bad{border-color:#d62728;background:#fbf2f2}.pass{color:#1a7f37;font-weight:600}
.fail{color:#d62728;font-weight:600}.confound{color:#d62728;font-weight:600}.treat{color:#1f77b4}
.muted{color:#777}code{background:#f4f4f4;padding:0 .3em}
svg{display:block;margin:.5em 0;font:11px sans-serif}svg .t{font-size:13px;font-weight:600}
svg .ax{stroke:#444}svg .grid{stroke:#eee}svg .wh{stroke:#222;stroke-width:1.4}
.charts{display:flex;flex-wrap:wrap;gap:1em}
""" + SORT_CSS
#: The arms table's columns that sort higher-first (the rest: lower-first, names A to Z).
HIGHER_FIRST = {"done", "throughput", "throughput_median", "accuracy_best", "accuracy_final"}


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c if isinstance(c, _Raw) else escape(_txt(c))}</td>"
                                    for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class _Raw(str):
    """Markup that is already escaped."""


def _txt(x: Any) -> str:
    return num(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else str(x)


def _comparisons(report: Mapping[str, Any]) -> list[str]:
    out = ["<h2>Comparisons</h2>"]
    for comp in read_comparisons(report):
        out.append(f"<h3>{escape(comp.arm)} vs {escape(comp.baseline)}</h3><ul>")
        out += [f"<li>{escape(s)}</li>" for s in comp.sentences]
        out.append("</ul>")
        out.append(_table(EFFECT_HEADERS, [effect_row(e) for e in comp.effects.values()]))
        out += [f'<p class="muted">{escape(n)}</p>' for n in comp.notes]
    return out


def _gates(report: Mapping[str, Any]) -> list[str]:
    gates = read_gates(report)
    if not gates:
        return ["<h2>Gates</h2><p class='muted'>No gates.</p>"]
    items = "".join(f"<li class='{'pass' if g.passed else 'fail'}'>{escape(g.line)}</li>"
                    for g in gates)
    return [f"<h2>Gates</h2><ul>{items}</ul>"]


def _findings(report: Mapping[str, Any]) -> list[str]:
    fair = Fairness.read(report.get("fairness"))
    state = {"fair": "fair", "confounded": "NOT fair (confounded)",
             "unverifiable": "unverifiable (evidence missing)"}[fair.state]
    out = [f"<h2>Fairness and findings</h2><p>Comparison: <b>{escape(state)}</b></p>"]
    reasons = [r for r in fair.reasons if r != "not checked"]
    reasons += [f"missing: {m}" for m in fair.missing if m not in reasons]
    if reasons:
        out.append("<ul>" + "".join(f"<li>{escape(str(r))}</li>" for r in reasons) + "</ul>")
    checks = fair.checked_categories
    if checks:
        out.append("<h3>What was checked</h3>")
        out.append(_table(["category", "state", "evidence"],
                          [[c.get("category"), c.get("state"), c.get("text")] for c in checks]))
    rows = []
    for f in report.get("findings") or []:
        if f.get("intended"):
            kind = _Raw("<span class='treat'>treatment</span>")
        elif f.get("confound"):
            kind = _Raw("<span class='confound'>CONFOUND</span>")
        else:
            kind = f.get("severity", "")
        rows.append([kind, f.get("category", ""), f.get("key", ""),
                     f.get("message") or f"{f.get('a')} \u2192 {f.get('b')}"])
    out.append(_table(["kind", "category", "key", "what"], rows) if rows
               else "<p class='muted'>No findings were passed to the report.</p>")
    return out


def _charts(report: Mapping[str, Any]) -> list[str]:
    ch = report.get("charts") or {}
    figs = []
    for metric in ("loss", "accuracy"):
        curves = ch.get(metric) or {}
        series = [{"label": f"{arm} (n={c.get('runs')})", "x": c["x"], "y": c["mean"],
                   "lo": c.get("lo"), "hi": c.get("hi")} for arm, c in curves.items()]
        figs.append(svg.line_chart(series, f"{metric} (mean over runs, band: min\u2013max)",
                                   "step", metric))
    bars = [{"label": b["arm"], "value": b.get("value"), "lo": b.get("lo"), "hi": b.get("hi")}
            for b in ch.get("throughput") or []]
    figs.append(svg.bar_chart(bars, "throughput (whiskers: 95 % interval)", "samples/s"))
    gpu = ch.get("gpu") or {}
    for field, label in (("temp_c", "GPU temperature (\u00b0C)"), ("sm_clock_mhz", "SM clock (MHz)"),
                         ("power_w", "power (W)")):
        series = [{"label": f"GPU {idx}" + (f" ({t['arm']})" if t.get("arm") else ""),
                   "x": t[field]["t"], "y": t[field]["v"]}
                  for idx, t in gpu.items() if t.get(field, {}).get("t")]
        figs.append(svg.line_chart(series, label, "seconds since start", label))
    figs = [f for f in figs if f]
    out = ["<h2>Charts</h2>", "<div class='charts'>", *figs, "</div>"] if figs else []
    return out + _small_multiples(report)


SMALL_FROM = 5  # arms: from this many, each arm also gets a chart of its own
SMALL_W = 330


def _small_multiples(report: Mapping[str, Any]) -> list[str]:
    """Many arms overlaid are a tangle: each arm's loss (else accuracy) in a small chart of
    its own, the baseline's curve in grey behind it, every chart on the same axes."""
    ch = report.get("charts") or {}
    baseline = (report.get("spec") or {}).get("baseline")
    for metric in ("loss", "accuracy"):
        curves = ch.get(metric) or {}
        if len(curves) < SMALL_FROM:
            continue
        lines = {arm: {"label": arm, "x": c["x"], "y": c["mean"], "lo": c.get("lo"),
                       "hi": c.get("hi")} for arm, c in curves.items()}
        box = svg.extent(list(lines.values()))
        base = lines.get(baseline)
        figs = [svg.line_chart(([{**base, "label": f"{baseline} (baseline)", "lo": None,
                                  "hi": None, "colour": "#bbbbbb"}] if base and arm != baseline
                                else []) + [{**line, "colour": svg.color(i)}], arm, "step",
                               metric, within=box, width=SMALL_W)
                for i, (arm, line) in enumerate(lines.items())]
        return [f"<h3>Each arm's {escape(metric)}, on one scale (baseline in grey)</h3>",
                "<div class='charts'>", *[f for f in figs if f], "</div>"]
    return []


def _arms(report: Mapping[str, Any]) -> list[str]:
    """The arms table, sortable by any column (best first by the ranking when there is one)."""
    rows = arm_rows(report)
    arms = list((report.get("arms") or {}).items())
    values: list[list[float | str | None]] = []
    for arm, data in arms:
        agg = data.get("aggregate", {})
        runs = data.get("runs", [])
        values.append([arm, sum(1 for r in runs if r.get("status") == "done"),
                       *[(agg.get(k) or {}).get("mean") for _, k, _ in ARM_COLUMNS]])
    ranking = report.get("ranking") or {}
    place = {a["arm"]: i for i, a in enumerate(ranking.get("arms") or [])}
    order = sorted(range(len(arms)), key=lambda i: place.get(arms[i][0], len(place) + i))
    keys = ["arm", "done", *[k for _, k, _ in ARM_COLUMNS]]
    words = (f"best first by {ranking['label']}; " if place else "") + "a header sorts by it"
    return ["<h2>Arms</h2>", f"<p class='muted'>{escape(words)}</p>",
            sortable_table("arms", arm_headers(), [rows[i] for i in order],
                           [values[i] for i in order], [k in HIGHER_FIRST for k in keys])]


def _ranking(report: Mapping[str, Any]) -> list[str]:
    ranking = report.get("ranking")
    if not ranking:
        return []
    return [f"<h2>Ranking by {escape(str(ranking['label']))}</h2>",
            f"<p>{escape(str(ranking.get('sentence', '')))}</p>",
            _table(RANKING_HEADERS, ranking_rows(ranking)),
            f"<p class='muted'>{escape(str(ranking['method']))}. The lead is the arm's mean "
            "minus the best of the others' (in the better direction); its interval holds with "
            "the others' together, and ends at 0 for an arm another beats beyond its "
            "noise.</p>"]


def _runs(report: Mapping[str, Any]) -> list[str]:
    return ["<h2>Runs</h2>", _table(RUN_HEADERS, run_rows(report))]


def render_html(report: Mapping[str, Any]) -> str:
    """The whole report.html."""
    spec = report.get("spec") or {}
    verdict = report.get("verdict") or {}
    bad = verdict.get("gates_passed") is False or verdict.get("fair") is not True
    title = f"abtui report: {report.get('experiment')}"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p class='verdict{' bad' if bad else ''}'>{escape(verdict.get('summary', ''))}</p>",
        f"<p>{escape(spec.get('description') or '')}</p>",
        f"<p class='muted'>run directory <code>{escape(str(report.get('run_dir')))}</code>; created "
        f"{escape(str(report.get('created') or '?'))}; finished {escape(str(report.get('finished') or 'not yet'))}; "
        f"baseline {escape(str(spec.get('baseline')))}; {spec.get('replicates')} run(s) per arm, "
        f"{spec.get('steps')} steps</p>",
        *_arms(report), *_ranking(report),
        *_runs(report), *_comparisons(report), *_gates(report), *_findings(report),
        *_charts(report),
        "<h2>Notes</h2><ul>", *[f"<li>{escape(n)}</li>" for n in report.get("notes", [])], "</ul>",
        "</body></html>\n",
    ]
    return "\n".join(parts)
