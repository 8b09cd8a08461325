"""The diff's categories, each declared once with everything it needs: the only list.

A ``Category`` says its name (and so its place in every listing: the registry's order),
the comparisons that find its differences, the line "what was checked" shows when every
run had the same (``values.py``), and the finding keys a spec's ``treatment`` may name to
make one of its differences the intended one (``envvar.NCCL_ALGO``, ``image``). Display
order, the engine's comparisons, "what was checked", the treatment's words and the
summaries' rows are all read from here, so a new category is one ``register`` call (see
docs/architecture.md, "A new finding").

This module is the registry alone and imports nothing of the package: the built-in
categories are registered by ``builtin.py``, which imports the modules that compare them
(they import ``context`` and ``findings``, which read this registry), and which the
package's ``__init__`` imports first. So the imports inside the package run one way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from abtui.diff.context import RunFacts, RunPair
    from abtui.diff.findings import Finding


@dataclass(frozen=True)
class Category:
    """One kind of difference between runs."""

    name: str
    compare: tuple[Callable[[RunPair], list[Finding]], ...]
    value: Callable[[RunFacts], str | None] | None = None  # "what was checked", per run
    keys: tuple[str, ...] = ()  # finding-key prefixes a treatment may name ("image.")
    names: tuple[str, ...] = ()  # bare names a treatment may use ("image")


_lock = threading.Lock()
_registry: dict[str, Category] = {}


def registry() -> dict[str, Category]:
    """Every category, in display order (the built-in ones first, then those registered)."""
    return _registry


def register(category: Category) -> Category:
    """Add (or replace) a category; it is compared, listed and checked from then on."""
    with _lock:
        _registry[category.name] = category
    return category


def unregister(name: str) -> None:
    """Remove a category added by ``register`` (a test's cleanup)."""
    with _lock:
        _registry.pop(name, None)


def names() -> tuple[str, ...]:
    """The categories' names in display order."""
    return tuple(registry())


def comparisons() -> list[Callable[[RunPair], list[Finding]]]:
    """Every category's comparisons, in display order."""
    return [fn for category in registry().values() for fn in category.compare]


def treatment_words() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The finding-key prefixes and bare names a treatment entry may use to name a
    difference outside the config (``envvar.``, ``image.`` …; ``image``, ``code`` …)."""
    cats = registry().values()
    return (tuple(k for c in cats for k in c.keys), tuple(n for c in cats for n in c.names))
