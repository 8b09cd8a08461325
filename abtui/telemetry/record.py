"""Record a real telemetry trace: ``python -m abtui.telemetry.record OUT.jsonl --seconds N``.

Run on a GPU machine to replace the synthesised fixture in
tests/fixtures/telemetry/. With ``--load matmul --load-gpu I`` it also starts a
sustained bf16 8192×8192 matmul on GPU I (needs torch with CUDA) after
``--idle`` seconds, which drives an H100 into its power cap (reason 0x4) within
seconds — real reasons without touching power limits, clocks or MIG. The load
is registered as arm ``--load-arm``'s process, so it is not reported as foreign.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time

from abtui.telemetry.reasons import describe
from abtui.telemetry.sampler import TelemetrySampler
from abtui.telemetry.samples import read_samples
from abtui.telemetry.summary import confounds, summarize

MATMUL = """
import sys, time, torch
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
b = torch.randn_like(a)
end = time.time() + float(sys.argv[1])
while time.time() < end:
    for _ in range(20):
        c = a @ b
    torch.cuda.synchronize()
"""


def _arms(specs: list[str]) -> dict[str, list[int]]:
    arms: dict[str, list[int]] = {}
    for spec in specs:
        name, _, gpus = spec.partition("=")
        if not name or not gpus:
            raise SystemExit(f"--arm wants NAME=GPU[,GPU...], got {spec!r}")
        arms[name] = [int(g) for g in gpus.split(",")]
    return arms


def start_load(gpu: int, seconds: float) -> subprocess.Popen[bytes]:
    """Start the matmul load on one physical GPU (PCI bus order, as NVML numbers them)."""
    env = dict(os.environ, CUDA_DEVICE_ORDER="PCI_BUS_ID", CUDA_VISIBLE_DEVICES=str(gpu))
    return subprocess.Popen([sys.executable, "-c", MATMUL, str(seconds)], env=env)


def main(argv: list[str] | None = None) -> int:
    """Record, then print a per-arm summary. Exit 2 without NVML unless --allow-no-gpu."""
    ap = argparse.ArgumentParser(prog="python -m abtui.telemetry.record", description=__doc__.split("\n")[0])
    ap.add_argument("out", help="telemetry JSON-lines file to append to")
    ap.add_argument("--seconds", type=float, default=30.0, help="how long to record")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    ap.add_argument("--process-interval", type=float, default=5.0, help="seconds between process listings")
    ap.add_argument("--arm", action="append", default=[], help="NAME=GPU[,GPU]: label GPUs with an arm")
    ap.add_argument("--load", choices=["none", "matmul"], default="none", help="load to run while recording")
    ap.add_argument("--load-gpu", type=int, default=0, help="physical GPU index for the load")
    ap.add_argument("--load-arm", default="load", help="arm the load belongs to")
    ap.add_argument("--idle", type=float, default=5.0, help="idle seconds before the load starts")
    ap.add_argument("--allow-no-gpu", action="store_true", help="record host data only without NVML")
    args = ap.parse_args(argv)

    gpu_arms = _arms(args.arm)
    if args.load != "none" and args.load_arm not in gpu_arms:
        gpu_arms[args.load_arm] = [args.load_gpu]
    sampler = TelemetrySampler(args.out, interval=args.interval, gpu_arms=gpu_arms,
                               process_interval=args.process_interval)
    if not sampler.available and not args.allow_no_gpu:
        print(f"nothing to record: {sampler.reason_unavailable}", file=sys.stderr)
        return 2
    stop = threading.Event()
    thread = threading.Thread(target=sampler.run, args=(stop,), name="telemetry", daemon=True)
    started = time.time()
    thread.start()
    load = None
    try:
        if args.load == "matmul":
            stop.wait(args.idle)
            load = start_load(args.load_gpu, max(1.0, args.seconds - 2 * args.idle))
            sampler.set_arm_pids(args.load_arm, [load.pid])
        stop.wait(max(0.0, args.seconds - (time.time() - started)))
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        thread.join(timeout=10)
        if load is not None and load.poll() is None:
            load.terminate()
            load.wait(timeout=10)
        sampler.close()

    cost = sampler.cost
    print(f"{cost.samples} samples to {args.out}: {cost.wall_ms_mean:.3f} ms wall / "
          f"{cost.cpu_ms_mean:.3f} ms CPU per sample ({cost.core_percent(args.interval):.3f} % of a core)")
    samples = list(read_samples(args.out))
    seen: dict[int, set[int]] = {}
    for s in samples:
        for g in s["gpus"]:
            if g.get("reasons") is not None:
                seen.setdefault(g["index"], set()).add(g["reasons"])
    for index, masks in sorted(seen.items()):
        print(f"GPU {index} reasons seen: " + "; ".join(f"{m:#x} {describe(m)}" for m in sorted(masks)))
    for sentence in confounds(summarize(samples)):
        print(f"confound: {sentence}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
