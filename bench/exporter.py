"""The Prometheus endpoint's cost: one scrape of a run with 8 GPUs and 2 arms.

A store like a live monitor's (2 arms of 10 metrics, an hour of 1 Hz telemetry samples of
8 fake H100s from the fake NVML of tests/fake_nvml.py), its ExperimentCollector
rendered by prometheus_client's ``generate_latest`` as Prometheus' scrape does, CPU time,
best of several. The share of a core at a 15 s scrape interval is that time / 15 s.
Baseline: one telemetry sample of the same 8 GPUs (what the monitor pays every second).
"""

from __future__ import annotations

import json
import time

from common import Figure, at_most, ratio
from telemetry import _fake_module

from abtui.experiment.exporter import ExperimentCollector

NAME = "exporter"
TARGET_PCT = 0.2
SCRAPE_S = 15.0
GPUS = 8


def run(quick: bool) -> list[Figure]:
    from prometheus_client.exposition import generate_latest
    from prometheus_client.registry import CollectorRegistry

    from abtui.store import Store
    from abtui.telemetry import Nvml, NvmlTelemetry, TelemetrySampler

    fake = _fake_module()
    nvml = fake.FakeNvml([fake.h100(i) for i in range(GPUS)])
    sampler = TelemetrySampler(nvml=NvmlTelemetry(Nvml(module=nvml)),
                               gpu_arms={"A": list(range(4)), "B": list(range(4, 8))})
    store = Store()
    for arm in ("A", "B"):
        st = store.add_run(arm, arm)
        lines = [json.dumps({"step": s, "loss": 1 / s, "accuracy": 0.5, "lr": 1e-3,
                             "throughput_samples_per_sec": 1000.0, "step_time_ms": 50.0,
                             "gpu_memory_mb": 40000, "grad_norm": 1.0, "tokens": 1e6,
                             "mfu": 0.4}).encode() for s in range(1, 5001)]
        st.ingest_many(lines, 1.7e9)
    store.add_telemetry({"kind": "gpu_info", **sampler.gpu_info()})
    samples = 300 if quick else 3600
    for _ in range(samples):
        store.add_telemetry({"kind": "sample", **sampler.sample()})
    reg = CollectorRegistry(auto_describe=False)
    reg.register(ExperimentCollector(store, "bench"))
    generate_latest(reg)  # the first scrape counts the clock events of every sample so far
    best, size = 1e9, 0
    for _ in range(20 if quick else 100):
        t0 = time.process_time()
        size = len(generate_latest(reg))
        best = min(best, time.process_time() - t0)
    sample_best = 1e9
    for _ in range(20):
        t0 = time.process_time()
        sampler.sample()
        sample_best = min(sample_best, time.process_time() - t0)
    pct = best / SCRAPE_S * 100
    return [
        Figure("one scrape, 8 GPUs + 2 arms (CPU)", best * 1000, "ms",
               baseline="one telemetry sample of 8 GPUs", baseline_value=sample_best * 1000,
               ratio=ratio(best, sample_best),
               note=f"{size:,} bytes of exposition; {samples} samples in the store"),
        Figure("endpoint cost at a 15 s scrape interval", pct, "% of a core",
               target=f"<= {TARGET_PCT} %", met=at_most(pct, TARGET_PCT),
               note="one scrape's CPU time / 15 s"),
    ]
