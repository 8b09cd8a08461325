"""The results once every arm has ended: the report's summary, the exit code."""

from __future__ import annotations

import json

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from abtui.report.schema import Report


def summary_of(report: Report | None, error: str | None) -> str:
    """The report as ``abtui report`` prints it, or what is known without one."""
    if report is None:
        return f"No report: {error or 'unknown error'}"
    from abtui.report import render_summary

    try:
        return render_summary(report)
    except Exception as exc:  # an incomplete report must still leave the console usable
        return f"(the summary could not be rendered: {exc})\n" + json.dumps(
            report.get("verdict"), indent=2, default=str, ensure_ascii=False)


class ResultsScreen(ModalScreen[None]):
    """The conclusion; Escape goes back to the console, q quits."""

    BINDINGS = [Binding("escape,r", "dismiss", "Back"), Binding("q", "app.quit", "Quit")]

    def __init__(self, report: Report | None, code: int, error: str | None,
                 report_path: str = "") -> None:
        super().__init__()
        self.report = report
        self.code = code
        self.error = error
        self.report_path = report_path

    def compose(self) -> ComposeResult:
        with Vertical(id="results-dialog"):
            title = Text("Every arm has ended", style="bold")
            title.append(f"   exit code {self.code}", style="bold red" if self.code else "bold green")
            yield Static(title, id="results-title")
            with VerticalScroll(id="results-body"):
                yield Static(Text(summary_of(self.report, self.error)), id="results-text")
            hint = "Esc: back to the console   q: quit"
            if self.report_path:
                hint = f"report: {self.report_path}   " + hint
            yield Static(hint, id="results-hint", markup=False)
