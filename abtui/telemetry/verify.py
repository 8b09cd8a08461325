"""Check our NVML sample against ``nvidia-smi -q -x``: ``python -m abtui.telemetry.verify``.

Run on a GPU machine. Takes one sample with :class:`TelemetrySampler`, runs
``nvidia-smi -q -x`` right after, and prints one table per GPU: field, NVML
value, nvidia-smi value, match. Dynamic fields (temperature, clocks, power,
utilisation) are compared within a tolerance since the two reads are
milliseconds apart. Exit code 0 when every compared field matches, 1 when one
does not, 2 when there is no NVML or no nvidia-smi.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from abtui.telemetry.reasons import ClockEventReason, decode_names

# nvidia-smi tag suffix → our reason (after "clocks_event_reason_" / "clocks_throttle_reason_").
_SMI_REASONS = {
    "gpu_idle": ClockEventReason.GPU_IDLE,
    "applications_clocks_setting": ClockEventReason.APPLICATIONS_CLOCKS_SETTING,
    "sw_power_cap": ClockEventReason.SW_POWER_CAP,
    "hw_slowdown": ClockEventReason.HW_SLOWDOWN,
    "sync_boost": ClockEventReason.SYNC_BOOST,
    "sw_thermal_slowdown": ClockEventReason.SW_THERMAL_SLOWDOWN,
    "hw_thermal_slowdown": ClockEventReason.HW_THERMAL_SLOWDOWN,
    "hw_power_brake_slowdown": ClockEventReason.HW_POWER_BRAKE_SLOWDOWN,
    "display_clocks_setting": ClockEventReason.DISPLAY_CLOCK_SETTING,
}
_NUM = re.compile(r"^\s*(-?\d+(?:\.\d+)?)")


def _number(text: str | None) -> float | None:
    """``"45 C"`` → 45.0, ``"27.22 W"`` → 27.22, ``"N/A"`` → None."""
    m = _NUM.match(text or "")
    return float(m.group(1)) if m else None


def _first(gpu: ET.Element, *paths: str) -> str | None:
    for path in paths:
        el = gpu.find(path)
        if el is not None and el.text is not None and el.text.strip():
            return el.text.strip()
    return None


def _reasons(gpu: ET.Element) -> int | None:
    block = gpu.find("clocks_event_reasons")
    prefix = "clocks_event_reason_"
    if block is None:
        block, prefix = gpu.find("clocks_throttle_reasons"), "clocks_throttle_reason_"
    if block is None:
        return None
    mask, seen = 0, False
    for el in block:
        reason = _SMI_REASONS.get(el.tag.removeprefix(prefix))
        if reason is not None and el.text:
            seen = True
            if el.text.strip() == "Active":
                mask |= reason
    return mask if seen else None


def parse_nvidia_smi_xml(text: str) -> list[dict[str, Any]]:
    """``nvidia-smi -q -x`` output → one dict per GPU with our sample's field names."""
    root = ET.fromstring(text)
    gpus = []
    for gpu in root.findall("gpu"):

        def n(*paths: str, gpu: ET.Element = gpu) -> float | None:
            return _number(_first(gpu, *paths))

        pstate = _first(gpu, "performance_state")
        reasons = _reasons(gpu)
        gpus.append({
            "name": _first(gpu, "product_name"),
            "uuid": _first(gpu, "uuid"),
            "temp_c": n("temperature/gpu_temp"),
            "temp_slowdown_c": n("temperature/gpu_temp_slow_threshold"),
            "temp_shutdown_c": n("temperature/gpu_temp_max_threshold"),
            "sm_clock_mhz": n("clocks/sm_clock"),
            "mem_clock_mhz": n("clocks/mem_clock"),
            "sm_clock_max_mhz": n("max_clocks/sm_clock"),
            "mem_clock_max_mhz": n("max_clocks/mem_clock"),
            "power_w": n("gpu_power_readings/power_draw", "gpu_power_readings/average_power_draw",
                         "power_readings/power_draw"),
            "power_limit_w": n("gpu_power_readings/current_power_limit",
                               "power_readings/enforced_power_limit"),
            "util_gpu": n("utilization/gpu_util"),
            "util_mem": n("utilization/memory_util"),
            "mem_used_mb": n("fb_memory_usage/used"),
            "mem_total_mb": n("fb_memory_usage/total"),
            "pstate": int(pstate[1:]) if pstate and pstate[1:].isdigit() else None,
            "fan_percent": n("fan_speed"),
            "reasons": reasons,
            "reason_names": decode_names(reasons),
        })
    return gpus


def _within(abs_tol: float, rel_tol: float = 0.0) -> Callable[[Any, Any], bool]:
    def ok(a: Any, b: Any) -> bool:
        return abs(float(a) - float(b)) <= max(abs_tol, rel_tol * max(abs(float(a)), abs(float(b))))
    return ok


def _equal(a: Any, b: Any) -> bool:
    return a == b


#: field → how close NVML and nvidia-smi must be (reads are ms apart; dynamic fields move).
TOLERANCE: dict[str, Callable[[Any, Any], bool]] = {
    "name": _equal, "uuid": _equal, "pstate": _equal,
    "reasons": _equal, "reason_names": lambda a, b: set(a) == set(b),
    "temp_c": _within(2), "temp_slowdown_c": _within(0), "temp_shutdown_c": _within(0),
    "sm_clock_mhz": _within(30, 0.03), "mem_clock_mhz": _within(30, 0.03),
    "sm_clock_max_mhz": _within(0), "mem_clock_max_mhz": _within(1),
    "power_w": _within(15, 0.10), "power_limit_w": _within(0.5),
    "util_gpu": _within(10), "util_mem": _within(10),
    "mem_used_mb": _within(64, 0.02), "mem_total_mb": _within(1),
    "fan_percent": _within(5),
}


@dataclass(frozen=True)
class Check:
    """One row of the table. ``match`` is None when a side has no value (not compared)."""

    field: str
    nvml: Any
    smi: Any
    match: bool | None


def compare(ours: dict[str, Any], smi: dict[str, Any]) -> list[Check]:
    """Compare one GPU's sample entry with nvidia-smi's values, field by field."""
    rows = []
    for key, ok in TOLERANCE.items():
        a, b = ours.get(key), smi.get(key)
        rows.append(Check(key, a, b, None if a is None or b is None else bool(ok(a, b))))
    return rows


def format_table(index: int, rows: list[Check]) -> str:
    """A plain-text table: field, NVML, nvidia-smi, match (yes / NO / -)."""
    lines = [f"GPU {index}", f"  {'field':<18} {'NVML':>26} {'nvidia-smi':>26}  match"]
    for r in rows:
        mark = "-" if r.match is None else ("yes" if r.match else "NO")
        lines.append(f"  {r.field:<18} {str(r.nvml):>26.26} {str(r.smi):>26.26}  {mark}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point: print the comparison; exit 0 all match, 1 a mismatch, 2 cannot check."""
    ap = argparse.ArgumentParser(prog="python -m abtui.telemetry.verify", description=__doc__.split("\n")[0])
    ap.add_argument("--nvidia-smi", default="nvidia-smi", help="path of nvidia-smi")
    args = ap.parse_args(argv)
    from abtui.telemetry.sampler import TelemetrySampler

    sampler = TelemetrySampler(process_interval=3600)
    if not sampler.available:
        print(f"cannot verify: {sampler.reason_unavailable}", file=sys.stderr)
        return 2
    exe = shutil.which(args.nvidia_smi)
    if exe is None:
        print(f"cannot verify: {args.nvidia_smi} not found", file=sys.stderr)
        return 2
    sampler.sample()  # warm every query once (first calls take 1-3 ms each)
    sample = sampler.sample()
    try:
        out = subprocess.run([exe, "-q", "-x"], capture_output=True, text=True, timeout=60, check=True)
        smi = parse_nvidia_smi_xml(out.stdout)
    except (subprocess.SubprocessError, OSError, ET.ParseError) as err:
        print(f"cannot verify: nvidia-smi -q -x failed: {err}", file=sys.stderr)
        return 2
    by_uuid = {g["uuid"]: g for g in smi}
    failed = False
    for pos, ours in enumerate(sample["gpus"]):
        theirs = by_uuid.get(ours.get("uuid")) or (smi[pos] if pos < len(smi) else {})
        rows = compare(ours, theirs)
        failed |= any(r.match is False for r in rows)
        print(format_table(ours["index"], rows))
    print(f"sample cost: {sample['cost_ms']:.3f} ms wall, {sample['cost_cpu_ms']:.3f} ms CPU")
    sampler.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
