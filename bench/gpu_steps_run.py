"""The GPU check's later steps: the CUDA A/B against a plain PyTorch loop, the console in
tmux, the GPU benchmarks; and ``STEPS``, the order and budgets. See ``gpu_check.py``."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml
from gpu_steps import PY, REPO, Check, Outcome, Step, doctor, trace, verify, wheels

TOLERANCE = 0.03  # abtui's ratios against the plain loop's, on the GPU machine


def _spec(check: Check, steps: int, replicates: int) -> dict[str, Any]:
    """configs/amp-vs-fp32-local.yaml as the check runs it (the dry run: the CNN on the CPU)."""
    spec = yaml.safe_load((REPO / "configs" / "amp-vs-fp32-local.yaml").read_text())
    spec.update(workdir=str(REPO), steps=steps, replicates=replicates)
    for arm in spec["arms"].values():
        arm["gpus"] = [check.gpu]
    if check.dry:
        spec["config"].update(model="cnn", image_size=16, batch_size=8, num_classes=10,
                              device="cpu", threads=1, log_interval=5)
    return spec


def _write_spec(check: Check, name: str, spec: dict[str, Any]) -> Path:
    path = check.out / name / "spec.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _abtui_ratios(report: dict[str, Any]) -> dict[str, float | None]:
    """AMP / FP32 of the runs' mean throughput and peak memory, from report.json."""
    out: dict[str, float | None] = {}
    for key in ("throughput", "peak_memory"):
        fp32, amp = (_mean([r[key] for r in report["arms"][arm]["runs"] if r.get(key)])
                     for arm in ("fp32", "amp"))
        out[key] = amp / fp32 if amp and fp32 else None
    return out


def ab(check: Check, budget: float) -> Outcome:
    steps, reps = (20, 1) if check.dry else (200, 2)  # 4 runs one at a time fit 130 s
    spec = _write_spec(check, "ab", _spec(check, steps, reps))
    runs = check.out / "ab" / "runs"
    rc, text = check.sh("ab", [PY, "-m", "abtui", "run", str(spec), "--headless",
                               "--runs-dir", str(runs)], budget * 0.75)
    made = sorted(runs.glob("*/report.json"))
    if rc not in (0, 1) or not made:
        return Outcome("ab", False, 0, budget, f"abtui run failed (rc {rc}): {text[-300:]}")
    report = json.loads(made[-1].read_text())
    ours = _abtui_ratios(report)
    cfg = _spec(check, steps, reps)["config"]
    indep = check.out / "ab" / "independent.json"
    argv = [PY, str(REPO / "bench" / "gpu_independent.py"), "--out", str(indep),
            "--device", cfg["device"], "--model", cfg["model"],
            "--image-size", str(cfg["image_size"]), "--batch-size", str(cfg["batch_size"]),
            "--num-classes", str(cfg.get("num_classes", 1000)),
            "--amp-dtype", cfg["amp_dtype"]] + (["--channels-last"] if cfg.get("channels_last")
                                                else [])
    argv += ["--warmup", "1", "--steps", "3"] if check.dry else ["--warmup", "20", "--steps", "60"]
    rc, text = check.sh("independent", argv, budget * 0.25)
    if rc != 0 or not indep.is_file():
        return Outcome("ab", False, 0, budget, f"the plain loop failed (rc {rc}): {text[-300:]}")
    theirs = json.loads(indep.read_text())["ratio"]
    check.facts["ab"] = {"abtui": ours, "independent": theirs}
    rows = ["| AMP / FP32 | abtui | plain loop | agree (±3 %) |", "|---|---:|---:|---|"]
    agree = []
    for key in ("throughput", "peak_memory"):
        a, b = ours.get(key), theirs.get(key)
        same = None if a is None or b is None else abs(a / b - 1) <= TOLERANCE
        agree.append(same)
        rows.append(f"| {key} | {a if a is None else f'{a:.3f}'} | "
                    f"{b if b is None else f'{b:.3f}'} | "
                    f"{'-' if same is None else ('yes' if same else 'NO')} |")
    verdict = report.get("verdict", {}).get("summary", "")
    rows += ["", f"Verdict: {verdict}"]
    if check.dry:  # the CPU is too noisy for ±3 %, and has no CUDA memory: computed only
        ok = ours.get("throughput") is not None and theirs.get("throughput") is not None
    else:
        ok = all(agree)
    note = (f"throughput ×{ours.get('throughput') or float('nan'):.3f} (abtui) vs "
            f"×{theirs.get('throughput') or float('nan'):.3f} (plain loop)")
    return Outcome("ab", ok, 0, budget, note, "\n".join(rows),
                   ["ab/independent.json", *(str(p.relative_to(check.out)) for p in made)])


# -- console ------------------------------------------------------------------------------

def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=20).stdout


def console(check: Check, budget: float) -> Outcome:
    if shutil.which("tmux") is None:
        return Outcome("console", False, 0, budget, "tmux is not installed")
    watch = 10 if check.dry else 60
    spec = _write_spec(check, "console", _spec(check, 400 if check.dry else 3000, 1))
    runs, shots = check.out / "console" / "runs", check.out / "repo" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    session = f"abtui-gpu-check-{int(time.time())}"
    script = check.out / "console" / "console.sh"
    env = check.env()
    exports = "".join(f"export {k}={_q(env[k])}\n" for k in ("PYTHONPATH", "PATH",
                                                             "CUDA_DEVICE_ORDER"))
    script.write_text(f"{exports}cd {_q(str(REPO))}\nexec {_q(PY)} -m abtui run {_q(str(spec))} "
                      f"--runs-dir {_q(str(runs))}\n")
    _tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", f"sh {_q(str(script))}")
    try:
        time.sleep(watch)
        screen = _tmux("capture-pane", "-p", "-t", session)
        _tmux("send-keys", "-t", session, "g")
        time.sleep(2)
        gpus = _tmux("capture-pane", "-p", "-t", session)
        _tmux("send-keys", "-t", session, "Escape")
        (check.out / "console" / "console.txt").write_text(screen)
        (check.out / "console" / "gpus.txt").write_text(gpus)
        made = sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []
        run = made[-1] if made else None
        svg = shots / "real-console.svg"
        if run is not None:  # the same run, attached again, saved by Textual as an SVG
            shot = check.out / "console" / "shot.sh"
            shot.write_text(f"{exports}export TEXTUAL_SCREENSHOT=3 TEXTUAL_SCREENSHOT_LOCATION="
                            f"{_q(str(shots))} TEXTUAL_SCREENSHOT_FILENAME=real-console.svg\n"
                            f"exec {_q(PY)} -m abtui attach {_q(str(run))}\n")
            _tmux("new-window", "-t", session, f"sh {_q(str(shot))}")
            for _ in range(30):
                if svg.exists():
                    break
                time.sleep(0.5)
            check.sh("console-stop", [PY, "-m", "abtui", "stop", str(run)], 30)
    finally:
        _tmux("kill-session", "-t", session)
    named = all(arm in screen for arm in ("fp32", "amp"))
    gpu_view = "GPU" in gpus
    ok = named and gpu_view and svg.exists()
    note = (f"console named both arms: {named}; GPU view shown: {gpu_view}; "
            f"SVG from the real run: {svg.exists()}")
    return Outcome("console", ok, 0, budget, note,
                   f"```\n{screen.rstrip()}\n```\n\n```\n{gpus.rstrip()}\n```",
                   ["console/console.txt", "console/gpus.txt", "repo/screenshots/real-console.svg"])


def _q(text: str) -> str:
    return shlex.quote(text)


# -- benchmarks -----------------------------------------------------------------------------

_BENCH = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from abtui.telemetry import TelemetrySampler
from reporter_cost import log_cost_us, paced_cost_us
sampler = TelemetrySampler()
for _ in range(10):
    sampler.sample()
n, cpu, wall, gpus = 200, 0.0, 0.0, 0
for _ in range(n):
    c0, w0 = time.process_time(), time.perf_counter()
    gpus = len(sampler.sample()["gpus"])
    cpu += time.process_time() - c0
    wall += time.perf_counter() - w0
print(json.dumps({"gpus": gpus, "sample_cpu_ms": cpu / n * 1e3, "sample_wall_ms": wall / n * 1e3,
                  "log_us": log_cost_us(5000), "paced_log_us": paced_cost_us(300)}))
"""


def bench(check: Check, budget: float) -> Outcome:
    rc, text = check.python("bench", _BENCH, str(REPO / "bench"), timeout=budget)
    found = [ln for ln in text.splitlines() if ln.startswith("{")]
    if rc != 0 or not found:
        return Outcome("bench", False, 0, budget, f"rc {rc}: {text[-300:]}")
    f = json.loads(found[-1])
    indep = check.out / "ab" / "independent.json"
    step_ms = (json.loads(indep.read_text())["arms"]["amp"]["step_ms"]
               if indep.is_file() else None)
    # at a training loop's pace (cold caches), the larger figure: the honest overhead
    overhead = f["paced_log_us"] / (step_ms * 1e3) * 100 if step_ms else None
    per_gpu = f["sample_cpu_ms"] / f["gpus"] if f["gpus"] else None
    f.update(step_ms=step_ms, overhead_pct=overhead, sample_cpu_ms_per_gpu=per_gpu)
    (check.out / "bench.json").write_text(json.dumps(f, indent=1))
    rows = ["| figure | value | target |", "|---|---:|---|",
            f"| telemetry sample, {f['gpus']} GPU(s) + host, CPU | {f['sample_cpu_ms']:.3f} ms "
            f"| ≤ 1 ms for 8 GPUs |",
            f"| the same per GPU | {per_gpu if per_gpu is None else f'{per_gpu:.3f} ms'} | |",
            f"| reporter.log() per call, tight loop / at 100 calls a second | "
            f"{f['log_us']:.1f} µs / {f['paced_log_us']:.1f} µs | |",
            f"| ResNet-50 AMP step (plain loop) | "
            f"{step_ms if step_ms is None else f'{step_ms:.1f} ms'} | |",
            f"| reporter overhead on that step (paced figure) | "
            f"{overhead if overhead is None else f'{overhead:.3f} %'} | ≤ 1 % |"]
    ok = f["gpus"] > 0 and (check.dry or (overhead is not None and overhead <= 1.0))
    note = (f"sample {f['sample_cpu_ms']:.3f} ms CPU for {f['gpus']} GPU(s); reporter overhead "
            f"{'n/a (no A/B step)' if overhead is None else f'{overhead:.3f} %'}")
    return Outcome("bench", ok, 0, budget, note, "\n".join(rows), ["bench.json"])


#: the order and the budgets (seconds on the GPU machine, in the dry run): 540 s in all
STEPS = (
    Step("wheels", 60, 120, wheels),
    Step("doctor", 30, 60, doctor),
    Step("verify", 30, 60, verify),
    Step("trace", 150, 60, trace),
    Step("ab", 170, 150, ab),
    Step("console", 80, 60, console),
    Step("bench", 30, 60, bench),
)
