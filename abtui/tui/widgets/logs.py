"""The logs of the selected run: plain lines only (metrics are in the chart), searchable.

Lines are sanitised (no escape sequences or control characters) and kept as strings in a
Textual ``Log``, which renders only the visible ones, each as ``rich.text.Text(line)`` —
never parsed as markup. New lines are appended in one batch per tick; a flood appends at
most ``SHOWN`` lines per tick however many arrived.
"""

from __future__ import annotations

from typing import Any

from rich.highlighter import Highlighter
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import var
from textual.widgets import Input, Log, Static

from abtui.infra.secrets import redact
from abtui.infra.untrusted import sanitize
from abtui.store import RunState, Store
from abtui.tui.widgets.steady import Column, SteadyStatic
from abtui.tui.widgets.text import set_text

SHOWN = 1000  # lines kept in the pane (the store keeps 5000, the run dir all of them)


def matching(lines: list[tuple[float, str]], query: str) -> list[str]:
    """Sanitised lines containing ``query`` (case-insensitive; empty matches all)."""
    out = [sanitize(redact(text)) for _, text in lines]
    if query:
        q = query.lower()
        out = [line for line in out if q in line.lower()]
    return out


class MatchHighlighter(Highlighter):
    """Highlights every case-insensitive occurrence of the search query."""

    def __init__(self) -> None:
        self.query = ""

    def highlight(self, text: Text) -> None:
        if self.query:
            text.highlight_words([self.query], style="reverse", case_sensitive=False)


class LogLines(Log):
    """The lines themselves: plain strings, rendered lazily, matches highlighted."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(highlight=True, max_lines=SHOWN, auto_scroll=True, **kwargs)
        self.matches = MatchHighlighter()
        self.highlighter = self.matches

    def set_query(self, query: str) -> None:
        self.matches.query = query
        self._render_line_cache.clear()
        self.refresh()


class SearchInput(Input):
    """The filter box: Enter keeps the filter and goes back, Escape clears it."""

    BINDINGS = [Binding("escape", "clear", "Clear search", show=False)]

    def action_clear(self) -> None:
        self.value = ""
        self.screen.focus_next()


class LogPane(Column):
    """Header, search box and the lines of one run."""

    run_id: var[str | None] = var(None, init=False)
    search: var[str] = var("", init=False)  # the filter (not "query": Textual's DOM query)
    data_version: var[int] = var(-1, init=False)

    def __init__(self, store: Store, colours: dict[str, str], cursor_blink: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = store
        self.colours = colours
        self.cursor_blink = cursor_blink
        self._seen = 0  # log_count of the run when last read
        self._shown = 0

    def compose(self) -> ComposeResult:
        yield SteadyStatic(markup=False, id="log-header")
        yield SearchInput(placeholder="filter the logs (Enter: keep, Esc: clear)",
                          id="log-search", compact=True)
        yield LogLines(id="log-lines")

    def on_mount(self) -> None:
        search = self.query_one(SearchInput)
        search.cursor_blink = self.cursor_blink
        search.display = False
        self._header()

    @property
    def state(self) -> RunState | None:
        return self.store.runs.get(self.run_id) if self.run_id else None

    def open_search(self) -> None:
        """Show the filter box and focus it."""
        search = self.query_one(SearchInput)
        search.display = True
        search.focus()

    @on(Input.Changed, "#log-search")
    def _search_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.search = event.value

    @on(Input.Submitted, "#log-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(LogLines).focus()

    @on(Input.Blurred, "#log-search")
    def _search_blurred(self, event: Input.Blurred) -> None:
        if not event.input.value:
            event.input.display = False

    def watch_run_id(self) -> None:
        self.reload()

    def watch_search(self) -> None:
        self.reload()

    def watch_data_version(self) -> None:
        state = self.state
        if state is None or state.log_count == self._seen:
            return
        new = state.log_count - self._seen
        self._seen = state.log_count
        lines = matching(state.recent_logs(min(new, SHOWN)), self.search)
        if new > SHOWN:
            lines.insert(0, f"… {new - SHOWN:,} lines not shown here (the run directory has all)")
        if lines:
            self._shown = min(SHOWN, self._shown + len(lines))
            self.query_one(LogLines).write_lines(lines)
        self._header()

    def reload(self) -> None:
        """Show the selected run's lines again from the store (new run or new filter)."""
        log = self.query_one(LogLines)
        log.clear()
        log.set_query(self.search)
        state = self.state
        self._seen = state.log_count if state else 0
        lines = matching(state.recent_logs(5000), self.search)[-SHOWN:] if state else []
        self._shown = len(lines)
        if lines:
            log.write_lines(lines)
        self._header()

    def _header(self) -> None:
        t = Text()
        t.append("Logs ", style="bold")
        state = self.state
        if state is None:
            t.append("no run selected", style="dim")
        else:
            t.append("■ ", style=self.colours.get(state.arm, ""))
            t.append(state.run_id, style="bold")
            t.append(f"  {state.log_count:,} plain lines", style="dim")
            if self.search:
                t.append(f"   filter “{self.search}”: {self._shown} shown", style="yellow")
        t.append("   / search  a: next run", style="dim")
        set_text(self.query_one("#log-header", Static), t)
