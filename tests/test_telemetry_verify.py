"""The GPU-machine tools: nvidia-smi XML parsing / comparison, and both entry points on this machine."""

from __future__ import annotations

import json
import subprocess
import sys

from abtui.telemetry import Nvml
from abtui.telemetry.verify import compare, format_table, parse_nvidia_smi_xml

# Trimmed `nvidia-smi -q -x` of a recent driver (element names and units as nvidia-smi writes them).
NEW_DRIVER = """<?xml version="1.0" ?>
<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">
<nvidia_smi_log>
  <driver_version>550.54.15</driver_version>
  <gpu id="00000000:18:00.0">
    <product_name>NVIDIA H100 80GB HBM3</product_name>
    <uuid>GPU-00000001-fake-h100</uuid>
    <fan_speed>N/A</fan_speed>
    <performance_state>P0</performance_state>
    <clocks_event_reasons>
      <clocks_event_reason_gpu_idle>Not Active</clocks_event_reason_gpu_idle>
      <clocks_event_reason_applications_clocks_setting>Not Active</clocks_event_reason_applications_clocks_setting>
      <clocks_event_reason_sw_power_cap>Active</clocks_event_reason_sw_power_cap>
      <clocks_event_reason_hw_slowdown>Not Active</clocks_event_reason_hw_slowdown>
      <clocks_event_reason_hw_thermal_slowdown>Not Active</clocks_event_reason_hw_thermal_slowdown>
      <clocks_event_reason_hw_power_brake_slowdown>Not Active</clocks_event_reason_hw_power_brake_slowdown>
      <clocks_event_reason_sync_boost>Not Active</clocks_event_reason_sync_boost>
      <clocks_event_reason_sw_thermal_slowdown>Not Active</clocks_event_reason_sw_thermal_slowdown>
      <clocks_event_reason_display_clocks_setting>Not Active</clocks_event_reason_display_clocks_setting>
    </clocks_event_reasons>
    <fb_memory_usage><total>81559 MiB</total><reserved>434 MiB</reserved><used>20011 MiB</used></fb_memory_usage>
    <utilization><gpu_util>100 %</gpu_util><memory_util>63 %</memory_util></utilization>
    <temperature>
      <gpu_temp>65 C</gpu_temp>
      <gpu_temp_max_threshold>92 C</gpu_temp_max_threshold>
      <gpu_temp_slow_threshold>87 C</gpu_temp_slow_threshold>
    </temperature>
    <gpu_power_readings>
      <power_state>P0</power_state>
      <power_draw>698.51 W</power_draw>
      <current_power_limit>700.00 W</current_power_limit>
    </gpu_power_readings>
    <clocks><graphics_clock>1395 MHz</graphics_clock><sm_clock>1395 MHz</sm_clock><mem_clock>2619 MHz</mem_clock></clocks>
    <max_clocks><graphics_clock>1980 MHz</graphics_clock><sm_clock>1980 MHz</sm_clock><mem_clock>2619 MHz</mem_clock></max_clocks>
  </gpu>
</nvidia_smi_log>
"""

OLD_DRIVER = """<nvidia_smi_log><gpu id="0">
  <product_name>Tesla V100-SXM2-16GB</product_name><uuid>GPU-v100</uuid>
  <performance_state>P0</performance_state><fan_speed>N/A</fan_speed>
  <clocks_throttle_reasons>
    <clocks_throttle_reason_gpu_idle>Not Active</clocks_throttle_reason_gpu_idle>
    <clocks_throttle_reason_sw_power_cap>Active</clocks_throttle_reason_sw_power_cap>
    <clocks_throttle_reason_hw_thermal_slowdown>Active</clocks_throttle_reason_hw_thermal_slowdown>
  </clocks_throttle_reasons>
  <power_readings><power_draw>299.10 W</power_draw><enforced_power_limit>300.00 W</enforced_power_limit></power_readings>
</gpu></nvidia_smi_log>"""

OURS = {"index": 1, "name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-00000001-fake-h100", "temp_c": 64,
        "temp_slowdown_c": 87, "temp_shutdown_c": 92, "sm_clock_mhz": 1380, "sm_clock_max_mhz": 1980,
        "mem_clock_mhz": 2619, "mem_clock_max_mhz": 2619, "power_w": 699.12, "power_limit_w": 700.0,
        "util_gpu": 100, "util_mem": 63, "mem_used_mb": 20011, "mem_total_mb": 81559, "pstate": 0,
        "fan_percent": None, "reasons": 4, "reason_names": ["sw_power_cap"]}


def test_parse_recent_driver_xml():
    (g,) = parse_nvidia_smi_xml(NEW_DRIVER)
    assert g["reasons"] == 0x4 and g["reason_names"] == ["sw_power_cap"]
    assert g["power_w"] == 698.51 and g["power_limit_w"] == 700.0
    assert g["sm_clock_mhz"] == 1395 and g["sm_clock_max_mhz"] == 1980
    assert g["temp_c"] == 65 and g["temp_slowdown_c"] == 87 and g["temp_shutdown_c"] == 92
    assert g["mem_used_mb"] == 20011 and g["pstate"] == 0 and g["fan_percent"] is None


def test_parse_pre_535_driver_xml():
    (g,) = parse_nvidia_smi_xml(OLD_DRIVER)
    assert g["reasons"] == 0x44 and g["reason_names"] == ["sw_power_cap", "hw_thermal_slowdown"]
    assert g["power_w"] == 299.1 and g["power_limit_w"] == 300.0 and g["sm_clock_mhz"] is None


def test_compare_within_tolerance_and_flags_a_real_difference():
    (smi,) = parse_nvidia_smi_xml(NEW_DRIVER)
    rows = {r.field: r for r in compare(OURS, smi)}
    assert all(r.match is not False for r in rows.values()), [r for r in rows.values() if r.match is False]
    assert rows["fan_percent"].match is None  # N/A on both sides: not compared
    assert rows["sm_clock_mhz"].match is True  # 1380 vs 1395: reads are ms apart
    wrong = dict(OURS, reasons=0, reason_names=[], power_w=520.0)
    rows = {r.field: r for r in compare(wrong, smi)}
    assert rows["reason_names"].match is False and rows["power_w"].match is False
    table = format_table(1, list(rows.values()))
    assert "GPU 1" in table and "power_w" in table and " NO" in table


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=120)


def test_entry_points_on_this_machine(tmp_path):
    out = tmp_path / "trace.jsonl"
    if Nvml().available:  # a GPU machine: record for real
        r = _run("abtui.telemetry.record", str(out), "--seconds", "2", "--interval", "0.5")
        assert r.returncode == 0, r.stderr
        assert json.loads(out.read_text().splitlines()[1])["gpus"]
        return
    r = _run("abtui.telemetry.verify")
    assert r.returncode == 2 and r.stderr.startswith("cannot verify: ") and "Traceback" not in r.stderr
    r = _run("abtui.telemetry.record", str(out), "--seconds", "1")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]  # one line
    assert not out.exists()
    r = _run("abtui.telemetry.record", str(out), "--seconds", "1.2", "--interval", "0.5", "--allow-no-gpu")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines[0]["kind"] == "gpu_info" and len(lines) >= 3
    assert "samples to" in r.stdout
