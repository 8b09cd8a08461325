"""The line a bisect shows above each step's console: the commits as marks filling in.

``abtui bisect`` in a terminal runs every step's A/B in the console; this line says where
the search is: the good commit, one mark per commit after it (``+`` good, ``x`` bad, ``?``
skipped, ``.`` not run yet; the last commit is the given bad one), the commit being judged
now bracketed, and its subject.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text

from abtui.infra.untrusted import shown

MARK_STYLES = {"+": "bold green", "x": "bold red", "?": "yellow", ".": "dim"}


@dataclass(frozen=True)
class BisectProgress:
    """Where a bisect is: a mark per commit after the good one, oldest first, the index of
    the commit this step judges, its short sha and subject, the step's number and about
    how many steps the whole search takes, and what counts as bad."""

    marks: Sequence[str]
    current: int
    commit: str
    subject: str
    step: int
    steps: int
    rule: str  # what counts as bad: "accuracy_delta worse by 0.05"


def bisect_text(progress: BisectProgress) -> Text:
    """``bisect  step 2 of ~4  accuracy_delta worse by 0.05  good + + [.] . x   c0ffee1234 drop the scaling``.

    The subject is a repository's text: it is drawn as text (``Text.append`` takes no
    markup), and the console's sanitising of what it shows applies as to every arm string.
    """
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(" bisect ", style="bold reverse")
    t.append(f"  step {progress.step} of ~{progress.steps}  {shown(progress.rule)}  ")
    t.append("good ", style="dim")
    for i, mark in enumerate(progress.marks):
        style = MARK_STYLES.get(mark, "")
        if i == progress.current:
            t.append("[", style="bold")
            t.append(mark, style=f"{style} reverse")
            t.append("]", style="bold")
        else:
            t.append(f" {mark} ", style=style)
    t.append(f"   {shown(progress.commit[:10])} ", style="bold")
    t.append(shown(progress.subject))
    return t
