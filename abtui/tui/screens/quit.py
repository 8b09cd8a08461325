"""Leaving the console: detach (the default; the arms keep running) or stop the arms."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

DETACH, STOP, CANCEL = "detach", "stop", "cancel"


class QuitScreen(ModalScreen[str]):
    """Asks what happens to the arms; dismisses with ``detach``, ``stop`` or ``cancel``."""

    BINDINGS = [
        Binding("d", f"choose('{DETACH}')", "Detach"),
        Binding("s", f"choose('{STOP}')", "Stop the arms"),
        Binding("escape,n", f"choose('{CANCEL}')", "Cancel"),
    ]

    def __init__(self, can_stop: bool = True, run_dir: str = "") -> None:
        super().__init__()
        self.can_stop = can_stop
        self.run_dir = run_dir

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-dialog"):
            yield Static("Leave the console?", id="quit-title")
            yield Static(
                "Detach: the arms keep running; watch again with "
                f"abtui attach {self.run_dir or 'RUN_DIR'}.\n"
                "Stop: the arms are stopped (SIGTERM, then SIGKILL) and the run is concluded.",
                id="quit-text", markup=False)
            with Horizontal(id="quit-buttons"):
                yield Button("Detach (d)", id=DETACH, variant="primary")
                yield Button("Stop the arms (s)", id=STOP, variant="error",
                             disabled=not self.can_stop)
                yield Button("Cancel (esc)", id=CANCEL)

    def on_mount(self) -> None:
        self.query_one(f"#{DETACH}", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id or CANCEL)

    def action_choose(self, choice: str) -> None:
        if choice == STOP and not self.can_stop:
            return
        self.dismiss(choice)
