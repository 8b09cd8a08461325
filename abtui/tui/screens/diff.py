"""The full diff view: every finding by category; the code diff with +/- colouring."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static, TabbedContent, TabPane

from abtui.infra.untrusted import sanitize
from abtui.tui.differences import Differences, by_category, kind
from abtui.tui.widgets.diff_pane import KIND_MARK, KIND_STYLE, summary_text

DETAIL_LINES = 400  # a huge diff is cut here (the report has all of it)


def diff_line_style(line: str) -> str:
    """The colour of one line of a unified diff."""
    if line.startswith(("+++", "---", "diff ", "index ")):
        return "bold"
    if line.startswith("+"):
        return "green"
    if line.startswith("-"):
        return "red"
    if line.startswith("@@"):
        return "cyan"
    return ""


def detail_text(detail: str, code: bool) -> Text:
    """A finding's detail, sanitised; coloured as a diff when it is one."""
    lines = detail.splitlines()
    t = Text()
    for line in lines[:DETAIL_LINES]:
        clean = sanitize(line)
        t.append("    " + clean + "\n", style=diff_line_style(clean) if code else "dim")
    if len(lines) > DETAIL_LINES:
        t.append(f"    … {len(lines) - DETAIL_LINES} more lines (see report.md)\n", style="dim")
    return t


def _value(v: Any, limit: int = 60) -> str:
    """A side's value: strings quoted, absent as 'not set', long ones cut."""
    if v is None:
        return "not set"
    if isinstance(v, bool):
        text = "true" if v else "false"
    elif isinstance(v, str):
        text = repr(v)
    else:
        try:
            text = json.dumps(v, sort_keys=True, default=str, ensure_ascii=False)
        except (TypeError, ValueError):
            text = str(v)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def findings_text(findings: list[Any]) -> Text:
    """Every finding of a category: mark, key, the two sides, the sentence, the detail."""
    t = Text()
    for f in findings:
        k = kind(f)
        style = KIND_STYLE[k]
        arms = getattr(f, "arms", None) or ("A", "B")
        t.append(f"{KIND_MARK[k]} {k:<9} ", style=style)
        t.append(str(getattr(f, "key", "?")), style="bold")
        t.append(f"   {getattr(f, 'severity', '')}\n", style="dim")
        t.append(f"    {sanitize(str(getattr(f, 'message', '')))}\n")
        t.append(f"    {arms[0]}: {sanitize(_value(getattr(f, 'a', None)))}   "
                 f"{arms[1]}: {sanitize(_value(getattr(f, 'b', None)))}\n", style="dim")
        detail = getattr(f, "detail", None)
        if detail:
            t.append_text(detail_text(str(detail), getattr(f, "category", "") == "code"))
        t.append("\n")
    return t


class DiffScreen(Screen):
    """Tabs: a summary, then one per category that has findings."""

    BINDINGS = [
        Binding("escape,d", "app.pop_screen", "Back"),
        Binding("q", "app.quit", "Quit"),
        Binding("pagedown", "scroll(1)", "Scroll", show=False),
        Binding("pageup", "scroll(-1)", "Scroll up", show=False),
    ]

    def __init__(self, differences: Differences | None) -> None:
        super().__init__()
        self.differences = differences

    def compose(self) -> ComposeResult:
        diffs = self.differences
        groups = by_category(diffs.findings) if diffs else {}
        yield Static("Differences between the arms  (●: treatment  ▲: confound  ·: note)"
                     "   ←/→: category",
                     id="diff-title", markup=False)
        with TabbedContent(id="diff-tabs"):
            with TabPane("summary", id="tab-summary"), VerticalScroll():
                yield Static(summary_text(diffs, top=50), markup=False)
            for category, findings in groups.items():
                with TabPane(category, id=f"tab-{category}"), VerticalScroll():
                    yield Static(findings_text(findings), markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(TabbedContent).query_one("Tabs").focus()

    def action_scroll(self, pages: int) -> None:
        pane = self.query_one(TabbedContent).active_pane
        if pane is not None:
            scroll = pane.query_one(VerticalScroll)
            scroll.scroll_to(y=scroll.scroll_y + pages * max(1, scroll.size.height - 2),
                             animate=False)

    def show_category(self, category: str) -> None:
        """Open one category's tab (``config``, ``code``, …) if it has findings."""
        tabs = self.query_one(TabbedContent)
        if self.query(f"#tab-{category}"):
            tabs.active = f"tab-{category}"
