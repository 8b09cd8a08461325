"""What the diff looked at, category by category: the evidence behind "fair".

A list of exceptions cannot tell "identical" from "never recorded". For every category
this says which it was: **identical** (with the value both sides had, "torch 2.13.0+cpu
both"), **treatment** (differs, as intended), **confound** (differs, not intended) or
**not recorded** (a run did not report it, so it was not compared).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from abtui.diff.categories import registry
from abtui.diff.context import RunFacts

IDENTICAL, TREATMENT, CONFOUND, NOT_RECORDED = "identical", "treatment", "confound", "not recorded"


@dataclass(frozen=True)
class CategoryCheck:
    category: str
    state: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def line(self) -> str:
        return f"{self.category:<12} {self.state:<13} {self.text}"




def category_checks(facts: Iterable[RunFacts], findings: Iterable[Any]) -> list[CategoryCheck]:
    """One check per category, in display order."""
    facts, findings = list(facts), list(findings)
    out = []
    for cat, category in registry().items():
        mine = [f for f in findings if getattr(f, "category", None) == cat]
        confounds = [f for f in mine if getattr(f, "is_confound", False)]
        treated = [f for f in mine if getattr(f, "intended", False)]
        values = [category.value(f) for f in facts] if category.value else []
        if confounds:
            out.append(CategoryCheck(cat, CONFOUND, "; ".join(
                dict.fromkeys(str(f.message) for f in confounds[:2]))
                + (f" (+{len(confounds) - 2} more)" if len(confounds) > 2 else "")))
        elif treated:
            keys = ", ".join(dict.fromkeys(str(f.key).split(".", 1)[-1] for f in treated))
            out.append(CategoryCheck(cat, TREATMENT, f"differs as intended: {keys}"))
        elif not values or any(v is None for v in values):
            missing = [f.run_id for f, v in zip(facts, values, strict=False) if v is None]
            names = list(dict.fromkeys(missing))
            why = f"no record from {', '.join(names)}" if names else "nothing to compare"
            if cat == "image" and all(f.image is None for f in facts):
                why = "local processes: no image"
            out.append(CategoryCheck(cat, NOT_RECORDED, why))
        else:
            same = set(values)
            text = ((str(values[0]) if cat == "files" else f"{values[0]} in every run")
                    if len(same) == 1 else "compared, no difference")
            out.append(CategoryCheck(cat, IDENTICAL, text))
    return out
