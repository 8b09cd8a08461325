"""The diff pane: differences between the arms by category; the treatment in one colour,
confounds highlighted. ``d`` opens the full view."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.reactive import var
from textual.widgets import Static

from abtui.infra.untrusted import sanitize
from abtui.tui.differences import Differences, count_by_category, kind
from abtui.tui.widgets.steady import Steady
from abtui.tui.widgets.text import set_text

KIND_STYLE = {"treatment": "bold cyan", "confound": "bold yellow", "note": "dim"}
KIND_MARK = {"treatment": "●", "confound": "▲", "note": "·"}
STATE_STYLE = {"identical": "green", "treatment": "bold cyan", "confound": "bold yellow",
               "not recorded": "dim"}
STATE_MARK = {"identical": "=", "treatment": "●", "confound": "▲", "not recorded": "?"}


def checks_text(checks: list[dict[str, str]], width: int = 60) -> Text:
    """Every category with what was found: identical (and the value), treatment, confound,
    or not recorded, so "no difference" and "not looked at" never read alike."""
    t = Text()
    for c in checks:
        state = str(c.get("state"))
        t.append(f"{c.get('category', '?'):<12}")
        t.append(f"{STATE_MARK.get(state, '?')} {state:<12} ", style=STATE_STYLE.get(state, ""))
        text = sanitize(str(c.get("text", "")))
        t.append((text if len(text) <= width else text[: width - 1] + "…") + "\n", style="dim")
    return t


def summary_text(diffs: Differences | None, top: int = 3) -> Text:
    """Per category: how many treatment / confound / note rows; then the first confounds."""
    t = Text()
    t.append("Differences", style="bold")
    t.append("   d: full view\n", style="dim")
    if diffs is None:
        t.append("computing…", style="dim")
        return t
    if not diffs.available:
        t.append(f"not available ({diffs.error})" if diffs.error else "not available",
                 style="dim")
    if diffs.checks:
        t.append_text(checks_text(diffs.checks))
        counts: dict[str, dict[str, int]] = {}
    else:
        counts = count_by_category(diffs.findings)
    if diffs.available and not counts and not diffs.checks:
        t.append("none: the arms are identical so far", style="dim")
    for category, row in counts.items():
        t.append(f"{category:<12}")
        parts = [(k, n) for k, n in row.items() if n]
        for i, (k, n) in enumerate(parts):
            if i:
                t.append("  ")
            t.append(f"{KIND_MARK[k]} {n} {k if n == 1 else k + 's'}", style=KIND_STYLE[k])
        t.append("\n")
    sentences = diffs.sentences()
    for s in sentences[:top]:
        t.append(f"▲ {s}\n", style="yellow")
    if len(sentences) > top:
        t.append(f"… {len(sentences) - top} more\n", style="yellow")
    t.rstrip()
    return t


def finding_line(f: Any) -> Text:
    """One finding as a row: mark, key, ``a → b``, in its kind's colour."""
    k = kind(f)
    t = Text()
    t.append(f"{KIND_MARK[k]} ", style=KIND_STYLE[k])
    t.append(str(getattr(f, "key", "?")), style=KIND_STYLE[k])
    t.append(f"  {getattr(f, 'message', '')}")
    return t


class DiffPane(Steady, Static):
    """The summary on the main screen; the app sets ``differences`` when a worker has them."""

    differences: var[Differences | None] = var(None)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(summary_text(None), markup=False, **kwargs)

    def watch_differences(self, diffs: Differences | None) -> None:
        set_text(self, summary_text(diffs))
        self.set_class(bool(diffs and diffs.sentences()), "-confound")
