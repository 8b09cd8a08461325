"""One run's metrics are one type: every table that names a per-run metric names a field
of ``RunMetrics``, report.json's runs are exactly its fields, and older reports read back."""

from __future__ import annotations

import json

import pytest

from abtui.compare.effects import EFFECTS, time_target_source
from abtui.compare.ranking import RANKABLE
from abtui.compare.run_metrics import FIELDS, NUMERIC, RunMetrics
from abtui.compare.summary import AGGREGATED, RunSummary, aggregate
from abtui.report.format import ARM_COLUMNS, RUN_HEADERS, run_rows


def test_every_metric_a_table_names_is_a_numeric_field() -> None:
    named = {
        "AGGREGATED": set(AGGREGATED),
        "EFFECTS": {k.source for k in EFFECTS.values()},
        "time targets": {time_target_source(1.0, None), time_target_source(None, 0.9)},
        "RANKABLE": {key for key, _, _ in RANKABLE.values()},
        "ARM_COLUMNS": {key for _, key, _ in ARM_COLUMNS},
    }
    for table, names in named.items():
        assert names <= NUMERIC, f"{table} names {sorted(names - NUMERIC)}: not a run metric"
    assert set(AGGREGATED) >= {key for _, key, _ in ARM_COLUMNS}  # the table shows aggregates


def test_a_name_that_is_no_metric_is_an_error_not_a_silent_none() -> None:
    m = RunMetrics(throughput=5.0)
    assert m.number("throughput") == 5.0
    with pytest.raises(KeyError, match="time_to_accuracy_s"):
        m.number("time_to_accuracy_s")  # the drift a string-keyed dict let through
    assert RunMetrics(throughput=float("nan")).number("throughput") is None


def test_the_report_form_is_the_fields_and_json_ready() -> None:
    m = RunMetrics(run_id="a.r0", arm="a", status="done", throughput=120.0, seed=7)
    out = m.to_report()
    assert list(out) == list(RunMetrics.__struct_fields__)
    assert out["stationarity"] == {"stationary": None, "change": None, "p_value": None,
                                   "note": None}
    assert json.loads(json.dumps(out)) == out
    agg = aggregate([RunSummary("a.r0", "a", 0, m)]).to_report()
    assert agg["throughput"]["mean"] == 120.0 and agg["runs_used"] == ["a.r0"]
    assert set(AGGREGATED) <= set(agg)


def test_a_run_of_an_older_report_reads_with_defaults() -> None:
    # a run entry as an earlier version wrote it: fewer keys, one this version dropped
    old = {"run_id": "a.r0", "arm": "a", "replicate": 0, "status": "done", "exit_code": 0,
           "throughput": 101.5, "final_loss_smoothed": 0.42, "wall_time_s": 12.0,
           "stationarity": {"stationary": True}, "retired_key": 3}
    m = RunMetrics.read(old)
    assert (m.throughput, m.final_loss_smoothed, m.seed, m.records) == (101.5, 0.42, None, 0)
    assert m.stationarity.stationary is True and m.stationarity.note is None
    rows = run_rows({"arms": {"a": {"runs": [old]}}})
    assert len(rows) == 1 and len(rows[0]) == len(RUN_HEADERS)
    assert rows[0][:3] == ["a.r0", "done", "0"] and rows[0][3] == 101.5
    assert "to target" in RUN_HEADERS and {"seed", "seed_status"} <= FIELDS
