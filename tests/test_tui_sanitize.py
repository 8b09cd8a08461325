"""Log lines are shown as plain text: escape sequences and control characters never act."""

from __future__ import annotations

import pytest
from rich.console import Console
from rich.text import Text

from abtui.infra.untrusted import sanitize


@pytest.mark.parametrize(("raw", "shown"), [
    ("\x1b]0;you have been pwned\x07epoch 1", "epoch 1"),  # OSC 0: window title (BEL)
    ("\x1b]2;title\x1b\\after", "after"),  # OSC 2 ended by ST
    ("before\x1b]52;c;cm0gLXJmIH4K\x07after", "beforeafter"),  # OSC 52: clipboard write
    ("\x1b]8;;https://evil.example/\x1b\\click me\x1b]8;;\x1b\\", "click me"),  # OSC 8 link
    ("\x1b[1;31mERROR\x1b[0m disk full", "ERROR disk full"),  # SGR colours
    ("\x1b[2J\x1b[Hclear screen", "clear screen"),  # erase display, cursor home
    ("\x1b[?1049hfull screen", "full screen"),  # private mode: alternate screen
    ("\x1b[6n\x1b[5ireport", "report"),  # cursor position / printer: device queries
    ("\x9b31m8-bit CSI", "8-bit CSI"),  # C1 CSI
    ("\x9d0;title\x9cok", "ok"),  # C1 OSC ... ST
    ("\x1bP1$r0m\x1b\\dcs", "dcs"),  # DCS string
    ("\x1b(Bcharset", "charset"),
    ("trailing escape\x1b", "trailing escape"),
    ("unterminated \x1b]0;title forever", "unterminated "),
    ("bell\x07 and\x08 backspace\x7f", "bell and backspace"),
    ("  5%|#   |\r 50%|####|\r100%|########|", "100%|########|"),  # progress bar redraws
    ("a\tb", "a    b"),
    ("\u202eevil\u202c text", "evil text"),  # bidi override
    ("[bold red]x[/]", "[bold red]x[/]"),  # Rich markup stays literal
    ("plain line, unicode ✓ 日本", "plain line, unicode ✓ 日本"),
])
def test_sanitize_removes_what_would_act(raw: str, shown: str) -> None:
    assert sanitize(raw) == shown


def test_sanitized_text_renders_without_escapes_or_markup() -> None:
    """What reaches the terminal has no ESC, BEL or C1 byte, and brackets are printed."""
    console = Console(force_terminal=False, width=200, color_system=None)
    with console.capture() as cap:
        console.print(Text(sanitize("\x1b]0;t\x07[bold red]x[/]\x1b[31m red\x1b]52;c;QQ==\x07")))
    out = cap.get()
    assert out.strip() == "[bold red]x[/] red"
    assert not any(c in out for c in "\x1b\x07\x9b\x9d")


def test_printable_lines_are_returned_as_they_are() -> None:
    line = "step 10: loss=0.5 [rank 0]"
    assert sanitize(line) is line
