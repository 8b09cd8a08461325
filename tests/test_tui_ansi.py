"""The console's fast ANSI decoder gives exactly what Rich's general one gives on plotext output."""

from __future__ import annotations

import plotext as plt
from rich.text import Text

from abtui.tui.widgets.ansi import ansi_text


def _chart() -> str:
    plt.clear_figure()
    plt.plotsize(80, 20)
    plt.theme("dark")
    plt.title("loss")
    plt.xlabel("step")
    plt.plot(list(range(100)), [1 / (i + 1) for i in range(100)], label="sgd", color="blue",
             marker="braille")
    plt.plot(list(range(100)), [0.5 / (i + 1) for i in range(100)], label="adam", color="orange",
             marker="braille")
    return plt.build()


def test_ansi_text_matches_rich_on_a_real_chart() -> None:
    ansi = _chart()
    assert "\x1b[" in ansi  # really coloured
    assert ansi_text(ansi) == Text.from_ansi(ansi)


def test_ansi_text_falls_back_on_anything_else() -> None:
    odd = "a \x1b[1;4mbold underline\x1b[0m \x1b]0;title\x07 end"
    assert ansi_text(odd).plain == Text.from_ansi(odd).plain
