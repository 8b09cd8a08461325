"""A deterministic, canned experiment for snapshot tests and screenshots.

:func:`fixture_experiment` builds a real :class:`~abtui.store.Store` from canned lines at
fixed times (an AMP vs fp32 A/B on two GPUs, the AMP GPU held at its power cap) behind a
small object with the orchestrator's interface that records the calls made to it.
:func:`fixture_app` wraps it in the console with a frozen clock, no cursor blink and canned
differences and report, so that every frame is the same on every machine.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from abtui.run_files import Sample
from abtui.rundir import ArmExit, Manifest
from abtui.spec import ExperimentSpec
from abtui.store import ArmStatus, Store
from abtui.tui.differences import Differences

T0 = 1_743_849_000.0  # 2025-04-05 10:30:00 UTC: when the fixture run started
NOW = T0 + 200.0  # the frozen clock
IMAGE_ID = "sha256:5f1e0c9a4b7d2e8f3a6c1b0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f"

SPEC = {
    "name": "amp-vs-fp32", "description": "ResNet-50 throughput and memory, AMP (bf16) vs fp32",
    "backend": "docker", "image": "abtui/runner@sha256:5f1e0c9a4b7d", "seed": 0, "steps": 500,
    "treatment": ["amp"],
    "config": {"model": "resnet50", "batch_size": 128, "lr": 0.1, "log_interval": 20},
    "arms": {"fp32": {"config": {"amp": False}, "gpus": [0]},
             "amp": {"config": {"amp": True, "amp_dtype": "bf16"}, "gpus": [1]}},
}

GPU_INFO = [
    {"index": i, "name": "NVIDIA H100 80GB HBM3", "uuid": f"GPU-{i}", "mem_total_mb": 81559,
     "sm_clock_max_mhz": 1980, "mem_clock_max_mhz": 2619, "temp_slowdown_c": 87,
     "temp_shutdown_c": 92, "power_limit_w": 700.0}
    for i in (0, 1)
]

CODE_DIFF = """diff --git a/runners/train.py b/runners/train.py
index 3b18e51..a9c2f04 100644
--- a/runners/train.py
+++ b/runners/train.py
@@ -88,7 +88,8 @@ def train(cfg):
     model = build_model(cfg)
-    loader = make_loader(cfg, workers=4)
+    loader = make_loader(cfg, workers=8)
+    torch.backends.cudnn.benchmark = True
     for step, batch in enumerate(loader):"""


@dataclass(frozen=True)
class CannedFinding:
    """A finding with the attributes the console reads (as ``abtui.diff`` makes them)."""

    key: str
    category: str
    a: Any
    b: Any
    intended: bool
    severity: str
    message: str
    arms: tuple[str, str] = ("fp32", "amp")
    detail: str | None = None


FINDINGS = [
    CannedFinding("config.amp", "config", False, True, True, "info",
                  "amp: false → true (the treatment)"),
    CannedFinding("config.amp_dtype", "config", None, "bf16", True, "info",
                  "amp_dtype: not set → 'bf16' (part of the amp treatment)"),
    CannedFinding("code.dirty", "code", "clean", "2 files changed", False, "warning",
                  "arm amp ran with uncommitted changes to runners/train.py", detail=CODE_DIFF),
    CannedFinding("env.hostname", "environment", "gpu-box-1", "gpu-box-1", False, "info",
                  "same host; containers differ only by id"),
    CannedFinding("hardware.power_cap", "hardware", "0 %", "100 %", False, "warning",
                  "arm amp: GPUs were power-capped (SW power cap) for 100 % of busy time; "
                  "SM clock averaged 70 % of its maximum"),
    CannedFinding("envvar.CUDA_VISIBLE_DEVICES", "envvars", "0", "1", False, "info",
                  "CUDA_VISIBLE_DEVICES: '0' → '1' (pinned GPUs)"),
]

REPORT = {
    "experiment": "amp-vs-fp32", "run_dir": "runs/amp-vs-fp32-20250405-103000",
    "verdict": {"summary": "amp: throughput +79 % (95 % CI +76…+82 %); NOT a fair comparison: "
                           "arm amp: GPUs were power-capped", "fair": False},
    "comparisons": [], "gates": [],
}


def _loss(step: int, speed: float, seed: int) -> float:
    return 6.9 * math.exp(-step * speed / 150) + 0.8 + 0.05 * math.sin(step * 0.37 + seed)


def _records(arm: str, last_step: int, t_per_step: float, speed: float, tput: float,
             mem: float, seed: int) -> list[tuple[float, dict[str, Any] | str]]:
    out: list[tuple[float, dict[str, Any] | str]] = [
        (T0 + 1.0, {"event": "env", "python": "3.11.9", "torch": "2.4.0+cu124",
                    "cuda": "12.4", "hostname": "gpu-box-1", "seed": 0, "arm": arm}),
        (T0 + 1.5, f"[{arm}] loading synthetic ImageNet-shaped data, batch 128"),
        (T0 + 1.6, "\x1b[1;33mWARNING\x1b[0m cudnn benchmark is off\x1b]0;pwned\x07"),
        (T0 + 1.7, "[bold red]this stays literal[/] — not markup"),
    ]
    for step in range(0, last_step + 1, 5):
        t = T0 + 2.0 + step * t_per_step
        warm = 0.55 if step == 0 else 1.0
        out.append((t, {
            "step": step, "loss": round(_loss(step, speed, seed), 4),
            "accuracy": round(min(0.95, 0.1 + step / 600 * speed), 4),
            "throughput_samples_per_sec": round(tput * warm * (1 + 0.02 * math.sin(step + seed)), 1),
            "gpu_memory_mb": mem + (step % 60), "lr": 0.1 * (1 - step / 500),
        }))
        if step % 100 == 0 and step:
            out.append((t + 0.01, f"step {step}: checkpoint saved to /ckpt/{arm}-{step}.pt"))
    return out


def _telemetry(seconds: int) -> list[dict[str, Any]]:
    samples = []
    for k in range(seconds):
        t = T0 + 5.0 + k
        wobble = math.sin(k / 7)
        samples.append({"kind": "sample", "v": 2, "t": t,
                        "host": {"cpu_percent": 23.5, "mem_used_mb": 40960, "mem_total_mb": 515000},
                        "gpus": [
                            {"index": 0, "run": "fp32", "temp_c": 61 + round(2 * wobble),
                             "sm_clock_mhz": 1980, "mem_clock_mhz": 2619, "power_w": 520.0 + 8 * wobble,
                             "util_gpu": 97, "util_mem": 58, "mem_used_mb": 14310, "reasons": 0,
                             "reason_names": []},
                            {"index": 1, "run": "amp", "temp_c": 74 + round(3 * wobble),
                             "sm_clock_mhz": 1380 + (15 if k % 9 < 4 else 0), "mem_clock_mhz": 2619,
                             "power_w": 699.1, "util_gpu": 100, "util_mem": 63, "mem_used_mb": 8370,
                             "reasons": 4, "reason_names": ["sw_power_cap"]},
                        ],
                        "runs": {"fp32": {"source": "container", "cpu_percent": 101.0, "rss_mb": 5300.0},
                                 "amp": {"source": "container", "cpu_percent": 99.0, "rss_mb": 5120.0}}})
    return samples


@dataclass
class FixtureRunDir:
    """Stands in for :class:`~abtui.rundir.RunDir`: only paths are read."""

    root: Path = Path("runs/amp-vs-fp32-20250405-103000")

    @property
    def report_md(self) -> Path:
        return self.root / "report.md"


@dataclass
class FixtureExperiment:
    """The orchestrator's interface over a canned store; records every call made to it."""

    spec: ExperimentSpec
    store: Store
    manifest: Manifest
    rundir: FixtureRunDir = field(default_factory=FixtureRunDir)
    read_only: bool = False
    calls: list[str] = field(default_factory=list)
    pending: list[Any] = field(default_factory=list)

    @property
    def runs(self) -> list[str]:
        return list(self.store.runs)

    def wait(self, timeout: float | None = None) -> bool:
        return self.store.all_ended()

    def check_stalls(self, now: float | None = None) -> None:
        return None

    def stop_arms(self, grace_s: float = 10.0) -> None:
        self.calls.append("stop_arms")
        for state in self.store.runs.values():
            if state.status not in ArmStatus.ENDED:
                state.move(ArmStatus.STOPPED)
                state.version += 1

    def detach(self) -> None:
        self.calls.append("detach")

    def finish(self, keep: bool = False) -> None:
        self.calls.append(f"finish(keep={keep})")


def ingest(store: Store, run_id: str, t: float, record: dict[str, Any] | str) -> None:
    """Feed one line to a run as if its watcher had received it at time ``t``."""
    raw = record if isinstance(record, str) else json.dumps(record)
    store.run(run_id).ingest(raw.encode(), t)


def fixture_experiment(scenario: str = "running") -> FixtureExperiment:
    """``running`` (two arms mid-run, GPU telemetry), ``done`` (both ended), ``nogpu``."""
    spec = ExperimentSpec.model_validate(SPEC)
    store = Store()
    plans = {"fp32": (300, 0.62, 1.0, 289.0, 14200.0, 0), "amp": (400, 0.47, 1.15, 517.0, 8300.0, 1)}
    for i, (arm, plan) in enumerate(plans.items()):
        store.add_run(arm, arm, 0, spec.steps, (i,))
        last, per_step, speed, tput, mem, seed = plan
        if scenario == "done":
            last = spec.steps or last
        for t, rec in _records(arm, last, per_step, speed, tput, mem, seed):
            ingest(store, arm, t, rec)
        state = store.run(arm)
        state.move(ArmStatus.RUNNING)
        if scenario == "done":
            ingest(store, arm, state.last_time or T0, {"event": "final", "samples": 64000})
            state.exit = ArmExit(0, status=ArmStatus.DONE)
            state.move(ArmStatus.DONE)
    if scenario == "nogpu":
        store.notice("GPU telemetry unavailable: NVML Shared Library Not Found")
        store.add_telemetry({"kind": "sample", "v": 2, "t": T0 + 5, "gpus": [], "foreign": [],
                             "host": {"cpu_percent": 12.0, "mem_used_mb": 3000,
                                      "mem_total_mb": 7900}, "runs": {}})
    else:
        store.add_telemetry({"kind": "gpu_info", "t": T0, "available": True,
                             "reason_unavailable": None, "driver": None, "gpus": GPU_INFO})
        for sample in _telemetry(180):
            store.add_telemetry(cast(Sample, sample))  # canned samples of the documented shape
    # canned: only the keys the console reads
    manifest = cast(Manifest, {"experiment": spec.name, "created_at": T0, "status": "running",
                               "backend": "docker", "spec": SPEC,
                               "backend_facts": {"image": {"id": IMAGE_ID, "ref": SPEC["image"]}},
                               "runs": {a: {"arm": a, "gpus": [i]} for i, a in enumerate(plans)}})
    return FixtureExperiment(spec, store, manifest)


def fixture_differences(exp: Any = None) -> Differences:
    """The canned findings (the diff engine would run git; fixtures must not)."""
    return Differences(list(FINDINGS), telemetry_confounds=[FINDINGS[4].message])


def fixture_conclude(exp: Any, gates: list[str]) -> tuple[dict[str, Any], int]:
    """A canned report and exit code 0."""
    return dict(REPORT), 0


def fixture_app(scenario: str = "running", exp: FixtureExperiment | None = None,
                clock: Callable[[], float] = lambda: NOW, **options: Any) -> Any:
    """The console over a fixture experiment: frozen clock, no blink, canned slow parts."""
    from abtui.tui.app import make_app

    exp = exp or fixture_experiment(scenario)
    opts = {"findings": fixture_differences, "concluder": fixture_conclude, "clock": clock,
            "cursor_blink": False, "signals": False}
    opts.update(options)
    return make_app(exp, [], False, **opts)


async def settle(pilot: Any) -> None:
    """Let a Pilot-driven app finish what is pending: a frame, its workers, a frame."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
