"""The verdict strip: B vs A so far (throughput, memory, loss, accuracy); a warning colour
and the reason when a confound is active; the conclusion once the arms have ended."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.reactive import var
from textual.widgets import Static

from abtui.report.schema import Report
from abtui.store import Store
from abtui.tui import units
from abtui.tui.live import LiveVerdict, live_verdict
from abtui.tui.widgets.steady import Steady
from abtui.tui.widgets.text import set_text


def _good(ratio: float | None, higher_is_better: bool) -> str:
    if ratio is None or abs(ratio - 1) < 0.01:
        return ""
    return "green" if (ratio > 1) == higher_is_better else "red"


def verdict_text(v: LiveVerdict, colours: dict[str, str]) -> Text:
    """``amp vs fp32: throughput ×1.31 (+31.0%) · peak mem −45% · loss −0.012 · acc +1.2 pts``."""
    t = Text()
    if not v.deltas:
        t.append("waiting for metric records from at least two arms", style="dim")
    for i, d in enumerate(v.deltas):
        if i:
            t.append("\n")
        t.append("■ ", style=colours.get(d.arm, ""))
        t.append(f"{d.arm} vs {v.baseline}: ", style="bold")
        parts: list[tuple[str, str]] = []
        if d.throughput_ratio is not None:
            parts.append((f"throughput ×{d.throughput_ratio:.2f}",
                          _good(d.throughput_ratio, True)))
        if d.memory_ratio is not None:
            parts.append((f"peak mem {units.signed_pct(d.memory_ratio)}", _good(d.memory_ratio, False)))
        at = "" if v.at_step is None else f"@{v.at_step:g}"
        if d.loss_delta is not None:
            parts.append((f"loss{at} {d.loss_delta:+.3g} ({units.signed_pct(d.loss_ratio)})",
                          _good(d.loss_ratio, False)))
        if d.accuracy_delta is not None:
            pts = d.accuracy_delta * 100
            parts.append((f"acc{at} {pts:+.1f} pts", _good(1 + d.accuracy_delta, True)))
        if not parts:
            t.append("no comparable figures yet", style="dim")
        for j, (text, style) in enumerate(parts):
            if j:
                t.append(" · ", style="dim")
            t.append(text, style=style)
    if v.confounds:
        t.append("\n⚠ not fair: ", style="bold")
        t.append(v.confounds[0])
        if len(v.confounds) > 1:
            t.append(f" (+{len(v.confounds) - 1} more, d: diff)")
    return t


def conclusion_text(report: Report | None, code: int, error: str | None) -> Text:
    """The final line: the report's verdict, the exit code, how to see the rest."""
    t = Text()
    t.append("every arm has ended", style="bold")
    t.append(f"  ·  exit code {code}  ·  r: results  ·  q: quit\n")
    verdict = report.get("verdict") if report is not None else None
    summary = verdict.get("summary") if isinstance(verdict, dict) else None
    if summary:
        t.append(str(summary))
    elif error:
        t.append(f"no report ({error})", style="yellow")
    return t


class VerdictStrip(Steady, Static):
    """Live deltas against the baseline; the app sets ``data_version`` and ``confounds``."""

    REPAINT_S = 2.0  # figures of the last records: no need to follow every record
    data_version: var[int] = var(-1, init=False)
    confounds: var[tuple[str, ...]] = var((), init=False)

    def __init__(self, store: Store, baseline: str | None, colours: dict[str, str],
                 **kwargs: Any) -> None:
        super().__init__(markup=False, **kwargs)
        self.store = store
        self.baseline = baseline
        self.colours = colours
        self.concluded = False

    def on_mount(self) -> None:
        self.sync()

    def watch_data_version(self) -> None:
        self.sync()

    def watch_confounds(self) -> None:
        self.sync()

    def sync(self) -> None:
        if self.concluded:
            return
        v = live_verdict(self.store.runs, self.baseline, self.confounds)
        set_text(self, verdict_text(v, self.colours))
        self.set_class(bool(self.confounds), "-confound")

    def conclude(self, report: Report | None, code: int, error: str | None) -> None:
        """Show the conclusion instead of the live figures from now on."""
        self.concluded = True
        set_text(self, conclusion_text(report, code, error))
        self.set_class(code != 0, "-failed")
        self.add_class("-concluded")
