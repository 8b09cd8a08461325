"""The GPU view: every GPU in full, with temperature and SM clock histories."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from abtui.store import Store
from abtui.tui.widgets.gpus import GpuPanel


class GpuScreen(Screen):
    """Full GPU panel; the app forwards store changes through :meth:`sync`."""

    BINDINGS = [Binding("escape,g", "app.pop_screen", "Back"), Binding("q", "app.quit", "Quit")]

    def __init__(self, store: Store, colours: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = store
        self.colours = colours

    def compose(self) -> ComposeResult:
        yield Static("GPUs  (temperature of slowdown threshold, clocks of maximum, power of "
                     "limit; ⚠ = clock-event reasons)", id="gpus-title", markup=False)
        yield GpuPanel(self.store, self.colours, full=True, id="gpus-full")
        yield Footer(compact=True)

    def sync(self, version: int) -> None:
        self.query_one(GpuPanel).data_version = version
