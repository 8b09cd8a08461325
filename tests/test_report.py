"""The report from a run directory alone: fabricated by hand, attached, built, written."""

from __future__ import annotations

import json
import random
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from abtui.compare import GateError
from abtui.diff.fairness import Fairness
from abtui.diff.findings import Finding
from abtui.experiment.orchestrator import Experiment
from abtui.ingest.events import EventWriter
from abtui.report import build_report, gates_failed, render_summary, write_reports
from abtui.rundir import RunDir
from abtui.spec import ExperimentSpec, resolve_runs

T0 = 1_700_000_000.0

TOP_KEYS = {"schema_version", "experiment", "run_dir", "created", "finished", "generated", "status",
            "spec", "arms", "comparisons", "gates", "findings", "fairness", "telemetry",
            "failed_runs", "environment", "corun", "sequential", "ranking", "factorial", "notes", "charts",
            "verdict"}
RUN_KEYS = {"run_id", "arm", "replicate", "status", "exit_code", "exit_error", "last_step", "records",
            "warmup_cutoff_step", "throughput", "throughput_median", "throughput_records",
            "warmup_fallback", "stationarity", "throughput_window", "quality_at_step",
            "throughput_source", "log_format", "step_time_p50_ms",
            "step_time_p95_ms", "peak_memory", "memory_metric", "memory_unit",
            "final_loss_smoothed", "final_loss_raw", "accuracy_best", "accuracy_final",
            "wall_time_s", "wall_time_source", "steps_to_target_loss", "time_to_target_loss_s",
            "steps_to_target_accuracy", "time_to_target_accuracy_s", "energy_j", "samples",
            "energy_per_sample_j", "oddities", "seed", "seed_status"}
EFFECT_KEYS = {"value", "ci", "n", "method", "significant", "p_value", "p_adjusted", "family",
               "calibrated", "mde", "replicates_needed", "baseline_value", "arm_value", "note",
               "kind", "higher_is_better", "p_better", "p_better_ci"}
METRICS = {"throughput_ratio", "step_time_ratio", "memory_ratio", "loss_delta", "accuracy_delta",
           "time_to_target_ratio"}


def fabricate(base: Path, replicates: int = 3, speedup: float = 1.2, steps: int = 80,
              failed: tuple[str, ...] = (), telemetry: bool = True,
              more: dict[str, float] | None = None) -> RunDir:
    """A finished run directory written by hand: manifest, events.jsonl per run, exit.json.
    ``more``: further arms (name -> speed against A), each with amp on."""
    speeds = {"A": 1.0, "B": speedup, **(more or {})}
    spec = ExperimentSpec.model_validate({
        "name": "amp-vs-fp32", "steps": steps, "replicates": replicates, "treatment": ["amp"],
        "arms": {"A": {"config": {"amp": False}, "gpus": [0]}, "B": {"config": {"amp": True}, "gpus": [1]},
                 **{a: {"config": {"amp": True}, "gpus": [2 + i]} for i, a in enumerate(more or {})}},
        "target": {"loss": 0.5}, "description": "AMP against fp32"})
    rd = RunDir.create(base, spec.name, now=T0)
    runs = resolve_runs(spec)
    rd.write_manifest({
        "experiment": spec.name, "created_at": T0, "finished_at": T0 + 90, "status": "finished",
        "spec": spec.model_dump(mode="json"),
        "runs": {r.run_id: {"arm": r.arm, "replicate": r.replicate, "seed": r.seed,
                            "gpus": list(r.gpus)} for r in runs}})
    for r in runs:
        rng = random.Random(r.seed * 2 + (r.arm == "B") + 10 * list(speeds).index(r.arm) * (r.arm not in ("A", "B")))
        tp = 100.0 * speeds[r.arm]
        writer = EventWriter(rd.events_path(r.run_id))
        t, lines = T0 + 1, [{"event": "env", "python": "3.11", "seed": r.seed}]
        for s in range(1, steps + 1):
            lines.append({"step": s, "loss": 2.0 * 0.96 ** s + rng.gauss(0, 0.01),
                          "accuracy": min(1.0, 0.1 + 0.01 * s + rng.gauss(0, 0.004)),
                          "throughput_samples_per_sec": (tp if s > 1 else tp / 5) + rng.gauss(0, 1),
                          "step_time_ms": 64000 / tp + rng.gauss(0, 0.5),
                          "gpu_memory_mb": 4000.0 if r.arm == "A" else 3400.0})
        lines.append({"event": "final", "steps": steps, "samples": 64 * steps})
        for i, obj in enumerate(lines):
            t += 64 / tp
            writer.write(json.dumps(obj).encode(), i, t)
        writer.write(b"not json: a plain log line", len(lines), t)
        writer.write(b'{"step": "oops"}', len(lines) + 1, t)
        writer.close()
        status = "failed" if r.run_id in failed else "done"
        rd.write_json(rd.exit_path(r.run_id), {"exit_code": 1 if status == "failed" else 0,
                                               "oom_killed": False, "error": None, "status": status})
    if telemetry:
        with open(rd.telemetry_path, "w") as fh:
            for i in range(90):
                fh.write(json.dumps({"kind": "sample", "t": T0 + i, "gpus": [
                    {"index": 0, "arm": "A", "temp_c": 50 + i / 3, "sm_clock_mhz": 1980 - i, "power_w": 300.0},
                    {"index": 1, "arm": "B", "temp_c": 55 + i / 4, "sm_clock_mhz": 1900, "power_w": None}]}) + "\n")
    return rd


@pytest.fixture
def replicated_run(tmp_path: Path) -> RunDir:
    return fabricate(tmp_path)


def test_report_files_from_a_run_directory_alone(replicated_run: RunDir) -> None:
    exp = Experiment.attach(replicated_run.root, follow=False)
    findings = [Finding("config.amp", "config", False, True, True, "info", "amp: false → true", ("A", "B")),
                {"key": "env.torch", "category": "environment", "a": "2.3", "b": "2.4",
                 "intended": False, "severity": "warning", "confound": True,
                 "message": "torch differs: 2.3 vs 2.4"}]
    report = build_report(exp, gates=["throughput_ratio >= 0.97", "B.accuracy_delta >= -0.05"],
                          findings=findings, telemetry={"A.r0": {"energy_j": 5120.0}},
                          fairness=Fairness("confounded", [], ["torch differs: 2.3 vs 2.4"]))
    paths = write_reports(exp.rundir, report)
    assert {p.name for p in paths.values()} == {"report.json", "report.md", "report.html"}
    assert not list(replicated_run.root.glob("*.tmp"))

    data = json.loads(paths["json"].read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert set(data) == TOP_KEYS and data["schema_version"] == 1
    assert data["created"] == "2023-11-14T22:13:20Z"
    assert set(data["arms"]) == {"A", "B"}
    for arm in data["arms"].values():
        assert len(arm["runs"]) == 3
        assert all(set(run) == RUN_KEYS for run in arm["runs"])
    assert data["arms"]["A"]["runs"][0]["oddities"]["wrong_type"] == 1
    assert data["arms"]["A"]["runs"][0]["energy_per_sample_j"] == pytest.approx(1.0)
    [comp] = data["comparisons"]
    assert (comp["arm"], comp["baseline"]) == ("B", "A")
    assert set(comp["metrics"]) == METRICS
    assert all(set(m) == EFFECT_KEYS for m in comp["metrics"].values())
    tp = comp["metrics"]["throughput_ratio"]
    assert tp["value"] == pytest.approx(1.2, rel=0.01) and tp["significant"] is True
    assert tp["ci"][0] > 1.0 and tp["n"] == {"baseline": 3, "arm": 3}
    assert comp["metrics"]["memory_ratio"]["value"] == pytest.approx(0.85)
    assert comp["sentences"][0].startswith("throughput +")
    # a confounded comparison fails every gate, and says why; --allow-confounds gates the numbers
    assert [g["passed"] for g in data["gates"]] == [False, False]
    assert all("comparison confounded: torch differs: 2.3 vs 2.4" in g["line"]
               and "--allow-confounds" in g["line"] for g in data["gates"])
    assert gates_failed(data)
    exp.spec = exp.spec.model_copy(update={"allow_confounds": True})
    allowed = build_report(exp, gates=["throughput_ratio >= 0.97", "B.accuracy_delta >= -0.05"],
                           findings=findings,
                           fairness=Fairness("confounded", [], ["torch differs: 2.3 vs 2.4"]))
    assert [g["passed"] for g in allowed["gates"]] == [True, True]
    assert "(--allow-confounds)" in allowed["gates"][0]["line"]
    assert data["fairness"]["state"] == "confounded" and data["verdict"]["fairness"] == "confounded"
    assert data["fairness"]["fair"] is False and data["verdict"]["fair"] is False
    assert "NOT a fair comparison" in data["verdict"]["summary"]
    assert any("warm-up" in n for n in data["notes"])
    assert set(data["charts"]) == {"loss", "accuracy", "throughput", "gpu"}
    assert data["charts"]["loss"]["A"]["lo"] is not None  # replicate band
    assert data["charts"]["gpu"]["0"]["arm"] == "A"  # replicates of A share GPU 0

    md = paths["md"].read_text()
    assert data["verdict"]["summary"] in md
    assert "FAIL throughput_ratio >= 0.97" in md
    assert "torch differs: 2.3 vs 2.4" in md and "CONFOUND" in md
    assert "▁" in md or "█" in md  # text charts

    html = paths["html"].read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "http" not in html and "<script" not in html and "<link" not in html
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(svgs) >= 4  # loss, accuracy, throughput, GPU temperature ...
    for s in svgs:
        ET.fromstring(s)  # well-formed
    assert "GPU temperature" in html and "polygon" in html  # traces and replicate bands


FAIR = Fairness("fair", [], ["the arms differ only in the treatment (amp)"])


def test_failing_gate_and_summary(replicated_run: RunDir) -> None:
    exp = Experiment.attach(replicated_run.root, follow=False)
    report = build_report(exp, gates=["throughput_ratio >= 1.5", "memory_ratio <= 1.0"],
                          fairness=FAIR)
    assert gates_failed(report)
    assert report["verdict"]["gates_passed"] is False
    text = render_summary(report)
    assert re.search(r"FAIL throughput_ratio >= 1.5 \(B: 1\.\d+, CI lower 1\.\d+\)", text)
    assert "PASS memory_ratio <= 1 (B: 0.85, CI upper" in text
    assert "B vs A:" in text and "gates: 1 of 2 FAILED" in text
    assert "fair comparison" in text
    unchecked = render_summary(build_report(exp, gates=["memory_ratio <= 1.0"]))
    assert "fairness unverifiable: fairness not checked" in unchecked
    assert "FAIL memory_ratio <= 1 (B: 0.85, CI upper" in unchecked  # not gated on no evidence


def test_bad_gate_is_a_usage_error_before_any_work(replicated_run: RunDir) -> None:
    exp = Experiment.attach(replicated_run.root, follow=False)
    with pytest.raises(GateError) as info:
        build_report(exp, gates=["speed >= 1"])
    assert info.value.exit_code == 2 and "throughput_ratio" in str(info.value)


def test_single_run_per_arm_says_n1(tmp_path: Path) -> None:
    rd = fabricate(tmp_path, replicates=1, telemetry=False)
    report = build_report(Experiment.attach(rd.root, follow=False),
                          gates=["throughput_ratio >= 1.1", "loss_delta <= 0.05"])
    comp = report["comparisons"][0]
    tp = comp["metrics"]["throughput_ratio"]
    assert tp["ci"] is not None and tp["calibrated"] is False and tp["significant"] is None
    assert tp["method"].startswith("n = 1: within-run noise only")
    assert comp["metrics"]["loss_delta"]["ci"] is None
    assert any("run-to-run variation not measured" in n for n in report["notes"])
    # gates fail closed with n = 1, and say why
    assert [g["checks"][0]["used"] for g in report["gates"]] == ["not calibrated"] * 2
    assert all(not g["passed"] and "--gate-point" in g["line"] for g in report["gates"])
    assert "significant" not in report["verdict"]["summary"]
    assert report["charts"]["gpu"] == {} and report["charts"]["loss"]["A"]["lo"] is None
    paths = write_reports(rd, report)
    assert "n = 1" in paths["md"].read_text()


def test_failed_replicate_is_reported_and_left_out(tmp_path: Path) -> None:
    rd = fabricate(tmp_path, replicates=2, failed=("B.r1",))
    report = build_report(Experiment.attach(rd.root, follow=False))
    assert report["failed_runs"] == ["B.r1"]
    assert report["arms"]["B"]["aggregate"]["runs_used"] == ["B.r0"]
    assert "B.r1 left out (failed)" in report["comparisons"][0]["notes"]
    assert "did not finish: B.r1" in report["verdict"]["summary"]
    assert report["gates"] == [] and report["verdict"]["gates_passed"] is None


def test_report_is_reproducible(replicated_run: RunDir) -> None:
    exp = Experiment.attach(replicated_run.root, follow=False)
    first, second = build_report(exp), build_report(exp)
    first.pop("generated")
    second.pop("generated")
    assert first == second
