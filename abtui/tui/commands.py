"""What the console calls that is not drawing: the conclusion and the palette's commands."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterable
from functools import partial
from itertools import islice
from typing import Any

from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from abtui.report.schema import Report
from abtui.store import Store

log = logging.getLogger(__name__)
HANGUP = (signal.SIGHUP, signal.SIGTERM)  # the terminal went away / asked politely to end
Concluder = Callable[[Any, list[str]], tuple[Report | None, int]]


MAX_METRIC_COMMANDS = 200  # an arm printing thousands of metric names gets no thousand commands


def conclude_run(exp: Any, gates: list[str]) -> tuple[Report | None, int]:
    """Write the report and work out the exit code, exactly as the headless mode does."""
    from abtui.conclude import conclude, exit_code

    report = conclude(exp, gates)
    return report, exit_code(exp, report)


def console_commands(store: Store, screen: Screen) -> Iterable[SystemCommand]:
    """Every key of ``screen`` as a palette command; on the console, one per metric and run."""
    seen = {"Quit"}  # Textual's own palette entry already quits (through action_quit)
    for binding in screen.BINDINGS:
        if isinstance(binding, Binding) and binding.description not in seen:
            seen.add(binding.description)
            yield SystemCommand(binding.description, f"key {binding.key_display or binding.key}",
                                partial(screen.run_action, binding.action))
    set_metric = getattr(screen, "set_metric", None)
    select_run = getattr(screen, "select_run", None)
    if set_metric is not None:
        for name in islice(store.metric_names(), MAX_METRIC_COMMANDS):
            yield SystemCommand(f"Metric: {name}", "plot this metric", partial(set_metric, name))
    if select_run is not None:
        for run_id in store.runs:
            yield SystemCommand(f"Logs of {run_id}", "show this run's logs",
                                partial(select_run, run_id))


def terminal_alive() -> bool:
    """False once the terminal hung up (SSH dropped, tmux pane killed): writes fail with EIO.

    Textual's shutdown then blocks writing the terminal-restoring sequences, so the console
    must leave without them."""
    if sys.__stdout__ is None:  # started without a stdout at all: no terminal to lose
        return False
    try:
        os.write(sys.__stdout__.fileno(), b"")
    except (OSError, ValueError, AttributeError):
        return False
    return True


def leave_now(code: int) -> None:
    """End the process at once (logs flushed): for a console whose terminal is gone."""
    logging.shutdown()
    os._exit(code)


def install_hangup_handler(callback: Callable[[], None]) -> None:
    """Call ``callback`` on the event loop when SIGHUP or SIGTERM arrives."""
    try:
        loop = asyncio.get_running_loop()
        for sig in HANGUP:
            loop.add_signal_handler(sig, callback)
    except (NotImplementedError, RuntimeError, ValueError):
        log.debug("signal handlers not installed (not the main thread)")


def remove_hangup_handler() -> None:
    """Undo :func:`install_hangup_handler`."""
    with contextlib.suppress(Exception):
        loop = asyncio.get_running_loop()
        for sig in HANGUP:
            loop.remove_signal_handler(sig)
