"""The arms table: one row per run (arm x replicate), in the arm's colour.

With more runs than its height holds (a grid of 8-32 arms), it pages: the page that holds
the cursor is shown, with a line that says which rows these are, the best run so far by
loss, and the order (``o`` cycles: as launched, loss lowest first, samples/s highest
first)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive, var

from abtui.store import ArmStatus, RunState, Store
from abtui.tui import units
from abtui.tui.widgets.steady import Steady

STATUS_STYLE: dict[str, str] = {
    ArmStatus.PENDING: "dim", ArmStatus.STARTING: "dim", ArmStatus.RUNNING: "green",
    ArmStatus.DONE: "bold", ArmStatus.FAILED: "bold red", ArmStatus.OOM: "bold red",
    ArmStatus.STOPPED: "yellow", ArmStatus.STALLED: "bold yellow", ArmStatus.QUEUED: "cyan", ArmStatus.DETACHED: "dim",
    ArmStatus.LOST: "bold red",
}
COLUMNS = (("run", "run"), ("status", "status"), ("step", "step"), ("eta", "ETA"),
           ("loss", "loss"), ("tput", "samples/s"), ("mem", "peak mem"), ("gpus", "GPUs"),
           ("exit", "exit"), ("image", "image"))
MIN_WIDTHS = {"status": 10, "step": 7, "eta": 6, "loss": 6}
THROUGHPUT = "throughput_samples_per_sec"
#: the orders ``o`` cycles through: (name, the metric, highest first)
ORDERS: tuple[tuple[str, str | None, bool], ...] = (
    ("as launched", None, False), ("loss", "loss", False), ("samples/s", THROUGHPUT, True))


def image_digest(manifest: Mapping[str, Any]) -> str:
    """The image's short id (``sha256:`` + 12 hex digits), or ``-`` without one."""
    image = (manifest.get("backend_facts") or {}).get("image")
    ident = image.get("id") if isinstance(image, dict) else None
    return str(ident)[:19] if ident else "-"


def row_cells(state: RunState, colour: str, image: str) -> tuple[Any, ...]:
    """The table cells of one run, as the arms table shows them."""
    step = "-" if state.step is None else str(state.step)
    if state.total_steps:
        step += f"/{state.total_steps}"
    memory = next((state.peak[m] for m in ("gpu_memory_mb", "rss_mb") if m in state.peak), None)
    tput = state.last.get(THROUGHPUT)
    code = state.exit.exit_code if state.exit is not None else None
    eta = units.duration(state.eta_s()) if state.status == ArmStatus.RUNNING else "-"
    return (
        Text.assemble(("■ ", colour), state.run_id),
        Text(state.status, style=STATUS_STYLE.get(state.status, "")),
        step,
        eta,
        units.num(state.last.get("loss")),
        units.rate(tput),
        units.megabytes(memory),
        ",".join(str(g) for g in state.gpus) or "cpu",
        "" if code is None else str(code),
        image,
    )


def _cell_text(cell: Any) -> Text:
    return cell if isinstance(cell, Text) else Text(str(cell))


class ArmsTable(Steady, can_focus=True):
    """Runs and their progress; the cursor (up/down) selects the run whose logs are shown.

    A light table: one ``Text`` per frame, redrawn only when a cell changed. (Textual's
    DataTable re-renders every cell through Rich on each update, which costs more than
    everything else on the screen together when the figures change every tick.)
    """

    BINDINGS = [
        Binding("up,k", "move(-1)", "Previous run", show=False),
        Binding("down,j", "move(1)", "Next run", show=False),
        Binding("home", "move(-1000)", "First run", show=False),
        Binding("end", "move(1000)", "Last run", show=False),
        Binding("o", "order", "Order runs", show=False),
    ]
    COMPONENT_CLASSES = {"arms-table--cursor", "arms-table--cursor-blurred"}
    REPAINT_S = 2.0  # steps and ETAs change every tick; every 2 s is enough (nvitop: 2 s)
    data_version: var[int] = var(-1, init=False)
    cursor: reactive[int] = reactive(0)
    order: reactive[int] = reactive(0)  # an index of ORDERS

    class RunSelected(Message):
        """The cursor moved to a run."""

        def __init__(self, run_id: str) -> None:
            super().__init__()
            self.run_id = run_id

    def __init__(self, store: Store, manifest: Mapping[str, Any], colours: dict[str, str],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = store
        self.manifest = manifest
        self.colours = colours
        self.rows: dict[str, tuple[Any, ...]] = {}
        self._widths = [max(len(label), MIN_WIDTHS.get(key, 0)) for key, label in COLUMNS]

    @property
    def row_count(self) -> int:
        return len(self.rows)

    @property
    def run_ids(self) -> list[str]:
        """The runs in the order shown."""
        _, metric, highest = ORDERS[self.order]
        if metric is None:
            return list(self.rows)
        runs = self.store.runs

        def key(run_id: str) -> tuple[bool, float]:
            state = runs.get(run_id)
            v = state.last.get(metric) if state is not None else None
            if not isinstance(v, (int, float)):
                return (True, 0.0)
            return (False, -v if highest else v)

        return sorted(self.rows, key=key)

    def _page(self) -> tuple[int, int]:
        """(first row shown, rows shown): the page holding the cursor."""
        n = len(self.rows)
        room = max(1, (self.size.height or n + 1) - 1)
        arms = {s.arm for s in self.store.runs.values()}
        if n <= room and self.order == 0 and len(arms) < 3:
            return 0, n
        room = max(1, room - 1)  # a line for the pager and the best so far
        return (self.cursor // room) * room, room

    def _pager(self, first: int, shown: int) -> Text:
        n = len(self.rows)
        best = min(((s.last["loss"], r) for r, s in self.store.runs.items()
                    if isinstance(s.last.get("loss"), (int, float))), default=None)
        text = Text(no_wrap=True, style="dim")
        text.append(f"rows {first + 1}-{min(n, first + shown)} of {n}")
        if best is not None:
            text.append(f" · best so far by loss: {best[1]} {units.num(best[0])}")
        text.append(f" · o: order ({ORDERS[self.order][0]})")
        return text

    def on_mount(self) -> None:
        self.sync()

    def watch_data_version(self) -> None:
        self.sync()

    def sync(self) -> None:
        """Recompute the cells; repaint only if one changed."""
        image = image_digest(self.manifest)
        rows = {run_id: row_cells(state, self.colours.get(state.arm, "white"), image)
                for run_id, state in list(self.store.runs.items())}
        if rows == self.rows:
            return
        grew = len(rows) != len(self.rows)
        self.rows = rows
        for cells in rows.values():  # columns only ever widen: no jitter as figures change
            for i, cell in enumerate(cells):
                self._widths[i] = max(self._widths[i], _cell_text(cell).cell_len)
        self.refresh(layout=grew)

    def render(self) -> Text:
        sep = "  "
        t = Text(no_wrap=True, overflow="crop")
        for i, (_, label) in enumerate(COLUMNS):
            t.append(label.ljust(self._widths[i]) + sep, style="bold")
        first, shown = self._page()
        ids = self.run_ids
        for n in range(first, min(len(ids), first + shown)):
            cells = self.rows[ids[n]]
            t.append("\n")
            line = Text(no_wrap=True)
            for i, cell in enumerate(cells):
                text = _cell_text(cell).copy()
                text.pad_right(self._widths[i] - text.cell_len)
                line.append_text(text)
                line.append(sep)
            if n == self.cursor:  # the background only: cells keep their colours
                style = self.get_component_rich_style(
                    "arms-table--cursor" if self.has_focus else "arms-table--cursor-blurred")
                line.stylize(Style(bgcolor=style.bgcolor, bold=style.bold))
            t.append_text(line)
        if shown < len(self.rows) or (first, shown) != (0, len(self.rows)):
            t.append("\n")
            t.append_text(self._pager(first, shown))
        return t

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def action_move(self, delta: int) -> None:
        if self.rows:
            self.cursor = max(0, min(len(self.rows) - 1, self.cursor + delta))
            self.refresh()  # the page may have turned

    def action_order(self) -> None:
        """The next order; the cursor stays on its run."""
        selected = self.run_ids[self.cursor] if 0 <= self.cursor < len(self.rows) else None
        self.order = (self.order + 1) % len(ORDERS)
        if selected is not None:
            self.set_reactive(ArmsTable.cursor, self.run_ids.index(selected))
        self.refresh()

    def move_to(self, run_id: str) -> None:
        """Put the cursor on ``run_id`` (without announcing it)."""
        if run_id in self.rows:
            self.set_reactive(ArmsTable.cursor, self.run_ids.index(run_id))
            self.refresh()

    def watch_cursor(self, cursor: int) -> None:
        if 0 <= cursor < len(self.rows):
            self.post_message(self.RunSelected(self.run_ids[cursor]))

    def on_click(self, event: events.Click) -> None:
        first, shown = self._page()
        row = event.y - 1  # the first line is the header
        if 0 <= row < shown and first + row < len(self.rows):
            self.cursor = first + row
