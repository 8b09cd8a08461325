"""Clock-event reason decoding, checked against nvidia-ml-py's own constants."""

from __future__ import annotations

import pynvml
import pytest

from abtui.telemetry.reasons import (
    ClockEventReason,
    decode_names,
    describe,
    is_idle,
    is_power_capped,
    is_thermally_throttled,
    reason_from_name,
)


@pytest.mark.parametrize(
    ("mask", "names", "words"),
    [
        (0x0, [], "none (full clocks)"),
        (0x1, ["gpu_idle"], "GPU idle"),
        (0x4, ["sw_power_cap"], "SW power cap"),
        (0x44, ["sw_power_cap", "hw_thermal_slowdown"], "SW power cap, HW thermal slowdown"),
        (0x80, ["hw_power_brake_slowdown"], "HW power brake slowdown"),
        (0x28, ["hw_slowdown", "sw_thermal_slowdown"], "HW slowdown, SW thermal slowdown"),
        (0x100, ["display_clock_setting"], "display clock setting"),
        (0x5, ["gpu_idle", "sw_power_cap"], "GPU idle, SW power cap"),
        (0x804, ["sw_power_cap", "unknown_0x800"], "SW power cap, unknown 0x800"),
        (None, None, "N/A"),
    ],
)
def test_real_masks_decode_to_names_and_words(mask, names, words):
    assert decode_names(mask) == names
    assert describe(mask) == words


def test_bits_are_pynvml_constants():
    event = {
        "GPU_IDLE": "GpuIdle",
        "APPLICATIONS_CLOCKS_SETTING": "ApplicationsClocksSetting",
        "SW_POWER_CAP": "SwPowerCap",
        "HW_SLOWDOWN": "HwSlowdown",
        "SYNC_BOOST": "SyncBoost",
        "SW_THERMAL_SLOWDOWN": "SwThermalSlowdown",
        "HW_THERMAL_SLOWDOWN": "HwThermalSlowdown",
        "HW_POWER_BRAKE_SLOWDOWN": "HwPowerBrakeSlowdown",
        "DISPLAY_CLOCK_SETTING": "DisplayClockSetting",
    }
    for ours, theirs in event.items():
        assert ClockEventReason[ours] == getattr(pynvml, f"nvmlClocksEventReason{theirs}")
        assert ClockEventReason[ours] == getattr(pynvml, f"nvmlClocksThrottleReason{theirs}")
    # these two exist only under the old name
    assert pynvml.nvmlClocksThrottleReasonBoardLimit == ClockEventReason.BOARD_LIMIT
    assert pynvml.nvmlClocksThrottleReasonReliability == ClockEventReason.RELIABILITY
    every = 0
    for r in ClockEventReason:
        every |= r
    assert every == pynvml.nvmlClocksThrottleReasonAll
    assert pynvml.nvmlClocksEventReasonAll & ~every == 0


def test_names_round_trip():
    for r in ClockEventReason:
        (name,) = decode_names(int(r))
        assert reason_from_name(name) == r
    assert reason_from_name("warp_drive") is None


def test_groups():
    assert is_idle(0x1) and is_idle(0x0, util_gpu=0)
    assert not is_idle(0x5) and not is_idle(0x0, util_gpu=97) and not is_idle(None, None)
    assert is_power_capped(0x4) and is_power_capped(0x44) and not is_power_capped(0x40)
    assert not is_power_capped(None)
    for mask in (0x8, 0x20, 0x40, 0x80):
        assert is_thermally_throttled(mask)
    assert not is_thermally_throttled(0x4) and not is_thermally_throttled(0x1)
