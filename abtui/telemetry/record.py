"""Record a real telemetry trace: ``python -m abtui.telemetry.record OUT.jsonl --seconds N``.

Run on a GPU machine to replace the synthesised fixture in
tests/fixtures/telemetry/. With ``--load matmul --load-gpu I`` it also starts a
sustained bf16 8192×8192 matmul on GPU I (needs torch with CUDA) after
``--idle`` seconds, which drives an H100 into its power cap (reason 0x4) within
seconds — real reasons without touching power limits, clocks or MIG. The load
is registered as arm ``--load-arm``'s process, so it is not reported as foreign.
``--load-cmd 'CMD ARGS'`` runs a command of one's own as a load (a training run), and
several ``--load`` / ``--load-cmd`` run one after another, sharing the time between the
idle seconds at both ends (``bench/gpu_check.py``: ResNet-50 training, then the matmul).
``--load-device cpu`` runs the matmul in float32 on the CPU (the check's dry run).
"""

from __future__ import annotations

import argparse
import os
import shlex
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
cuda = sys.argv[2] == "cuda"
n = 8192 if cuda else 512
a = torch.randn(n, n, device=sys.argv[2], dtype=torch.bfloat16 if cuda else torch.float32)
b = torch.randn_like(a)
end = time.time() + float(sys.argv[1])
while time.time() < end:
    for _ in range(20):
        c = a @ b
    if cuda:
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


def start_load(gpu: int, seconds: float, device: str = "cuda",
               command: list[str] | None = None) -> subprocess.Popen[bytes]:
    """Start a load on one physical GPU (PCI bus order, as NVML numbers them): the matmul,
    or ``command``."""
    env = dict(os.environ, CUDA_DEVICE_ORDER="PCI_BUS_ID", CUDA_VISIBLE_DEVICES=str(gpu))
    argv = command or [sys.executable, "-c", MATMUL, str(seconds), device]
    return subprocess.Popen(argv, env=env)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    """Record, then print a per-arm summary. Exit 2 without NVML unless --allow-no-gpu."""
    ap = argparse.ArgumentParser(prog="python -m abtui.telemetry.record", description=__doc__.split("\n")[0])
    ap.add_argument("out", help="telemetry JSON-lines file to append to")
    ap.add_argument("--seconds", type=float, default=30.0, help="how long to record")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    ap.add_argument("--process-interval", type=float, default=5.0, help="seconds between process listings")
    ap.add_argument("--arm", action="append", default=[], help="NAME=GPU[,GPU]: label GPUs with an arm")
    ap.add_argument("--load", dest="loads", choices=["none", "matmul"], action="append",
                    default=[], help="load to run while recording (repeatable: one after "
                                     "another, in the order given with --load-cmd)")
    ap.add_argument("--load-cmd", dest="loads", action="append", type=shlex.split,
                    help="a command run as a load")
    ap.add_argument("--load-device", choices=["cuda", "cpu"], default="cuda",
                    help="where the matmul runs (cpu: a dry run)")
    ap.add_argument("--load-gpu", type=int, default=0, help="physical GPU index for the load")
    ap.add_argument("--load-arm", default="load", help="arm the load belongs to")
    ap.add_argument("--idle", type=float, default=5.0, help="idle seconds before the load starts")
    ap.add_argument("--allow-no-gpu", action="store_true", help="record host data only without NVML")
    args = ap.parse_args(argv)

    gpu_arms = _arms(args.arm)
    loads: list[list[str] | None] = [None if x == "matmul" else x for x in args.loads
                                     if x != "none"]
    if loads and args.load_arm not in gpu_arms:
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
        if loads:
            stop.wait(args.idle)
            share = max(1.0, (args.seconds - 2 * args.idle) / len(loads))
            for command in loads:
                load = start_load(args.load_gpu, share, args.load_device, command)
                sampler.set_arm_pids(args.load_arm, [load.pid])
                stop.wait(share)
                _stop(load)
        stop.wait(max(0.0, args.seconds - (time.time() - started)))
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        thread.join(timeout=10)
        if load is not None:
            _stop(load)
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
