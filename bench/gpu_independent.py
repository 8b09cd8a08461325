"""The AMP A/B measured without abtui: a plain PyTorch training loop, for the GPU check.

``python bench/gpu_independent.py --out FILE [--device cuda] [--model resnet50] ...``
trains the same model on one fixed synthetic batch, first in FP32 then under bf16
autocast, and writes each arm's steady-state images per second (after ``--warmup``
steps, timed between CUDA synchronisations) and ``torch.cuda.max_memory_allocated``
(None on the CPU), with the AMP / FP32 ratios. No abtui import: this is the yardstick
abtui's own ratios are held to (within ±3 % on the GPU machine).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

RUNNERS = Path(__file__).resolve().parent.parent / "runners"


def measure(args: argparse.Namespace, amp: bool) -> dict[str, float | None]:
    """One arm: steady-state img/s, ms per step and peak allocated MiB."""
    sys.path.insert(0, str(RUNNERS))
    from models import build_model  # the runner's model builder: the same network

    torch.manual_seed(0)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    model = build_model(args.model, channels=3, image_size=args.image_size,
                        num_classes=args.num_classes, hidden=128).to(device, memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(args.batch_size, 3, args.image_size, args.image_size,
                    device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, args.num_classes, (args.batch_size,), device=device)
    loss_fn = nn.CrossEntropyLoss()
    dtype = torch.bfloat16 if args.amp_dtype == "bf16" else torch.float16
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    if cuda:
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    if cuda:
        torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - t0
    memory = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None
    return {"throughput": args.steps * args.batch_size / elapsed,
            "step_ms": elapsed / args.steps * 1000, "peak_memory_mb": memory}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--device", default="cuda")
    p.add_argument("--model", default="resnet50")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--num-classes", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--amp-dtype", choices=("bf16", "fp16"), default="bf16")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--steps", type=int, default=100)
    args = p.parse_args(argv)
    arms = {"fp32": measure(args, amp=False), "amp": measure(args, amp=True)}

    def ratio(key: str) -> float | None:
        a, b = arms["fp32"][key], arms["amp"][key]
        return b / a if a and b else None

    result = {"arms": arms, "ratio": {"throughput": ratio("throughput"),
                                      "peak_memory": ratio("peak_memory_mb")},
              "settings": vars(args) | {"out": str(args.out)}}
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result["ratio"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
