"""``bisect.md``: what ``abtui bisect`` found, readable without abtui.

The commits as one line of marks (``+`` good, ``x`` bad, ``?`` skipped, ``.`` not run, the
first bad one bracketed), the first bad commit with its subject and what it changed
(``git show --stat``), and the evidence chain: every step's verdict, how much worse the
commit was with its interval, why, and the run directory that holds its full report.
Rewritten after every step, so a bisect still going (or stopped) shows where it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from abtui.infra.untrusted import shown
from abtui.report.markdown import table

MARKS = {"good": "+", "bad": "x", "skip": "?"}


def marks(record: Mapping[str, Any], given_bad: bool = False) -> list[str]:
    """One mark per commit after the good one, oldest first: its last step's verdict (``+``
    good, ``x`` bad, ``?`` skipped), ``.`` not run; ``given_bad``: the last commit, the bad
    one given, is ``x`` until it is run."""
    last = {str(s.get("commit")): str(s.get("verdict")) for s in record.get("steps") or []}
    commits = record.get("commits") or []
    unrun = ["."] * len(commits)
    if given_bad and unrun:
        unrun[-1] = "x"
    return [MARKS.get(last.get(c, ""), u) for c, u in zip(commits, unrun, strict=True)]


def commit_line(record: Mapping[str, Any]) -> str:
    """``+ + x [x] . ?``: each commit after the good one, oldest first."""
    first = record.get("first_bad")
    return " ".join(f"[{m}]" if c == first else m
                    for c, m in zip(record.get("commits") or [], marks(record), strict=True))


def _number(x: Any) -> str:
    return f"{x:.4g}" if isinstance(x, (int, float)) else "-"


def render_bisect(record: Mapping[str, Any]) -> str:
    """The whole page (every arm- and repository-derived string passes ``shown``)."""
    commits = record.get("commits") or []
    first = record.get("first_bad")
    out = ["# abtui bisect", "",
           f"{len(commits)} commits after {shown(str(record.get('good', ''))[:10])}, judged on "
           f"{shown(str(record.get('metric')))} (worse by {_number(record.get('threshold'))} "
           f"counts), up to {record.get('budget')} runs per arm a step.", "",
           "```", f"good {commit_line(record)}", "```",
           "(`+` good, `x` bad, `?` skipped, `.` not run; the first bad commit in brackets)", ""]
    if first:
        out += ["## First bad commit", "",
                f"**{shown(str(first))}** {shown(str(record.get('first_bad_subject') or ''))}",
                "", "```", shown(str(record.get("first_bad_stat") or "")), "```", ""]
    elif record.get("undecided"):
        out += ["## Undecided", "", "The first bad commit is one of: "
                + ", ".join(shown(str(c))[:10] for c in record["undecided"]), ""]
    else:
        out += ["## Still going", "", "No first bad commit yet.", ""]
    rows = []
    for step in record.get("steps") or []:
        interval = step.get("interval")
        ci = (f"{_number(interval[0])} .. {_number(interval[1])}"
              if isinstance(interval, (list, tuple)) and len(interval) == 2 else "-")
        rows.append([shown(str(step.get("commit", "")))[:10],
                     shown(str(step.get("subject") or ""))[:60],
                     shown(str(step.get("verdict"))), _number(step.get("worse")), ci,
                     shown(str(step.get("why") or ""))[:160],
                     shown(str(step.get("run_dir") or ""))])
    out += ["## Evidence, step by step", "",
            *table(["commit", "subject", "verdict", "worse by", "95 % CI", "why", "run"], rows),
            ""]
    return "\n".join(out) + "\n"
