"""The GPU check's dry run only: ``nvidia-smi -q -x`` for the fake H100 of
``bench/gpu_fake/pynvml.py``, in the layout of driver 550's XML (the parts
``abtui.telemetry.verify`` reads), from the same values the fake NVML answers."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pynvml  # noqa: E402 - the fake beside this file

MIB = 1 << 20


def xml() -> str:
    g = pynvml.GPU
    reasons = "".join(
        f"<clocks_event_reason_{name}>{'Active' if g['reasons'] & bit else 'Not Active'}"
        f"</clocks_event_reason_{name}>"
        for name, bit in (("gpu_idle", 0x1), ("applications_clocks_setting", 0x2),
                          ("sw_power_cap", 0x4), ("hw_slowdown", 0x8), ("sync_boost", 0x10),
                          ("sw_thermal_slowdown", 0x20), ("hw_thermal_slowdown", 0x40),
                          ("hw_power_brake_slowdown", 0x80), ("display_clocks_setting", 0x100)))
    return (
        '<?xml version="1.0" ?><nvidia_smi_log><driver_version>550.54.15</driver_version>'
        f"<attached_gpus>1</attached_gpus><gpu id=\"00000000:19:00.0\">"
        f"<product_name>{g['name']}</product_name><uuid>{g['uuid']}</uuid>"
        f"<fan_speed>N/A</fan_speed><performance_state>P{g['pstate']}</performance_state>"
        f"<clocks_event_reasons>{reasons}</clocks_event_reasons>"
        f"<fb_memory_usage><total>{g['total'] // MIB} MiB</total>"
        f"<used>{g['used'] // MIB} MiB</used></fb_memory_usage>"
        f"<utilization><gpu_util>{g['util'][0]} %</gpu_util>"
        f"<memory_util>{g['util'][1]} %</memory_util></utilization>"
        f"<temperature><gpu_temp>{g['temp']} C</gpu_temp>"
        f"<gpu_temp_max_threshold>{g['shutdown']} C</gpu_temp_max_threshold>"
        f"<gpu_temp_slow_threshold>{g['slowdown']} C</gpu_temp_slow_threshold></temperature>"
        f"<gpu_power_readings><power_draw>{g['power_mw'] / 1000:.2f} W</power_draw>"
        f"<current_power_limit>{g['limit_mw'] / 1000:.2f} W</current_power_limit>"
        "</gpu_power_readings>"
        f"<clocks><sm_clock>{g['sm']} MHz</sm_clock><mem_clock>{g['mem']} MHz</mem_clock></clocks>"
        f"<max_clocks><sm_clock>{g['sm_max']} MHz</sm_clock>"
        f"<mem_clock>{g['mem_max']} MHz</mem_clock></max_clocks>"
        "</gpu></nvidia_smi_log>")


if __name__ == "__main__":
    print(xml())
