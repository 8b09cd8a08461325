"""Pure parts of the console: the live verdict, finding counts, number formats, colours."""

from __future__ import annotations

import json

import pytest

from abtui.store import Store
from abtui.tui import units
from abtui.tui.differences import Differences, by_category, count_by_category, kind
from abtui.tui.fixtures import FINDINGS, CannedFinding
from abtui.tui.live import common_step, live_verdict
from abtui.tui.palette import arm_colours, rgb


def _feed(store: Store, run_id: str, arm: str, records: list[dict]) -> None:
    store.add_run(run_id, arm)
    for i, rec in enumerate(records):
        store.run(run_id).ingest(json.dumps(rec).encode(), 1000.0 + i)


def test_live_verdict_ratios_against_the_baseline() -> None:
    store = Store()
    _feed(store, "A", "A", [{"step": s, "loss": 2.0, "throughput_samples_per_sec": 100,
                             "gpu_memory_mb": 1000, "accuracy": 0.5} for s in range(1, 41)])
    _feed(store, "B", "B", [{"step": s, "loss": 1.5, "throughput_samples_per_sec": 125,
                             "gpu_memory_mb": 800, "accuracy": 0.6} for s in range(1, 41)])
    v = live_verdict(store.runs, baseline="A")
    (d,) = v.deltas
    assert d.arm == "B"
    assert d.throughput_ratio == pytest.approx(1.25)
    assert d.memory_ratio == pytest.approx(0.8)
    assert d.loss_delta == pytest.approx(-0.5)
    assert d.accuracy_delta == pytest.approx(0.1)


def test_quality_is_compared_at_the_step_both_runs_reached() -> None:
    """B is ahead (step 80 vs 40): its loss at step 40 is compared, not its latest."""
    store = Store()
    _feed(store, "A", "A", [{"step": s, "loss": 10.0 - s * 0.1} for s in range(1, 41)])
    _feed(store, "B", "B", [{"step": s, "loss": 10.0 - s * 0.1} for s in range(1, 81)])
    assert common_step(store.runs.values()) == 40
    v = live_verdict(store.runs, baseline="A", window=1)
    assert v.at_step == 40
    assert v.deltas[0].loss_delta == pytest.approx(0.0)


def test_replicates_are_pooled_per_arm_by_median() -> None:
    store = Store()
    for rid, tput in (("A.r0", 100), ("A.r1", 110), ("A.r2", 90)):
        _feed(store, rid, "A", [{"step": 1, "throughput_samples_per_sec": tput}])
    _feed(store, "B", "B", [{"step": 1, "throughput_samples_per_sec": 150}])
    v = live_verdict(store.runs, baseline="A")
    assert v.figures["A"].throughput == 100
    assert v.deltas[0].throughput_ratio == pytest.approx(1.5)


def test_live_verdict_without_records_has_no_deltas() -> None:
    store = Store()
    store.add_run("A", "A")
    store.add_run("B", "B")
    v = live_verdict(store.runs, baseline="A", confounds=["GPU shared"])
    assert v.deltas[0].throughput_ratio is None
    assert v.confounds == ["GPU shared"]


def test_findings_are_counted_by_kind_in_display_order() -> None:
    counts = count_by_category(FINDINGS)
    assert list(counts) == ["config", "environment", "code", "hardware", "envvars"]
    assert counts["config"] == {"treatment": 2, "confound": 0, "note": 0}
    assert counts["code"]["confound"] == 1
    assert [kind(f) for f in by_category(FINDINGS)["code"]] == ["confound"]


def test_a_finding_that_is_not_intended_is_a_confound_only_from_warning_up() -> None:
    note = CannedFinding("env.x", "environment", 1, 2, False, "info", "m")
    bad = CannedFinding("env.y", "environment", 1, 2, False, "error", "m")
    treat = CannedFinding("config.lr", "config", 1, 2, True, "warning", "m")
    assert (kind(note), kind(bad), kind(treat)) == ("note", "confound", "treatment")
    diffs = Differences([note, bad], telemetry_confounds=["m", "GPU 1 shared"])
    assert diffs.sentences() == ["m", "GPU 1 shared"]


def test_real_findings_are_read_the_same_way() -> None:
    findings = pytest.importorskip("abtui.diff.findings")
    f = findings.Finding("code.dirty", "code", "a", "b", False, "warning", "dirty", ("A", "B"))
    assert kind(f) == "confound"


def test_units() -> None:
    assert units.rate(1234.5) == "1.23k"
    assert units.megabytes(4210) == "4.1G"
    assert units.megabytes(512) == "512M"
    assert units.duration(83) == "1m23s"
    assert units.duration(4000) == "1h06m"
    assert units.duration(None) == "-"
    assert units.num(float("nan")) == "-"
    assert units.signed_pct(1.031) == "+3.1%"


def test_arm_colours_are_stable_and_distinct() -> None:
    a = arm_colours(["fp32", "amp", "fp32"])
    assert list(a) == ["fp32", "amp"]
    assert a["fp32"] != a["amp"]
    assert arm_colours(["fp32", "amp"]) == a
    assert rgb("#4c9be8") == (76, 155, 232)


def test_the_diff_pane_lists_every_category_with_its_state() -> None:
    from abtui.tui.differences import Differences
    from abtui.tui.widgets.diff_pane import summary_text

    checks = [{"category": "config", "state": "treatment", "text": "differs as intended: lr"},
              {"category": "environment", "state": "identical",
               "text": "python 3.11.7, torch 2.13.0+cpu in every run"},
              {"category": "image", "state": "not recorded", "text": "local processes: no image"},
              {"category": "code", "state": "confound", "text": "uncommitted \x1b]52;c;evil\x07x"}]
    text = summary_text(Differences([], checks=checks)).plain
    assert "config      ● treatment" in text and "environment = identical" in text
    assert "torch 2.13.0+cpu in every run" in text and "image       ? not recorded" in text
    assert "\x1b" not in text and "\x07" not in text
