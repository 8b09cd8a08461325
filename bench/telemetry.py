"""Telemetry: one full sample of 8 GPUs, once warm.

No GPU here, so the sampler (abtui/telemetry) runs against the fake pynvml module of
tests/fake_nvml.py, answering like 8 H100s: this times abtui's own per-GPU code
path and the host part (psutil: host CPU/memory, the arms' process trees, two real child
processes standing in for arms). Every 5th sample also lists GPU processes, as in real runs.
Baseline: the same sampler with NVML unavailable (host part only). A real NVML query costs
a few microseconds once warm (six queries measured at ~12 us on an H100); the figure on a
GPU machine is pending.
"""

from __future__ import annotations

import importlib.util
import statistics
import subprocess
import time

from common import REPO, Figure, at_most, pending, ratio

NAME = "telemetry"
TARGET_MS = 1.0
GPUS = 8


def _fake_module():  # type: ignore[no-untyped-def]
    path = REPO / "tests" / "fake_nvml.py"
    spec = importlib.util.spec_from_file_location("abtui_bench_fake_nvml", path)
    if spec is None or spec.loader is None or not path.exists():
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _times_ms(sampler, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    for _ in range(10):  # warm: first queries, static facts, process names
        sampler.sample()
    out = []
    for _ in range(n):  # CPU time: wall time on a shared 2-core machine is mostly waiting
        t0 = time.process_time()
        sampler.sample()
        out.append((time.process_time() - t0) * 1000)
    return out


def run(quick: bool) -> list[Figure]:
    try:
        from abtui.telemetry import Nvml, NvmlTelemetry, TelemetrySampler
        fake = _fake_module()
    except ImportError as exc:
        return [pending("sample of 8 GPUs (fake NVML)", "ms", f"<= {TARGET_MS:g} ms", str(exc))]
    if fake is None:
        return [pending("sample of 8 GPUs (fake NVML)", "ms", f"<= {TARGET_MS:g} ms",
                        "tests/fake_nvml.py (the fake NVML) not found")]
    n = 100 if quick else 500
    arms = [subprocess.Popen(["sleep", "600"]) for _ in range(2)]
    try:
        owners = {"A": [arms[0].pid], "B": [arms[1].pid]}
        gpu_arms = {"A": list(range(GPUS // 2)), "B": list(range(GPUS // 2, GPUS))}
        nvml = fake.FakeNvml([fake.h100(i) for i in range(GPUS)])
        full = TelemetrySampler(nvml=NvmlTelemetry(Nvml(module=nvml)), gpu_arms=gpu_arms,
                                arm_pids=owners)
        host = TelemetrySampler(nvml=NvmlTelemetry(Nvml(module=fake.FakeNvml([], init_error=9))),
                                arm_pids=owners)
        full_ms, host_ms = _times_ms(full, n), _times_ms(host, n)
        calls = sum(nvml.calls.values())
    finally:
        for p in arms:
            p.kill()
            p.wait()
    mean, med = statistics.fmean(full_ms), statistics.median(full_ms)
    host_mean = statistics.fmean(host_ms)
    return [
        Figure(f"sample of {GPUS} GPUs + host, fake NVML (mean)", mean, "ms",
               target=f"<= {TARGET_MS:g} ms", met=at_most(mean, TARGET_MS),
               baseline="host part only (NVML unavailable)", baseline_value=host_mean,
               ratio=ratio(mean, host_mean),
               note=f"CPU time; {n} samples once warm, every 5th lists processes; median {med:.3f} ms, "
                    f"max {max(full_ms):.3f} ms; {calls / (n + 10):.0f} fake NVML calls a sample"),
        Figure(f"per-GPU code path, fake NVML ({GPUS} GPUs)", (mean - host_mean) / GPUS, "ms/GPU",
               note="(full - host) / GPUs: abtui's per-GPU work plus the fake's Python calls"),
        pending(f"sample of {GPUS} GPUs, real NVML", "ms", f"<= {TARGET_MS:g} ms",
                "pending: needs a GPU machine (none here)"),
    ]
