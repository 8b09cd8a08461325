"""The diff: every difference between arms (config, image, environment, code, hardware,
data, env vars), intended (the treatment) or a confound, with secrets masked."""

from abtui.diff import builtin as _builtin  # noqa: F401 - registers the built-in categories first
from abtui.diff.categories import Category, register
from abtui.diff.engine import find_differences
from abtui.diff.fairness import Fairness, fairness
from abtui.diff.findings import Finding, findings_to_json, summarize
from abtui.diff.image import image_findings, image_identity
from abtui.diff.render import render_findings
from abtui.diff.runs import diff_runs

__all__ = [
    "Category",
    "Fairness",
    "Finding",
    "diff_runs",
    "fairness",
    "find_differences",
    "findings_to_json",
    "image_findings",
    "image_identity",
    "register",
    "render_findings",
    "summarize",
]
