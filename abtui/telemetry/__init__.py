"""Telemetry: NVML GPU sampling, clock-event reason decoding, host / arm CPU and memory.

No UI here: the experiment runs a :class:`TelemetrySampler` in a thread and
hands samples to the store; the front ends only read the store.
"""

from abtui.telemetry.nvml import NA, GpuInfo, Nvml, NvmlTelemetry
from abtui.telemetry.reasons import ClockEventReason, decode_names, describe
from abtui.telemetry.sampler import SamplerCost, TelemetrySampler
from abtui.telemetry.samples import read_lines, read_samples
from abtui.telemetry.summary import (
    ArmTelemetrySummary,
    TelemetrySummary,
    confounds,
    foreign_sentence,
    summarize,
)

__all__ = [
    "NA",
    "ArmTelemetrySummary",
    "ClockEventReason",
    "GpuInfo",
    "Nvml",
    "NvmlTelemetry",
    "SamplerCost",
    "TelemetrySampler",
    "confounds",
    "decode_names",
    "describe",
    "foreign_sentence",
    "read_lines",
    "read_samples",
    "summarize",
    "TelemetrySummary",
]
