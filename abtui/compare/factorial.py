"""A grid's main effects and interactions: what each key does, averaged over the others.

A grid (``grid: {lr: [...], optimizer: [...]}``) is a full factorial design. Beside the
ranking of its arms, the questions it answers are "what does the learning rate do,
whatever the optimizer?" (a **main effect**: the difference of a key's marginal means,
each the unweighted mean of the cell means at that level) and "does that depend on the
optimizer?" (an **interaction**: whether the cells depart from what the two main effects
add up to). Both come from the cell means and the pooled within-cell variance of the
replicates (the two-way ANOVA of unweighted cell means, which stays sensible when a cell
lost a run):

- a main effect of key *k*, level *l* against the first level *l0*: the difference of the
  marginal means; its variance ``s2 * (sum 1/n_c over l's cells / L^2 + the same for l0)``
  with ``s2`` the pooled within-cell variance on ``N - C`` degrees of freedom;
- an interaction of two keys (cells averaged over any other key): ``F`` = the mean square
  of the cell means' departures from additivity (scaled by the harmonic mean of the cell
  sizes) over ``s2``, on ``(a - 1)(b - 1)`` and ``N - C`` degrees of freedom.

Every interval and p-value is Bonferroni-adjusted over all the contrasts and interactions
stated, so the whole table holds at 95 %. With one run per cell there is no within-cell
variance: the estimates are given, nothing is tested. Written here because neither numpy
nor the standard library has a two-way ANOVA; the t and F tails are ``stats``'.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations, product
from typing import Any

from abtui.compare import stats
from abtui.compare.effects import metric_values
from abtui.compare.inference import ALPHA
from abtui.compare.ranking import RANKABLE
from abtui.compare.summary import RunSummary, usable_runs


@dataclass(frozen=True)
class MainEffect:
    """Level ``level`` of ``key`` against its first level ``base``."""

    key: str
    level: str
    base: str
    estimate: float
    ci: tuple[float, float] | None
    p_value: float | None  # Bonferroni-adjusted


@dataclass(frozen=True)
class Interaction:
    keys: tuple[str, str]
    f: float | None
    df: tuple[int, int] | None
    p_value: float | None  # Bonferroni-adjusted


@dataclass(frozen=True)
class Factorial:
    metric: str
    label: str
    effects: list[MainEffect]
    interactions: list[Interaction]
    method: str

    def sentence(self) -> str:
        parts = []
        for e in self.effects:
            text = f"{e.key} {e.level} vs {e.base}: {e.estimate:+.4g}"
            if e.ci is not None and e.p_value is not None:
                text += f" (CI {e.ci[0]:+.3g}..{e.ci[1]:+.3g}, p = {e.p_value:.2g})"
            parts.append(text)
        for i in self.interactions:
            if i.f is not None and i.df is not None and i.p_value is not None:
                depends = " (one key's effect depends on the other)" if i.p_value < ALPHA else ""
                parts.append(f"interaction {' x '.join(i.keys)}: F({i.df[0]}, {i.df[1]}) = "
                             f"{i.f:.3g}, p = {i.p_value:.2g}{depends}")
        return f"main effects on {self.label} ({self.method}): " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "label": self.label, "method": self.method,
                "effects": [{"key": e.key, "level": e.level, "base": e.base,
                             "estimate": e.estimate, "ci": list(e.ci) if e.ci else None,
                             "p_value": e.p_value} for e in self.effects],
                "interactions": [{"keys": list(i.keys), "f": i.f,
                                  "df": list(i.df) if i.df else None, "p_value": i.p_value}
                                 for i in self.interactions],
                "sentence": self.sentence()}


def _label(value: Any) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)


def _f_sf(f: float, d1: int, d2: int) -> float:
    """P(F > f) for F(d1, d2), through the regularised incomplete beta."""
    if f <= 0:
        return 1.0
    return stats.betainc(d2 / 2, d1 / 2, d2 / (d2 + d1 * f))


def factorial(values: Mapping[str, Sequence[float]], points: Mapping[str, Mapping[str, Any]],
              keys: Sequence[str], metric: str, label: str,
              alpha: float = ALPHA) -> Factorial | None:
    """Main effects and pairwise interactions of a grid. ``values``: arm -> the per-run values
    of the metric; ``points``: arm -> its value of each key. None unless every combination
    of the keys' levels is an arm with at least one value (a full factorial)."""
    levels = {k: list(dict.fromkeys(_label(points[a][k]) for a in points)) for k in keys}
    if len(keys) < 1 or any(len(v) < 2 for v in levels.values()):
        return None
    cells = {tuple(_label(points[a][k]) for k in keys): list(values.get(a, ())) for a in points}
    if set(cells) != set(product(*levels.values())) or not all(cells.values()):
        return None
    means = {c: stats.mean(v) for c, v in cells.items()}
    n_total, n_cells = sum(len(v) for v in cells.values()), len(cells)
    df_err = n_total - n_cells
    s2 = (sum((x - means[c]) ** 2 for c, v in cells.items() for x in v) / df_err
          if df_err > 0 else None)
    tests = sum(len(v) - 1 for v in levels.values()) + math.comb(len(keys), 2)
    level_alpha = alpha / max(1, tests)

    def marginal(i: int, level: str) -> tuple[float, float]:
        at = [c for c in cells if c[i] == level]
        return (stats.mean([means[c] for c in at]),
                sum(1 / len(cells[c]) for c in at) / len(at) ** 2)

    effects = []
    for i, k in enumerate(keys):
        base = levels[k][0]
        m0, w0 = marginal(i, base)
        for level in levels[k][1:]:
            m1, w1 = marginal(i, level)
            est, ci, p = m1 - m0, None, None
            if s2 is not None:
                se = math.sqrt(s2 * (w0 + w1))
                half = stats.t_ppf(1 - level_alpha / 2, df_err) * se
                ci = (est - half, est + half)
                p = (min(1.0, tests * 2 * stats.t_sf(abs(est) / se, df_err)) if se > 0
                     else (0.0 if est else 1.0))
            effects.append(MainEffect(k, level, base, est, ci, p))
    interactions = []
    for i, j in combinations(range(len(keys)), 2):
        a, b = levels[keys[i]], levels[keys[j]]
        cm = {(x, y): stats.mean([means[c] for c in cells if c[i] == x and c[j] == y])
              for x in a for y in b}
        n_h = len(cells) / sum(1 / len(v) for v in cells.values()) * n_cells / (len(a) * len(b))
        row = {x: stats.mean([cm[x, y] for y in b]) for x in a}
        col = {y: stats.mean([cm[x, y] for x in a]) for y in b}
        grand = stats.mean(list(cm.values()))
        ss = n_h * sum((cm[x, y] - row[x] - col[y] + grand) ** 2 for x in a for y in b)
        df_i = (len(a) - 1) * (len(b) - 1)
        if s2 is None or s2 <= 0:
            interactions.append(Interaction((keys[i], keys[j]), None, None, None))
            continue
        f = ss / df_i / s2
        interactions.append(Interaction((keys[i], keys[j]), f, (df_i, df_err),
                                        min(1.0, tests * _f_sf(f, df_i, df_err))))
    method = (f"cell means of {n_total} runs in {n_cells} cells, pooled within-cell variance "
              f"on {df_err} df, Bonferroni over {tests}" if s2 is not None
              else "one run per cell: estimates only, nothing tested")
    return Factorial(metric, label, effects, interactions, method)


def of_grid(summaries: Mapping[str, Sequence[RunSummary]],
            configs: Mapping[str, Mapping[str, Any]], keys: Sequence[str],
            metric: str) -> Factorial | None:
    """The factorial analysis of a grid's runs on a ``RANKABLE`` metric. ``configs``: arm ->
    its flattened config (``lr``, ``optim.name`` …), where the grid keys' values are."""
    key, _, label = RANKABLE[metric]
    if not keys or any(k not in configs.get(a, {}) for a in summaries for k in keys):
        return None
    values = {a: metric_values(usable_runs(runs)[0], key) for a, runs in summaries.items()}
    points = {a: {k: configs[a][k] for k in keys} for a in summaries}
    return factorial(values, points, keys, metric, label)
