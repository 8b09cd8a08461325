"""The reference runner's flags: every one of them is a config key abtui can set.

Kept apart from train.py so that a bad flag (or --help) is answered before torch loads.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

EXIT_USAGE = 2
MODELS = ("mlp", "cnn", "resnet18", "resnet50", "efficientnet_b0", "efficientnet_b3")


class RunnerArgumentParser(argparse.ArgumentParser):
    """argparse that says where unknown flags come from (the experiment config)."""

    def error(self, message: str) -> NoReturn:
        if "unrecognized arguments" in message:
            message += (
                "\n(abtui turns every config key into a flag: remove the key from the "
                "experiment config or use a runner that accepts it)"
            )
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _count(minimum: int) -> Any:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = "integer"  # what argparse names in "invalid integer value"
    return parse


def build_parser() -> argparse.ArgumentParser:
    """The runner's flags; every one of them is a config key abtui can set."""
    p = RunnerArgumentParser(prog="train.py", description="Reference PyTorch training runner that speaks the abtui log protocol.")
    bool_flag = argparse.BooleanOptionalAction
    p.add_argument("--model", choices=MODELS, default="mlp", help="resnets / efficientnets need torchvision")
    p.add_argument("--dataset", choices=("digits", "synthetic"), default="digits",
                   help="digits: scikit-learn's 8x8 digits with a held-out split; synthetic: random images")
    p.add_argument("--image-size", type=_count(4), default=224, help="synthetic images only")
    p.add_argument("--num-classes", type=_count(2), default=1000, help="synthetic data only")
    p.add_argument("--batch-size", type=_count(1), default=64, help="per process")
    p.add_argument("--lr", type=float, default=0.05, help="peak learning rate")
    p.add_argument("--optimizer", choices=("sgd", "adam", "adamw"), default="sgd")
    p.add_argument("--momentum", type=float, default=0.0, help="SGD only")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--schedule", choices=("constant", "cosine"), default="constant",
                   help="learning-rate schedule after warmup")
    p.add_argument("--warmup-steps", type=_count(0), default=0, help="linear warmup steps")
    p.add_argument("--hidden", type=_count(1), default=128, help="MLP width")
    p.add_argument("--augment", choices=("none", "noise", "flip"), default="none",
                   help="Gaussian pixel noise or random horizontal flips, on the device")
    p.add_argument("--steps", type=_count(0), default=300, help="optimizer steps")
    p.add_argument("--amp", action=bool_flag, default=False, help="autocast mixed precision")
    p.add_argument("--amp-dtype", choices=("bf16", "fp16"), default="bf16",
                   help="fp16 adds a gradient scaler")
    p.add_argument("--channels-last", action=bool_flag, default=False,
                   help="NHWC memory format for model and inputs")
    p.add_argument("--compile", action=bool_flag, default=False, help="torch.compile the model")
    p.add_argument("--deterministic", action=bool_flag, default=False,
                   help="torch.use_deterministic_algorithms")
    p.add_argument("--num-workers", type=_count(0), default=0,
                   help="DataLoader worker processes (0: batches made on the device)")
    p.add_argument("--seed", type=int, default=0, help="seeds random, numpy, torch and CUDA")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--log-interval", type=_count(1), default=10, help="steps between metric records")
    p.add_argument("--eval-interval", type=_count(1), default=None,
                   help="steps between held-out evaluations (default: --log-interval)")
    p.add_argument("--data-stall-every", type=_count(0), default=0,
                   help="simulate a slow input pipeline: stall every N steps (0: never)")
    p.add_argument("--data-stall-ms", type=float, default=0.0,
                   help="how long each simulated input stall lasts, in ms (timed as training)")
    p.add_argument("--threads", type=_count(1), default=None,
                   help="torch.set_num_threads (default: torch's choice)")
    return p
