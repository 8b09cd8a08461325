"""The Prometheus endpoint: dcgm-exporter's names and labels, bounded labels from hostile
arms, and a real Prometheus (Debian's) scraping a real run and answering every query of
the Grafana dashboard; the alert rules pass promtool."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from fake_nvml import FakeNvml, h100
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry
from test_telemetry_nvml import sampler_for

from abtui.experiment.exporter import MAX_METRICS, ExperimentCollector, serve
from abtui.store import Store

REPO = Path(__file__).resolve().parent.parent
DASHBOARD = REPO / "dashboards" / "abtui-grafana.json"
ALERTS = REPO / "dashboards" / "abtui-alerts.yaml"
REQUIRED = os.environ.get("ABTUI_REQUIRE_PROMETHEUS") == "1"


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if REQUIRED:
            pytest.fail(f"{tool} is not installed (CI installs Debian's prometheus)")
        pytest.skip(f"needs {tool} (apt-get install prometheus)")
    return path


def _store_with_gpus(experiment_arms: tuple[str, ...] = ("A", "B")) -> tuple[Store, object]:
    store = Store()
    for i, arm in enumerate(experiment_arms):
        st = store.add_run(arm, arm, gpus=(i,))
        for s in range(1, 21):
            st.ingest(json.dumps({"step": s, "loss": 1.0 / s, "throughput_samples_per_sec": 100.0 + i,
                                  "gpu_memory_mb": 2000, "grad_norm": 0.5}).encode(), 1.7e9 + s)
    fake = FakeNvml([h100(0), h100(1, reasons=0x0)])
    sampler = sampler_for(fake, gpu_arms={a: [i] for i, a in enumerate(experiment_arms)})
    store.add_telemetry({"kind": "gpu_info", **sampler.gpu_info()})
    store.add_telemetry({"kind": "sample", **sampler.sample()})
    return store, sampler


def _families(collector: ExperimentCollector) -> dict[str, list]:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(collector)
    text = generate_latest(reg).decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_gpu_series_carry_dcgm_exporter_names_and_labels() -> None:
    store, _ = _store_with_gpus()
    fams = _families(ExperimentCollector(store, "exp1"))
    for name in ("DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_SM_CLOCK", "DCGM_FI_DEV_MEM_CLOCK",
                 "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
                 "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE",
                 "DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "DCGM_FI_DEV_POWER_VIOLATION",
                 "DCGM_FI_DEV_THERMAL_VIOLATION", "DCGM_EXP_CLOCK_EVENTS_COUNT"):
        assert name in fams, name
    [temp0] = [s for s in fams["DCGM_FI_DEV_GPU_TEMP"] if s.labels["gpu"] == "0"]
    assert temp0.value == 64 and temp0.labels["UUID"] == "GPU-00000000-fake-h100"
    assert temp0.labels["modelName"] == "NVIDIA_H100_80GB_HBM3"
    assert temp0.labels["hostname"] == socket.gethostname().lower()
    assert (temp0.labels["experiment"], temp0.labels["arm"], temp0.labels["run_id"]) == ("exp1", "A", "A")
    [free] = [s for s in fams["DCGM_FI_DEV_FB_FREE"] if s.labels["gpu"] == "0"]
    assert free.value == 81559 - 20011
    events = {(s.labels["gpu"], s.labels["clock_event"]): s.value for s in fams["DCGM_EXP_CLOCK_EVENTS_COUNT"]}
    assert events == {("0", "sw_power_cap"): 1.0}  # GPU 1 is not throttled
    assert {s.labels["run_id"]: s.value for s in fams["abtui_train_loss"]} == {"A": 0.05, "B": 0.05}
    assert {s.labels["run_id"]: s.value for s in fams["abtui_peak_memory_bytes"]}["A"] == 2000 * 2**20
    # the switch for hosts where dcgm-exporter already runs: only the arm mapping
    only = _families(ExperimentCollector(store, "exp1", gpu_series=False))
    assert "DCGM_FI_DEV_GPU_TEMP" not in only and len(only["abtui_gpu_arm"]) == 2


def test_hostile_metric_names_cannot_explode_the_labels() -> None:
    store = Store()
    st = store.add_run("A", "A")
    keys = {f"k{i}\"}}{{evil=\"x // \u00e9": float(i) for i in range(2000)}  # printable, hostile
    st.ingest(json.dumps({"step": 1, **keys}).encode(), 1.0)
    fams = _families(ExperimentCollector(store, 'e"x\x1b[2J'))
    others = fams["abtui_metric"]
    assert 0 < len(others) <= MAX_METRICS
    for s in others:
        assert all(c.isalnum() or c in "_.:/-" for c in s.labels["metric"]) and len(s.labels["metric"]) <= 64
        assert all(c.isalnum() or c in "_.:/-" for c in s.labels["experiment"])


def test_names_that_sanitise_alike_stay_distinct_series() -> None:
    """``a.b`` / ``a_b`` / ``a b`` become one label value once sanitised: three series with
    one label set is an exposition a scraper rejects (duplicate series)."""
    store = Store()
    st = store.add_run("A", "A")
    st.ingest(json.dumps({"step": 1, "a.b": 1.0, "a_b": 2.0, "a b": 3.0,
                          "x" * 80: 4.0, "x" * 81: 5.0}).encode(), 1.0)
    reg = CollectorRegistry(auto_describe=False)
    reg.register(ExperimentCollector(store, "e"))
    text = generate_latest(reg).decode()
    series = [line.split(" ")[0] for line in text.splitlines() if line.startswith("abtui_metric{")]
    assert len(series) == len(set(series)) == 5, series
    assert {float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith("abtui_metric{")} == {1.0, 2.0, 3.0, 4.0, 5.0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _query(base: str, expr: str) -> dict:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def _until(predicate, timeout: float = 60.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.3)


def test_a_real_prometheus_scrapes_a_real_run_and_answers_the_dashboard(tmp_path: Path,
                                                                         fake_runner: Path) -> None:
    prometheus = _need("prometheus")
    run_port, gpu_port, prom_port = _free_port(), _free_port(), _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                      "scrape_configs:\n  - job_name: abtui\n    static_configs:\n"
                      f"      - targets: ['127.0.0.1:{run_port}', '127.0.0.1:{gpu_port}']\n")
    log = open(tmp_path / "prometheus.log", "wb")
    prom = subprocess.Popen([prometheus, f"--config.file={config}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}"], stdout=log, stderr=log)
    base = f"http://127.0.0.1:{prom_port}"
    # GPU series of the same experiment from the fake NVML (no GPU here), live samples
    store, sampler = _store_with_gpus()
    report = tmp_path / "report.json"
    server = serve(ExperimentCollector(store, "prom", report), f"127.0.0.1:{gpu_port}")
    stop = threading.Event()

    def feed() -> None:
        while not stop.wait(0.5):
            store.add_telemetry({"kind": "sample", **sampler.sample()})  # type: ignore[attr-defined]
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"name: prom\ncommand: [{sys.executable}, {fake_runner}]\nsteps: 400\n"
                    "treatment: [rate]\nconfig: {sleep: 0.02}\n"
                    "arms:\n  A: {config: {rate: 1.0}}\n  B: {config: {rate: 2.0}}\n")
    run = subprocess.Popen([sys.executable, "-m", "abtui", "run", str(spec), "--headless",
                            "--runs-dir", str(tmp_path / "runs"), "--metrics-addr",
                            f"127.0.0.1:{run_port}"], cwd=tmp_path, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        _until(lambda: _ready(base), what="prometheus ready")
        _until(lambda: len(_query(base, 'abtui_train_loss{experiment="prom"}')["data"]["result"]) >= 4,
               what="training series from both endpoints")
        got = _query(base, f'abtui_step{{experiment="prom", instance="127.0.0.1:{run_port}"}}')
        assert {r["metric"]["run_id"] for r in got["data"]["result"]} == {"A", "B"}
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, out[-2000:] + err[-2000:]
        assert f"metrics on http://127.0.0.1:{run_port}/metrics" in err
        [run_dir] = list((tmp_path / "runs").iterdir())
        shutil.copy(run_dir / "report.json", report)  # the verdict, served by the GPU endpoint
        _until(lambda: _query(base, 'abtui_verdict_info{experiment="prom"}')["data"]["result"],
               what="the verdict")
        dash = json.loads(DASHBOARD.read_text())
        exprs = [t["expr"].replace("$experiment", "prom") for p in dash["panels"] for t in p["targets"]]
        assert len(exprs) >= 10
        time.sleep(2)
        for expr in exprs:
            if "abtui_gate_pass" in expr:  # the run has no gates: an empty answer is right
                assert _query(base, expr)["status"] == "success"
                continue
            _until(lambda e=expr: _query(base, e)["data"]["result"], timeout=30, what=expr)
        fair = _query(base, 'abtui_fairness_state{experiment="prom"} == 1')["data"]["result"]
        assert {r["metric"]["state"] for r in fair} >= {json.loads(report.read_text())["fairness"]["state"]}
    finally:
        stop.set()
        server.shutdown()
        if run.poll() is None:
            run.kill()
        prom.terminate()
        prom.wait(timeout=20)
        log.close()


def _ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def test_the_alert_rules_pass_promtool() -> None:
    promtool = _need("promtool")
    done = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert done.returncode == 0 and "SUCCESS: 3 rules found" in done.stdout, done.stdout + done.stderr
