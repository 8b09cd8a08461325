"""Text charts, SVG helpers and chart data: known answers."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from abtui.report import charts, svg, traces
from abtui.store import RunState


def test_sparkline_scales_and_resamples() -> None:
    assert charts.sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert charts.sparkline([1.0, None, float("nan"), 1.0]) == "▄▄"
    assert len(charts.sparkline(list(range(1000)), width=40)) == 40
    # a shared scale: the smaller series stays low
    assert charts.sparkline([0, 1], lo=0, hi=10) == "▁▂"
    assert charts.sparkline([]) == ""


def test_bar_uses_eighth_blocks() -> None:
    assert charts.bar(10, 10, width=4) == "████"
    assert charts.bar(5, 10, width=4) == "██"
    assert charts.bar(1, 16, width=2) == "▏"  # 1/16 of 2 cells = one eighth of a cell
    assert charts.bar(3, 16, width=2) == "▍"
    assert charts.bar(9, 16, width=2) == "█▏"
    assert charts.bar(None, 10) == "" and charts.bar(3, 0) == ""


def test_nice_ticks_and_well_formed_svg() -> None:
    assert svg.nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert svg.nice_ticks(3, 97) == [20, 40, 60, 80]
    chart = svg.line_chart([{"label": "A <&>", "x": [1, 2, 3], "y": [3, 2, 1],
                             "lo": [2.5, 1.5, 0.5], "hi": [3.5, 2.5, 1.5]}], "loss", "step", "loss")
    root = ET.fromstring(chart)
    assert root.tag == "svg" and "A &lt;&amp;&gt;" in chart
    assert chart.count("<polygon") == 1
    assert svg.line_chart([], "empty", "x", "y") == ""
    bars = svg.bar_chart([{"label": "A", "value": 100, "lo": 95, "hi": 104},
                          {"label": "B", "value": None}], "tp", "samples/s")
    ET.fromstring(bars)


def _state(run_id: str, values: list[float]) -> RunState:
    s = RunState(run_id, run_id[0])
    for i, v in enumerate(values):
        s.ingest(json.dumps({"step": i, "loss": v}).encode(), 100.0 + i)
    return s


def test_arm_curves_band_over_replicates() -> None:
    runs = {"A": [_state("A.r0", [4.0, 3.0, 2.0, 1.0]), _state("A.r1", [6.0, 5.0, 4.0, 3.0])],
            "B": [_state("B", [1.0, 1.0, 1.0, 1.0])]}
    curves = traces.arm_curves(runs, "loss", points=4)
    assert curves["A"]["mean"] == [5.0, 4.0, 3.0, 2.0]
    assert curves["A"]["lo"] == [4.0, 3.0, 2.0, 1.0] and curves["A"]["hi"] == [6.0, 5.0, 4.0, 3.0]
    assert curves["B"]["lo"] is None and curves["B"]["runs"] == 1
    assert len(traces.arm_curves(runs, "loss", points=2)["A"]["x"]) == 2
    assert traces.arm_curves(runs, "accuracy") == {}


def test_gpu_traces_downsample_and_label() -> None:
    samples = [{"kind": "sample", "t": 10.0 + i,
                "gpus": [{"index": 0, "run": "A.r0", "temp_c": float(i), "sm_clock_mhz": None}]}
               for i in range(1000)]
    out = traces.gpu_traces(samples, owner={0: "A"}, t0=10.0, points=100)
    assert out["0"]["arm"] == "A.r0"
    assert len(out["0"]["temp_c"]["t"]) == 100 and out["0"]["temp_c"]["t"][0] == 0.0
    assert out["0"]["sm_clock_mhz"] == {"t": [], "v": []}
    assert traces.gpu_traces([{"t": 1.0, "gpus": [{"index": 3, "temp_c": 40}]}], {3: "B"})["3"]["arm"] == "B"


def test_a_range_below_float_resolution_draws_and_ends() -> None:
    """Two arms with the same loss per seed differ by one ulp in their band: the report's
    chart once looped forever there (a tick plus a step below resolution is the tick)."""
    assert svg.nice_ticks(0.8486, 0.8486 + 1e-16) == [0.8486, 0.8486 + 1e-16]
    assert len(svg.nice_ticks(0.0, 1e300)) <= 21
    same = [0.8486, 0.8486000000000001, 0.8486]
    chart = svg.line_chart([{"label": "a", "x": [1, 2, 3], "y": same, "lo": same, "hi": same}],
                           "loss", "step", "loss")
    assert ET.fromstring(chart).tag == "svg"
