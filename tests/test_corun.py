"""Co-run interference from receive times and telemetry samples (pure functions)."""

from __future__ import annotations

import pytest

from abtui.diff.evidence import RunEvidence, missing_evidence
from abtui.diff.fairness import fairness, state_words
from abtui.diff.findings import Finding
from abtui.telemetry.corun import RunSpan, alone_share, compare_windows, corun


def span(run_id: str, arm: str, start: float, end: float, rep: int = 0,
         warm: float = 1.0) -> RunSpan:
    return RunSpan(run_id, arm, rep, start, end, start + warm, end)


def test_a_run_that_goes_on_alone_is_measured_over_the_overlap_when_it_can() -> None:
    a, b = span("a", "a", 0, 10), span("b", "b", 0, 14)
    assert alone_share(b, [a, b]) == pytest.approx(4 / 13)
    windows = compare_windows([a, b])
    assert windows == {"a": (1, 10), "b": (1, 10)}  # 9 of b's 13 s: more than a quarter
    out = corun([a, b], [])
    assert out["sentences"] == [] and out["runs"]["b"]["alone_share"] == 0.0
    assert out["runs"]["b"]["window_share"] == pytest.approx(9 / 13)


def test_a_treatment_twice_as_slow_is_compared_over_its_half_beside_the_other() -> None:
    a, b = span("a", "a", 0, 10), span("b", "b", 0, 19)
    assert compare_windows([a, b]) == {"a": (1, 10), "b": (1, 10)}  # 9 of b's 18 s
    assert corun([a, b], [])["sentences"] == []


def test_too_little_overlap_is_a_confound_sentence() -> None:
    a, b = span("a", "a", 0, 4), span("b", "b", 0, 16)
    assert compare_windows([a, b]) == {}
    out = corun([a, b], [])
    [text] = out["sentences"]
    assert text.startswith("b ran alone for 80 % of its steady state after a finished (a: 0 %)")


def test_sequential_runs_are_alike_and_replicates_pair_by_index() -> None:
    spans = [span("a.r0", "a", 0, 10), span("b.r0", "b", 10, 20, rep=0),
             span("a.r1", "a", 20, 30, rep=1), span("b.r1", "b", 30, 40, rep=1)]
    out = corun(spans, [])
    assert out["sentences"] == []
    assert {r: v["alone_share"] for r, v in out["runs"].items()} == {
        "a.r0": 1.0, "b.r0": 1.0, "a.r1": 1.0, "b.r1": 1.0}


def test_foreign_cpu_is_named_with_its_process() -> None:
    a, b = span("a", "a", 0, 10), span("b", "b", 0, 10)
    samples = [{"t": t, "host": {"cpus": 2, "foreign_cores": 1.4,
                                 "foreign_top": [{"pid": 4242, "name": "burn", "cpu_percent": 97.0}]}}
               for t in range(2, 10)]
    out = corun([a, b], samples)
    assert len(out["sentences"]) == 2
    assert out["sentences"][0].startswith("host CPU was taken by processes outside the "
                                          "experiment for 100 % of a's steady state (mean 1.4 "
                                          "of 2 cores); busiest: PID 4242 burn (97 % of a core)")
    quiet = [{"t": t, "host": {"cpus": 2, "foreign_cores": 0.1}} for t in range(2, 10)]
    assert corun([a, b], quiet)["sentences"] == []


def _cores_sample(t: float, core0: float, a_own: float, monitor: float = 2.0) -> dict:
    return {"t": t, "host": {"cpus": 2, "foreign_cores": 0.4, "cpu_percent": 90.0,
                             "monitor_cpu_percent": monitor, "core_percent": [core0, 99.0]},
            "runs": {"a": {"cpu_percent": a_own}, "b": {"cpu_percent": 97.0}}}


def test_a_neighbour_on_one_runs_core_is_a_confound_under_the_host_threshold() -> None:
    """Host-wide 0.4 foreign cores (under 0.5): but a's own core 0 was 99 % busy while a
    used 60 % of it: 0.37 of its core was someone else's."""
    a, b = span("a", "a", 0, 10), span("b", "b", 0, 10)
    samples = [_cores_sample(t, 99.0, 60.0) for t in range(2, 10)]
    out = corun([a, b], samples, cpus={"a": [0], "b": [1]})
    [text] = out["sentences"]
    assert text.startswith("a's own core 0 was busy with processes outside the experiment "
                           "for 100 % of its steady state (mean 0.37 cores)"), text
    assert out["runs"]["b"]["foreign"]["own_share"] == 0.0
    # the same samples without placement: nothing to judge per core
    assert corun([a, b], samples)["sentences"] == []
    # the run's own use and the monitor's explain the core: not a neighbour
    busy_self = [_cores_sample(t, 99.0, 90.0, monitor=8.0) for t in range(2, 10)]
    assert corun([a, b], busy_self, cpus={"a": [0], "b": [1]})["sentences"] == []
    # a burst in a steady state of two samples is not judged
    short = [_cores_sample(t, 99.0, 60.0) for t in (2, 3)]
    assert corun([a, b], short, cpus={"a": [0], "b": [1]})["sentences"] == []


def test_fairness_is_three_valued() -> None:
    confound = Finding("env.torch", "environment", "2.3", "2.4", False, "warning",
                       "PyTorch differs", ("a", "b"))
    treatment = Finding("config.lr", "config", 0.1, 0.2, True, "info", "lr", ("a", "b"))
    assert fairness([treatment]).state == "fair" and fairness([treatment]).fair is True
    gaps = missing_evidence([RunEvidence("a", "a", "done", True, True),
                             RunEvidence("b", "b", "stopped", False, True)],
                            backend="local", backend_facts={}, telemetry_samples=0)
    assert gaps[0].startswith("no env record from arm b")
    assert "arms incomplete: b stopped" in gaps
    assert any("no telemetry samples" in g for g in gaps)
    unverifiable = fairness([treatment], gaps)
    assert unverifiable.state == "unverifiable" and unverifiable.fair is None
    assert state_words(unverifiable).startswith("fairness unverifiable: no env record")
    both = fairness([confound], gaps)
    assert both.state == "confounded" and both.fair is False and both.missing == gaps
    assert missing_evidence([], backend="docker", backend_facts={}, telemetry_samples=3) == [
        "image identity unknown (the image was never resolved to an ID)"]


def test_a_sample_where_an_arm_has_a_process_first_seen_says_nothing_of_its_cores() -> None:
    """A new process counts from its next read: in its first sample the run's own figure
    lacks it, and the busy core would read as a neighbour's."""
    a, b = span("a", "a", 0, 10), span("b", "b", 0, 10)
    samples = [_cores_sample(t, 99.0, 5.0) for t in range(2, 10)]
    for s in samples:
        s["runs"]["a"]["partial"] = True
    out = corun([a, b], samples, cpus={"a": [0], "b": [1]})
    assert out["sentences"] == [] and out["runs"]["a"]["foreign"]["own_samples"] == 0
