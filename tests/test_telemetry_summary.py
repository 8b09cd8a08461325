"""Per-arm telemetry summaries and confound sentences, on the H100 fixture and edge cases.

The fixture is SYNTHESISED from documented H100 behaviour (see
tests/fixtures/telemetry/README.md); ``synthesise_h100_trace`` below is how it was
made, and a test keeps the file in step with the sampler's writer.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest

from abtui.telemetry import confounds, read_samples, summarize
from abtui.telemetry.reasons import decode_names
from abtui.telemetry.samples import SampleWriter

FIXTURE = Path(__file__).parent / "fixtures" / "telemetry" / "h100-synthesised-resnet-vs-matmul.jsonl"
T0 = 1732300000.0
IDLE_HEAD, BUSY, IDLE_TAIL = 5, 60, 5


def _gpu_info(index: int) -> dict[str, Any]:
    return {"index": index, "name": "NVIDIA H100 80GB HBM3",
            "uuid": f"GPU-5y17e5ed-0000-4000-8000-00000000000{index}", "mem_total_mb": 81559,
            "sm_clock_max_mhz": 1980, "mem_clock_max_mhz": 2619, "temp_slowdown_c": 87,
            "temp_shutdown_c": 92, "power_limit_w": 700.0}


def synthesise_h100_trace(path: Path) -> None:
    """Arm A: ResNet-50 at ~520 W, reasons 0x0. Arm B: bf16 8192² matmul at 700 W, 0x4,
    SM 1365-1395 of 1980 MHz, power violation +~1 s per s. Idle (0x1) before and after."""
    w = SampleWriter(path)
    w.write_info({"kind": "gpu_info", "t": T0 - 0.5, "available": True, "reason_unavailable": None,
                  "driver": "550.54.15", "gpus": [_gpu_info(0), _gpu_info(1)]})
    energy = [4_210_000_000, 3_980_000_000]
    viol = [12_000_000_000, 12_000_000_000]
    temp = [33.0, 34.0]
    for n in range(IDLE_HEAD + BUSY + IDLE_TAIL):
        busy = IDLE_HEAD <= n < IDLE_HEAD + BUSY
        wobble = (n * 7) % 5 - 2  # deterministic jitter, -2..2
        gpus = []
        for i in (0, 1):
            if not busy:
                g = {"sm": 345, "power": 69.5 + wobble * 0.3, "util": (0, 0), "reasons": 0x1,
                     "mem_used": 4 if n < IDLE_HEAD else 20011 if i else 18500}
            elif i == 0:  # ResNet-50 training
                g = {"sm": 1980, "power": 520.0 + wobble * 4.5, "util": (97 + wobble % 3, 41),
                     "reasons": 0x0, "mem_used": 18500}
            else:  # sustained bf16 matmul: held at the 700 W cap
                g = {"sm": 1380 + 15 * (wobble // 2 if wobble else 0), "power": 699.0 + wobble * 0.4,
                     "util": (100, 63), "reasons": 0x4, "mem_used": 20011}
                viol[1] += 990_000_000 + wobble * 5_000_000
            target = (58.0 if i == 0 else 71.0) if busy else 34.0
            temp[i] += (target - temp[i]) * 0.15
            energy[i] += int(g["power"] * 1000)  # mJ over one second
            entry = {"index": i, "temp_c": round(temp[i]), "sm_clock_mhz": g["sm"], "mem_clock_mhz": 2619,
                     "power_w": round(g["power"], 2), "util_gpu": g["util"][0], "util_mem": g["util"][1],
                     "mem_used_mb": g["mem_used"], "pstate": 0, "fan_percent": None,
                     "reasons": g["reasons"], "reason_names": decode_names(g["reasons"]),
                     "violation_power_ns": viol[i], "violation_thermal_ns": 0, "energy_mj": energy[i],
                     "run": "AB"[i]}
            entry.update({k: v for k, v in _gpu_info(i).items() if k != "index"})
            if n % 5 == 0:
                entry["processes"] = ([{"pid": 41001 + i, "used_mb": g["mem_used"] - 500}]
                                      if IDLE_HEAD <= n <= IDLE_HEAD + BUSY else [])
            gpus.append(entry)
        w.write_sample({
            "kind": "sample", "v": 2, "t": round(T0 + n + 0.001 * (n % 3), 3),
            "host": {"cpu_percent": 31.5 + wobble if busy else 2.0, "mem_used_mb": 40960, "mem_total_mb": 2063731},
            "gpus": gpus,
            "runs": {"A": {"source": "container", "cpu_percent": 180.0 + wobble if busy else 0.5,
                           "rss_mb": 6100.0, "mem_limit_mb": None, "pids": 9},
                     "B": {"source": "container", "cpu_percent": 99.0 + wobble if busy else 0.5,
                           "rss_mb": 2900.0, "mem_limit_mb": None, "pids": 1}},
            "foreign": [], "cost_ms": 0.41, "cost_cpu_ms": 0.39,
        })
    w.close()


def test_the_fixture_written_by_version_1_reads_as_todays_writer_format(tmp_path):
    """The fixture is the trace as telemetry.jsonl's first format wrote it (``arm``,
    ``arms``; no ``v``): read back, it is exactly what today's writer writes."""
    fresh = tmp_path / "trace.jsonl"
    synthesise_h100_trace(fresh)
    old = FIXTURE.read_text()
    assert '"v":' not in old and '"arm":"A"' in old and '"arms":' in old
    assert '"run":"A"' in fresh.read_text() and '"arm"' not in fresh.read_text()
    assert list(read_samples(FIXTURE)) == list(read_samples(fresh))


@pytest.fixture(scope="module")
def samples() -> list[dict[str, Any]]:
    return list(read_samples(FIXTURE))


def test_power_capped_arm_and_full_clock_arm(samples):
    s = summarize(samples, run_ids=["A", "B"])
    a, b = s["A"], s["B"]
    assert a["gpu_samples"] == b["gpu_samples"] == 70
    assert a["busy_samples"] == b["busy_samples"] == 60  # idle 0x1 samples excluded
    assert b["power_capped_share"] == 1.0 and b["reason_share"] == {"sw_power_cap": 1.0}
    assert a["power_capped_share"] == 0.0 and a["reason_share"] == {}
    assert a["thermal_share"] == b["thermal_share"] == 0.0
    assert b["sm_clock_rel_mean"] == pytest.approx(1380 / 1980, abs=0.01)
    assert a["sm_clock_rel_mean"] == 1.0
    assert b["power_mean_w"] == pytest.approx(699, abs=1) and b["power_max_w"] <= 700
    assert a["power_mean_w"] == pytest.approx(520, abs=5)
    assert b["violation_power_s"] == pytest.approx(60 * 0.99, rel=0.02)  # ~1 s per s
    assert a["violation_power_s"] == 0
    assert b["temp_max_c"] > a["temp_max_c"] >= 50
    assert a["gpu_models"] == b["gpu_models"] == ["NVIDIA H100 80GB HBM3"]
    assert a["sm_clock_max_mhz"] == [1980] and a["power_limit_w"] == [700.0]
    assert a["energy_source"] == "counter"
    # 69 one-second steps: 60 busy at ~520 W / ~699 W, 9 idle at ~70 W
    assert a["energy_j"] == pytest.approx(59 * 520 + 10 * 69.5, rel=0.02)
    assert b["energy_j"] == pytest.approx(59 * 699 + 10 * 69.5, rel=0.02)
    assert a["cpu_percent_mean"] > b["cpu_percent_mean"] > 0 and a["rss_mb_max"] == 6100.0
    assert a["duration_s"] == pytest.approx(69, abs=0.01)


def test_confounds_name_the_power_capped_arm_only(samples):
    sentences = confounds(summarize(samples))
    assert sentences == [
        "arm B: GPUs were power-capped (SW power cap) for 100 % of busy time; "
        "SM clock averaged 70 % of its maximum"
    ]


def test_energy_per_training_sample(samples):
    s = summarize(samples, samples_trained={"A": 60 * 2600, "B": 1000})
    assert s["A"]["energy_per_sample_j"] == pytest.approx(s["A"]["energy_j"] / (60 * 2600))
    assert s["B"]["energy_per_sample_j"] == pytest.approx(s["B"]["energy_j"] / 1000)


def _edit(samples, arm_index: int, **fields: Any) -> list[dict[str, Any]]:
    out = copy.deepcopy(samples)
    for x in out:
        x["gpus"][arm_index].update(fields)
    return out


def test_different_models_or_power_limits_are_confounds(samples):
    a100 = _edit(samples, 0, name="NVIDIA A100-SXM4-80GB", sm_clock_max_mhz=1410, power_limit_w=400.0)
    sentences = confounds(summarize(a100))
    assert ("arms run with different GPU models (A: NVIDIA A100-SXM4-80GB; B: NVIDIA H100 80GB HBM3)"
            in sentences)
    assert not any("SM clocks" in x or "power limits" in x for x in sentences)  # implied by the model
    capped = _edit(samples, 0, power_limit_w=500.0)
    assert "arms run with different GPU power limits (A: 500 W; B: 700 W)" in confounds(summarize(capped))
    slower = _edit(samples, 0, sm_clock_max_mhz=1755)
    assert "arms run with different max SM clocks (A: 1755 MHz; B: 1980 MHz)" in confounds(summarize(slower))


@pytest.mark.parametrize(("throttled", "expected"), [(3, False), (6, True)])
def test_thermal_throttling_is_material_from_five_percent(samples, throttled, expected):
    hot = copy.deepcopy(samples)
    busy = [x for x in hot if x["gpus"][0]["reasons"] == 0]
    for x in busy[:throttled]:
        x["gpus"][0]["reasons"] = 0x40 | 0x20
    s = summarize(hot)
    assert s["A"]["thermal_share"] == pytest.approx(throttled / 60, abs=1e-3)
    assert s["A"]["reason_share"]["hw_thermal_slowdown"] == pytest.approx(throttled / 60, abs=1e-3)
    words = "arm A: GPUs were thermally throttled (SW thermal slowdown, HW thermal slowdown) for 10 % of busy time"
    assert (words in confounds(summarize(hot))) is expected


def test_idle_by_utilisation_is_excluded_and_unknown_reasons_not_counted(samples):
    odd = copy.deepcopy(samples)
    for x in odd[IDLE_HEAD:IDLE_HEAD + 10]:
        x["gpus"][1].update(reasons=0x4, util_gpu=0)  # capped but doing nothing: idle
    for x in odd[IDLE_HEAD + 10:IDLE_HEAD + 20]:
        x["gpus"][1].update(reasons=None, reason_names=None)
    b = summarize(odd)["B"]
    assert b["busy_samples"] == 50 and b["power_capped_share"] == 1.0


def test_energy_counter_reset_and_missing_counter(samples):
    reset = copy.deepcopy(samples)
    for x in reset[30:]:
        x["gpus"][1]["energy_mj"] -= 3_000_000_000  # driver reload: the counter starts over
    assert summarize(reset)["B"]["energy_j"] == pytest.approx(summarize(samples)["B"]["energy_j"], rel=0.02)
    old_gpu = _edit(samples, 1, energy_mj=None)
    b = summarize(old_gpu)["B"]
    assert b["energy_source"] == "power_integral"
    assert b["energy_j"] == pytest.approx(summarize(samples)["B"]["energy_j"], rel=0.02)


def test_foreign_processes_become_sentences_once(samples):
    shared = copy.deepcopy(samples)
    for x in shared[10:20]:
        x["foreign"] = [{"gpu": 1, "pid": 1234, "name": "python", "used_mb": 500, "run": "B"}]
    s = summarize(shared)
    assert s["B"]["foreign"] == [{"gpu": 1, "pid": 1234, "name": "python", "used_mb": 500, "run": "B"}]
    assert confounds(s).count("GPU 1 is shared with PID 1234 (python)") == 1


def test_arm_of_gpu_overrides_and_arms_without_samples_appear(samples):
    s = summarize(samples, arm_of_gpu={1: "A"}, run_ids=["A", "B", "C"])
    assert s["A"]["gpus"] == [1] and s["A"]["power_capped_share"] == 1.0
    assert s["B"]["gpus"] == [] and s["B"]["cpu_percent_mean"] is not None  # host side only
    assert s["C"]["gpu_samples"] == 0 and s["C"]["energy_j"] is None


def test_replay_tolerates_a_torn_last_line(tmp_path):
    torn = tmp_path / "telemetry.jsonl"
    shutil.copy(FIXTURE, torn)
    data = torn.read_bytes()
    torn.write_bytes(data[: len(data) - 40])  # cut inside the last line
    got = list(read_samples(torn))
    assert len(got) == 69
    assert got[0]["gpus"][0]["name"] == "NVIDIA H100 80GB HBM3"  # static facts merged back
