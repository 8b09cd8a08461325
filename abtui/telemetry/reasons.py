"""Clock-event (throttle) reasons: NVML's bitmask decoded into names and plain words.

NVML reports why the SM clock is below its maximum as a bitmask
(``nvmlDeviceGetCurrentClocksEventReasons``; called "throttle reasons" before
driver 535). The bit values are those of nvidia-ml-py's ``nvmlClocksEventReason*``
constants (``nvmlClocksThrottleReason*`` for the last two, which exist only under
the old name); ``tests/test_telemetry_reasons.py`` checks them against pynvml.

Groups used by the summary and the confound finder:

- idle: ``gpu_idle`` alone — the GPU had nothing to do; such samples are not
  counted as throttled time.
- power: ``sw_power_cap`` — the board hit its enforced power limit and the
  driver lowered clocks (normal for a dense bf16 matmul at 700 W on an H100).
- thermal: ``sw_thermal_slowdown``, ``hw_thermal_slowdown``, ``hw_slowdown``,
  ``hw_power_brake_slowdown`` — heat or an external brake signal; never normal.
"""

from __future__ import annotations

import functools
from enum import IntFlag


class ClockEventReason(IntFlag):
    """One bit of NVML's clock-event reasons mask."""

    GPU_IDLE = 0x1
    APPLICATIONS_CLOCKS_SETTING = 0x2
    SW_POWER_CAP = 0x4
    HW_SLOWDOWN = 0x8
    SYNC_BOOST = 0x10
    SW_THERMAL_SLOWDOWN = 0x20
    HW_THERMAL_SLOWDOWN = 0x40
    HW_POWER_BRAKE_SLOWDOWN = 0x80
    DISPLAY_CLOCK_SETTING = 0x100
    BOARD_LIMIT = 0x200
    RELIABILITY = 0x400


#: Plain words for each reason, as a person reading a report would say them.
REASON_WORDS: dict[ClockEventReason, str] = {
    ClockEventReason.GPU_IDLE: "GPU idle",
    ClockEventReason.APPLICATIONS_CLOCKS_SETTING: "applications clocks setting",
    ClockEventReason.SW_POWER_CAP: "SW power cap",
    ClockEventReason.HW_SLOWDOWN: "HW slowdown",
    ClockEventReason.SYNC_BOOST: "sync boost",
    ClockEventReason.SW_THERMAL_SLOWDOWN: "SW thermal slowdown",
    ClockEventReason.HW_THERMAL_SLOWDOWN: "HW thermal slowdown",
    ClockEventReason.HW_POWER_BRAKE_SLOWDOWN: "HW power brake slowdown",
    ClockEventReason.DISPLAY_CLOCK_SETTING: "display clock setting",
    ClockEventReason.BOARD_LIMIT: "board limit",
    ClockEventReason.RELIABILITY: "reliability",
}

IDLE = ClockEventReason.GPU_IDLE
POWER = ClockEventReason.SW_POWER_CAP
THERMAL = (
    ClockEventReason.SW_THERMAL_SLOWDOWN
    | ClockEventReason.HW_THERMAL_SLOWDOWN
    | ClockEventReason.HW_SLOWDOWN
    | ClockEventReason.HW_POWER_BRAKE_SLOWDOWN
)

_ORDER = sorted(REASON_WORDS, key=int)


def reason_name(reason: ClockEventReason) -> str:
    """Snake-case name of one reason, as written in telemetry.jsonl: ``sw_power_cap``."""
    return (reason.name or f"unknown_{int(reason):#x}").lower()


def reason_from_name(name: str) -> ClockEventReason | None:
    """The reason for a snake-case name, or None if it is not a known one."""
    try:
        return ClockEventReason[name.upper()]
    except KeyError:
        return None


_BITS = [(int(r), reason_name(r)) for r in _ORDER]  # plain ints: Flag's & is slow
_KNOWN = sum(bit for bit, _ in _BITS)


@functools.lru_cache(maxsize=256)  # a GPU reports a few masks, again and again
def _names(mask: int) -> tuple[str, ...]:
    names = [name for bit, name in _BITS if mask & bit]
    rest = mask & ~_KNOWN
    bit = 1
    while rest:
        if rest & bit:
            names.append(f"unknown_{bit:#x}")
            rest &= ~bit
        bit <<= 1
    return tuple(names)


def decode_names(mask: int | None) -> list[str] | None:
    """Bitmask → snake-case names, lowest bit first; unknown bits as ``unknown_0x800``.

    ``None`` (reasons not available) stays ``None``; ``0`` gives ``[]`` (full clocks).
    """
    if mask is None:
        return None
    return list(_names(int(mask)))


def describe(mask: int | None) -> str:
    """Bitmask → plain words: ``0x44`` → ``"SW power cap, HW thermal slowdown"``.

    ``0`` reads ``"none (full clocks)"``; ``None`` reads ``"N/A"``.
    """
    if mask is None:
        return "N/A"
    if mask == 0:
        return "none (full clocks)"
    words = [REASON_WORDS[r] for r in _ORDER if mask & r]
    words += [n.replace("_", " ") for n in (decode_names(mask) or []) if n.startswith("unknown_")]
    return ", ".join(words)


def is_idle(mask: int | None, util_gpu: float | None = None) -> bool:
    """True when a GPU sample is idle: reasons exactly ``gpu_idle``, or utilisation 0 %."""
    return mask == int(IDLE) or util_gpu == 0


def is_power_capped(mask: int | None) -> bool:
    """True when the SW power cap bit is set."""
    return bool(mask is not None and mask & POWER)


def is_thermally_throttled(mask: int | None) -> bool:
    """True when any thermal / hardware slowdown bit is set."""
    return bool(mask is not None and mask & THERMAL)
