"""The comparison's cost: 2 arms x 10 replicates x 10,000 records, summaries to verdict.

Times what ``abtui report`` spends on statistics: every run's summary (warm-up rule,
time-weighted throughput, percentiles, stationarity, EMA), every effect with its t
interval, MDE and replicates needed, and Holm across the headline. The baseline, in the
same run, is one plain Python pass over the same records (copying every series' columns
out of the store, which the summary must do anyway), so the ratio says how many such
passes the statistics cost. Building the store is not timed.
"""

from __future__ import annotations

from common import Figure, at_most, best_interleaved, metric_lines, ratio

from abtui.compare.effects import HEADLINE, adjust_family, compare_arm
from abtui.compare.summary import summarize_run
from abtui.store import RunState

NAME = "compare"
TARGET_S = 0.5


def _states(replicates: int, records: int) -> dict[str, list[RunState]]:
    out: dict[str, list[RunState]] = {}
    for arm_i, arm in enumerate(("A", "B")):
        for r in range(replicates):
            st = RunState(f"{arm}.r{r}", arm, replicate=r)
            lines = metric_lines(records, seed=arm_i * 1000 + r)
            st.ingest_many(lines, [1000.0 + 0.1 * i for i in range(records)])
            st.status = "done"
            out.setdefault(arm, []).append(st)
    return out


def compare_all(states: dict[str, list[RunState]]) -> None:
    runs = {arm: [summarize_run(s, total_steps=len(s.series["loss"])) for s in ss]
            for arm, ss in states.items()}
    comp = compare_arm(runs["A"], runs["B"], arm="B", baseline="A")
    adjust_family(comp.effects[m] for m in HEADLINE)


def one_pass(states: dict[str, list[RunState]]) -> None:
    for ss in states.values():
        for s in ss:
            for series in s.series.values():
                list(series.steps), list(series.values), list(series.times)


def run(quick: bool) -> list[Figure]:
    replicates, records = 10, 10_000
    states = _states(replicates, records)
    best = best_interleaved({"compare": lambda: compare_all(states),
                             "pass": lambda: one_pass(states)}, repeat=2 if quick else 5)
    return [Figure(f"compare 2 arms x {replicates} runs x {records:,} records", best["compare"],
                   "s", f"<= {TARGET_S} s", at_most(best["compare"], TARGET_S),
                   "one Python pass copying every column", best["pass"],
                   ratio(best["compare"], best["pass"]),
                   note="summaries, t intervals, MDE, replicates needed, Holm (CPU time)")]
