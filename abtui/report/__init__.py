"""Report: report.json / report.md / report.html and the terminal summary, from a run directory alone."""

from abtui.report.build import SCHEMA_VERSION, build_report, gates_failed, write_reports
from abtui.report.html import render_html
from abtui.report.markdown import render_markdown
from abtui.report.summary import render_summary

__all__ = [
    "SCHEMA_VERSION",
    "build_report",
    "gates_failed",
    "render_html",
    "render_markdown",
    "render_summary",
    "write_reports",
]
