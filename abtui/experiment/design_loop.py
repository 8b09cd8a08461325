"""The sequential design, live: a look after each replicate pair, and the stop when decided.

The orchestrator asks ``SequentialDesign.stop_before(r)`` at its barrier, when every run of
replicates 0..r-1 has ended and replicate r is about to start; the look reads the runs as
the report does (``report.design``), is written into the manifest (``design.sequential``)
and told to the user as a notice, so the console and the headless lines show the decision
forming. A decided look, or the time budget, ends the experiment there: the runs never
started are dropped (never marked failed).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from abtui.experiment.corun_facts import corun_facts
from abtui.report.build import run_summaries, runs_by_arm
from abtui.report.design import decided, looks, rule_of

if TYPE_CHECKING:
    from abtui.experiment.orchestrator import Experiment


class SequentialDesign:
    """The stopping rule of one experiment (``spec.sequential``), looked at live."""

    def __init__(self, exp: Experiment) -> None:
        self.exp = exp
        self.rule = rule_of(exp.spec)
        self._answers: dict[int, bool] = {}

    def _record(self) -> dict[str, Any]:
        design = self.exp.manifest.setdefault("design", {})
        return design.setdefault("sequential", {"looks": [], "stopped": None})

    def out_of_time(self) -> bool:
        seq = self.exp.spec.sequential
        start = self.exp.manifest.get("created_at")
        if seq is None or seq.max_minutes is None or not isinstance(start, (int, float)):
            return False
        return time.time() - start > seq.max_minutes * 60

    def stop_before(self, replicate: int) -> bool:
        """Whether replicate ``replicate`` (and every later one) need not run: the looks so
        far decided every treatment arm, or the time budget is spent. Looks once per pair."""
        if self.rule is None or replicate < self.rule.min_n:
            return False
        if replicate in self._answers:
            return self._answers[replicate]
        late = self.out_of_time()
        exp = self.exp
        states = {arm: [s for s in ss if s.replicate < replicate]
                  for arm, ss in runs_by_arm(exp).items()}
        summaries = run_summaries(exp, states, None, corun_facts(exp), None)
        found = looks(exp.spec, summaries, last=late, upto=replicate)
        record = self._record()
        record["looks"].append({"n": replicate, "t": round(time.time(), 3),
                                "arms": {x.arm: x.look.to_dict() for x in found}})
        for x in found:
            exp.store.notice(f"look after {replicate} runs per arm: {x.words}")
        stop = decided(found) or late
        if stop:
            record["stopped"] = {"after": replicate,
                                 "reason": "decided" if decided(found) else "time budget"}
            exp.store.notice(f"sequential design: stopped after {replicate} runs per arm ("
                             f"{record['stopped']['reason']}); the later replicates are not run")
        self._answers[replicate] = stop
        return stop

    def drop_pending(self) -> None:
        """The runs no longer needed: gone from the plan, the manifest and the store (the
        orchestrator's scheduler lock held)."""
        exp = self.exp
        gone = {r.run_id for r in exp.pending}
        exp.pending.clear()
        exp.runs = [r for r in exp.runs if r.run_id not in gone]
        for run_id in gone:
            exp.manifest["runs"].pop(run_id, None)
        design = exp.manifest.get("design") or {}
        if isinstance(design.get("start_order"), list):
            design["start_order"] = design["start_order"][:len({r.replicate for r in exp.runs})]
        exp.store.drop_runs(gone)

    def at_end(self) -> None:
        """The run ended without an early stop: the budget of replicates was spent."""
        if self.rule is None:
            return
        from abtui.store import ArmStatus

        record = self._record()
        if record.get("stopped") is None:
            n = max((r.replicate for r in self.exp.runs), default=-1) + 1
            user = any(s.status == ArmStatus.STOPPED for s in self.exp.store.runs.values())
            record["stopped"] = {"after": n, "reason": "stopped by the user" if user
                                 else "budget"}
