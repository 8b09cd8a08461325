"""Chart frame: the curves of 2 arms at 120x30, from 1 k to 10 M points per arm.

Measured with plotext directly (clear_figure, plotsize(120, 30), plot, build), braille
markers as the console draws them:

- view path: each arm's ``Series.view(width * 2)`` handed to plotext (what the TUI does);
- naive path (baseline): every raw point handed to plotext. It grows linearly and would
  take minutes at 10 M, so it is measured up to 100 k (10 k in quick mode) and
  extrapolated linearly from the largest size measured; the figure says so.

If the console exists (abtui.tui), its own chart widget is timed too: CurvesPlot.rebuild
(views -> braille.Chart) + the paint into strips (braille.draw, the widget's render_line)
inside Textual's run_test at 120x40. The console drew with plotext before; the plotext
figures above are the baseline it is compared with (plotext is a dev dependency for this).
"""

from __future__ import annotations

import asyncio
import math
import time
from array import array

import plotext as plt
from common import Figure, at_most, ratio

from abtui.store.series import Series

NAME = "chart"
WIDTH, HEIGHT = 120, 30
TARGET_MS = 20.0
TARGET_FLAT = 1.5


def _grow(series: list[Series], upto: int, seed_shift: float) -> None:
    """Append points to each series until it holds ``upto`` (a noisy, decaying loss)."""
    for k, s in enumerate(series):
        start = len(s)
        for lo in range(start, upto, 1 << 20):
            hi = min(upto, lo + (1 << 20))
            steps = array("d", range(lo + 1, hi + 1))
            # a power-law decay, as losses fall, with step-to-step noise of +-0.05
            values = [2.5 * (1 + i / 100) ** -0.3 + 0.05 * math.sin(i * 0.37 + k + seed_shift)
                      for i in range(lo, hi)]
            times = array("d", [1.7e9 + i * 0.05 for i in range(lo, hi)])
            s.extend(steps, values, times)


def _frame_view(series: list[Series]) -> str:
    plt.clear_figure()
    plt.plotsize(WIDTH, HEIGHT)
    for s in series:
        v = s.view(WIDTH * 2)
        plt.plot(v.x, v.y, marker="braille")
    return plt.build()


def _frame_naive(series: list[Series]) -> str:
    plt.clear_figure()
    plt.plotsize(WIDTH, HEIGHT)
    for s in series:
        plt.plot(list(s.steps), list(s.values), marker="braille")
    return plt.build()


def _best_ms(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def _tui_times(sizes: list[int], series_at: dict[int, list[Series]]) -> dict[int, float] | None:
    """CurvesPlot.rebuild + paint in the real console widget, or None without a console."""
    try:
        from abtui.tui.fixtures import fixture_app, fixture_experiment
        from abtui.tui.widgets.curves import CurvesPanel, CurvesPlot
    except ImportError:
        return None
    exp = fixture_experiment("running")
    arms = list(exp.store.runs.values())[:2]
    out: dict[int, float] = {}

    async def measure() -> None:
        app = fixture_app(exp=exp)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            panel = app.query_one(CurvesPanel)
            plot = app.query_one(CurvesPlot)
            settings = panel.settings
            for n in sizes:
                for state, s in zip(arms, series_at[n], strict=True):
                    state.series[settings.metric] = s

                def frame() -> None:
                    plot.rebuild(settings)
                    plot.render_line(0)  # the paint: every row into strips, once

                out[n] = _best_ms(frame, 7)

    asyncio.run(measure())
    return out


def run(quick: bool) -> list[Figure]:
    sizes = [1_000, 10_000, 100_000, 1_000_000] if quick else [1_000, 10_000, 100_000,
                                                               1_000_000, 10_000_000]
    naive_sizes = [1_000, 10_000] if quick else [1_000, 10_000, 100_000]
    view_ms: dict[int, float] = {}
    naive_ms: dict[int, float] = {}
    tui_sizes = [sizes[0], sizes[-1]]
    kept: dict[int, list[Series]] = {}
    series = [Series(), Series()]
    for n in sizes:
        _grow(series, n, 0.0)
        view_ms[n] = _best_ms(lambda s=series: _frame_view(s), 7)
        if n in naive_sizes:
            naive_ms[n] = _best_ms(lambda s=series: _frame_naive(s), 3 if n < 100_000 else 2)
        if n in tui_sizes:  # the console's widget is timed later, on these very series
            kept[n] = series
            if n != sizes[-1]:
                series = [Series(), Series()]
                _grow(series, n, 0.0)
    tui_ms = _tui_times(tui_sizes, kept)

    big, small = sizes[-1], sizes[0]
    top = max(naive_sizes)
    naive_big = naive_ms[top] * big / top  # linear in points: plotext walks every one
    flat = ratio(view_ms[big], view_ms[small])
    figures = []
    for n in sizes:
        measured = n in naive_ms
        base = naive_ms[n] if measured else naive_ms[top] * n / top
        figures.append(Figure(
            f"frame, 2 arms x {n:,} points (Series.view)", view_ms[n], "ms",
            target=f"<= {TARGET_MS:.0f} ms", met=at_most(view_ms[n], TARGET_MS),
            baseline="naive: all points to plotext" + ("" if measured else " (extrapolated)"),
            baseline_value=base, ratio=ratio(view_ms[n], base),
            note="best of 7; naive " + ("measured" if measured else
                                         f"extrapolated linearly from {top:,} points")))
    figures.append(Figure(
        f"frame flatness, {big:,} vs {small:,} points", flat, "x",
        target=f"<= {TARGET_FLAT}x", met=at_most(flat, TARGET_FLAT),
        baseline="naive, same sizes (extrapolated)", baseline_value=naive_big / naive_ms[small],
        ratio=None, note="frame time at the largest size / at the smallest"))
    if tui_ms is None:
        figures.append(Figure("console chart widget (abtui.tui)", None, "ms",
                              target=f"<= {TARGET_MS:.0f} ms", note="abtui.tui not importable"))
    else:
        for n, ms in tui_ms.items():
            figures.append(Figure(
                f"console CurvesPlot rebuild+paint, 2 arms x {n:,}", ms, "ms",
                target=f"<= {TARGET_MS:.0f} ms", met=at_most(ms, TARGET_MS),
                baseline="plotext direct, view path", baseline_value=view_ms[n],
                ratio=ratio(ms, view_ms[n]),
                note="Textual run_test 120x40, EMA smoothing on; best of 7"))
    return figures
