"""The console's braille chart (abtui/tui/widgets/braille.py): what a user reads off it."""

from __future__ import annotations

import math

import numpy as np

from abtui.tui.widgets.braille import Chart, Line, draw, tick_label

BLUE, ORANGE = "#4c9be8", "#f28e2b"


def _text(rows: list) -> list[str]:
    return ["".join(t for t, _ in row) for row in rows]


def _dot_rows(rows: list, colour: str) -> list[int]:
    """For each cell column, the first row holding a dot of ``colour`` (or -1)."""
    width = len(_text(rows)[0])
    first = [-1] * width
    for r, row in enumerate(rows):
        col = 0
        for text, c in row:
            for ch in text:
                if c == colour and 0x2800 < ord(ch) < 0x2900 and first[col] < 0:
                    first[col] = r
                col += 1
    return first


def test_a_falling_curve_falls_and_every_run_keeps_its_colour() -> None:
    x = np.arange(1000.0)
    chart = Chart((Line(x, 2 * np.exp(-x / 300), BLUE, "a"), Line(x, 1 + 0 * x, ORANGE, "b")),
                  xlabel="step")
    rows = draw(chart, 80, 24)
    text = _text(rows)
    assert len(rows) == 24 and all(len(t) == 80 for t in text)
    falling = [r for r in _dot_rows(rows, BLUE) if r >= 0]
    assert len(falling) > 40 and falling[-1] > falling[len(falling) // 4] > falling[0]
    flat = {r for r in _dot_rows(rows, ORANGE)[20:] if r >= 0}
    assert len(flat) == 1  # a constant is one row of dots
    # the legend names both runs in their colours; axes: the highest value first, x from 0
    assert "⢕⢕ a" in text[1] and "⢕⢕ b" in text[2]
    assert any(c == BLUE for t, c in rows[1] if "⢕" in t)
    assert text[1].lstrip().startswith("2┤")
    assert text[-2].split()[0] == "0" and text[-2].split()[-1] == "999"
    assert text[-1].strip() == "step"
    assert text[0].lstrip().startswith("┌") and text[-3].lstrip().startswith("└┬")


def test_log_y_cursor_and_what_cannot_be_drawn() -> None:
    x = np.arange(1.0, 101.0)
    y = 10.0 ** (-x / 25)  # 4 decades
    y[10] = math.nan
    rows = draw(Chart((Line(x, y, BLUE, "a"), Line(x, -y, ORANGE, "neg")), log_y=True,
                      cursor=50.0), 60, 20)
    labels = [t.split("┤")[0].strip() for t in _text(rows) if "┤" in t]
    assert labels[0] == "0.912" and labels[-1] == "0.0001"  # powers of ten, top to bottom
    assert all(r < 0 for r in _dot_rows(rows, ORANGE))  # no positive value: nothing on log y
    cursor = [t for row in rows for t, c in row if c == "#ffffff"]
    assert len(cursor) >= 10  # a column of white dots at step 50
    # nothing to draw: the frame and the reason, never an error
    empty = _text(draw(Chart(title="no 'loss' records yet"), 40, 10))
    assert "no 'loss' records yet" in empty[0] and "┌" in empty[1]
    assert _text(draw(Chart((Line([1.0], [2.0], BLUE, "a"),)), 30, 8))[1].count("⢕") == 2
    assert _text(draw(Chart((Line(x, y, BLUE),)), 5, 3)) == ["     "] * 3  # too small: blank


def test_many_runs_keep_the_legend_inside_the_frame() -> None:
    x = np.arange(50.0)
    lines = tuple(Line(x, x * k, BLUE, f"run{k}") for k in range(32))
    text = _text(draw(Chart(lines), 60, 14))
    assert "+22 more" in text[11] and "run9" in text[10]  # the last row: how many are unnamed
    assert all(len(t) == 60 for t in text)


def test_tick_labels_stay_short() -> None:
    assert [tick_label(v) for v in (0, 1.98, 0.000123, 12345.0, 2.5e9)] == [
        "0", "1.98", "0.000123", "12345", "2.5e+09"]
