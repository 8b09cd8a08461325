"""Reference PyTorch training runner that speaks the abtui log protocol on stdout.

    python runners/train.py --model mlp --dataset digits --optimizer adam --lr 0.002 \\
        --seed 0 --steps 400

abtui passes an arm's config as flags (``batch_size: 64`` -> ``--batch-size 64``, booleans as
``--amp`` / ``--no-amp``) and appends ``--seed N --steps N``. Under torchrun (WORLD_SIZE > 1)
it trains with DDP and only rank 0 reports. SIGTERM ends the run with a final record
carrying ``"stopped": true`` and exit status 143.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))

try:  # abtui installed, or run from the repo as a module
    from abtui import reporter
except ImportError:  # reporter.py copied next to this file (inside an image)
    sys.path.insert(0, _HERE)
    import reporter  # type: ignore[no-redef]


try:  # the flags first: they load no torch
    from runners.train_flags import EXIT_USAGE, build_parser
except ImportError:  # run as a script, or copied into an image without its package
    if _HERE not in sys.path:
        sys.path.insert(0, _HERE)
    from train_flags import EXIT_USAGE, build_parser  # type: ignore[no-redef]


def _stopped_while_starting(signum: int, frame: Any) -> None:
    """SIGTERM during the slow imports below: still end with a final record."""
    reporter.final(steps=0, wall_time_s=0.0, stopped=True)
    os._exit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stopped_while_starting)
    # Flags first: a bad flag (or --help) answers in milliseconds, before torch loads.
    ARGS = build_parser().parse_args()

# torch takes seconds to import; the handler and the flags above come first.
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

try:
    from runners import data as train_data
    from runners import models as train_models
except ImportError:  # run as a script, or copied into an image without its package
    if _HERE not in sys.path:
        sys.path.insert(0, _HERE)
    import data as train_data  # type: ignore[no-redef]
    import models as train_models  # type: ignore[no-redef]

NOT_IN_CONFIG = ("seed",)  # reported in the env record's own field


class StopRequest:
    """SIGTERM / SIGINT: raise at once during setup, stop at the next step boundary in training."""

    class Stopped(BaseException):  # like KeyboardInterrupt: no `except Exception` eats it
        pass

    def __init__(self) -> None:
        self.signum: int | None = None
        self.in_loop = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        self.signum = signum
        if not self.in_loop:
            raise self.Stopped()

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or 0)


def process_age_s() -> float | None:
    """Seconds since this process started (interpreter and imports included); Linux only."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return round(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 2)


def _round(value: Any) -> Any:
    """Floats to 7 significant digits: float32 values carry no more, and lines stay short."""
    return float(f"{value:.7g}") if isinstance(value, float) else value


def seed_everything(seed: int) -> None:
    """Seed random, numpy, torch and every CUDA device."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds all CUDA devices too
    torch.cuda.manual_seed_all(seed)


def peak_memory(device: torch.device) -> tuple[str, float]:
    """("gpu_memory_mb", peak allocated) on CUDA, ("rss_mb", peak resident set) on the CPU."""
    if device.type == "cuda":
        return "gpu_memory_mb", round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return "rss_mb", round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def make_optimizer(args: argparse.Namespace, params: Any) -> torch.optim.Optimizer:
    if args.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay
        )
    kind = torch.optim.Adam if args.optimizer == "adam" else torch.optim.AdamW
    return kind(params, lr=args.lr, weight_decay=args.weight_decay)


def lr_factor(args: argparse.Namespace, step: int) -> float:
    """Multiplier on --lr after ``step`` optimizer steps: linear warmup, then the schedule."""
    if step < args.warmup_steps:
        return (step + 1) / args.warmup_steps
    if args.schedule == "cosine":
        span = max(1, args.steps - args.warmup_steps)
        return 0.5 * (1.0 + np.cos(np.pi * min(1.0, (step - args.warmup_steps) / span)))
    return 1.0


def resolve_device(choice: str, local_rank: int) -> torch.device:
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise train_data.DataUnavailable("--device cuda asked for, but CUDA is not available")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def evaluate(model: torch.nn.Module, ds: train_data.Dataset, autocast: Any) -> tuple[float, float]:
    """Loss and accuracy on the held-out split."""
    model.eval()
    with torch.no_grad(), autocast():
        logits = model(ds.eval_x)
        loss = F.cross_entropy(logits.float(), ds.eval_y)
        correct = (logits.argmax(1) == ds.eval_y).float().mean()
    model.train()
    return loss.item(), correct.item()


@dataclass
class Training:
    """Everything a run trains with, built from the flags."""

    device: torch.device
    world: int
    dataset: train_data.Dataset
    model: torch.nn.Module  # what the loop calls: DDP- and/or compile-wrapped
    raw_model: torch.nn.Module  # the bare module, for evaluation
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype
    memory_format: torch.memory_format

    def autocast(self, enabled: bool) -> Any:
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=enabled)


def prepare(args: argparse.Namespace) -> Training:
    """Device, process group, seeds, data, model and optimizer, in that order."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device, local_rank)
    if world > 1:
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    seed_everything(args.seed)
    if args.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    if args.dataset == "digits":
        ds = train_data.digits(args.batch_size, args.seed, device, args.num_workers, rank)
    else:
        ds = train_data.synthetic(
            args.batch_size,
            args.seed,
            device,
            image_size=args.image_size,
            num_classes=args.num_classes,
            num_workers=args.num_workers,
            rank=rank,
        )
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    raw_model = train_models.build_model(
        args.model,
        channels=ds.channels,
        image_size=ds.image_size,
        num_classes=ds.num_classes,
        hidden=args.hidden,
    ).to(device, memory_format=memory_format)
    model = raw_model
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[local_rank] if device.type == "cuda" else None
        )
    if args.compile:
        model = torch.compile(model)
    optimizer = make_optimizer(args, model.parameters())
    amp_dtype = torch.bfloat16 if args.amp_dtype == "bf16" else torch.float16
    return Training(
        device=device,
        world=world,
        dataset=ds,
        model=model,
        raw_model=raw_model,
        optimizer=optimizer,
        schedule=torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(args, s)),
        scaler=torch.amp.GradScaler(device.type, enabled=args.amp and amp_dtype == torch.float16),
        amp_dtype=amp_dtype,
        memory_format=memory_format,
    )


def train(args: argparse.Namespace, stop: StopRequest) -> dict[str, Any]:
    """Train; report env and metric records; return the final record's totals."""
    t = prepare(args)
    device, world, ds, model = t.device, t.world, t.dataset, t.model
    optimizer, scaler = t.optimizer, t.scaler

    def autocast() -> Any:
        return t.autocast(args.amp)

    config = {k: v for k, v in sorted(vars(args).items()) if k not in NOT_IN_CONFIG}
    reporter.env(
        config=config,
        seed=args.seed,
        data=ds.info,
        code_dir=_HERE,
        runner="abtui-reference-train/1",
        device=str(device),
        world_size=world,
        torch_threads=torch.get_num_threads(),
        startup_s=process_age_s(),
    )

    log_every, eval_every = args.log_interval, args.eval_interval or args.log_interval
    global_batch = args.batch_size * world
    sums = torch.zeros(2, device=device)  # [loss, correct] since the last log, no host sync
    since_log, done, last = 0, 0, {"loss": None, "accuracy": None}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    loop_start = interval_start = time.perf_counter()
    stop.in_loop = True
    for step in range(1, args.steps + 1):
        if stop.signum is not None and world == 1:
            break
        x, y = next(ds.batches)
        if args.data_stall_every and step % args.data_stall_every == 0:
            time.sleep(args.data_stall_ms / 1000.0)  # a simulated data-loader stall
        x = train_data.augment(x, args.augment).contiguous(memory_format=t.memory_format)
        with autocast():
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        t.schedule.step()
        sums += torch.stack((loss.detach(), (logits.argmax(1) == y).sum().float()))
        since_log, done = since_log + 1, step
        metrics: dict[str, float] = {}
        if step % log_every == 0 or step == args.steps:
            if world > 1:
                flag = torch.tensor([float(stop.signum is not None)], device=device)
                torch.distributed.all_reduce(sums)
                torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
                stop.signum = stop.signum or (signal.SIGTERM if flag.item() else None)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            now = time.perf_counter()
            loss_sum, correct = sums.tolist()
            elapsed = now - interval_start
            metrics["loss"] = loss_sum / (since_log * world)
            train_acc = correct / (since_log * global_batch)
            metrics["train_accuracy" if ds.eval_x is not None else "accuracy"] = train_acc
            metrics["throughput_samples_per_sec"] = since_log * global_batch / elapsed
            metrics["step_time_ms"] = 1000.0 * elapsed / since_log
            metrics["lr"] = optimizer.param_groups[0]["lr"]
            name, value = peak_memory(device)
            metrics[name] = value
            last["loss"] = metrics["loss"]
            if ds.eval_x is None:
                last["accuracy"] = train_acc
            sums.zero_()
            since_log, interval_start = 0, now
        if ds.eval_x is not None and (step % eval_every == 0 or step == args.steps):
            eval_start = time.perf_counter()
            metrics["eval_loss"], metrics["accuracy"] = evaluate(t.raw_model, ds, autocast)
            last["accuracy"] = metrics["accuracy"]
            interval_start += time.perf_counter() - eval_start  # eval is not training time
        if metrics:
            reporter.log(step, **{k: _round(v) for k, v in metrics.items()})
        if stop.signum is not None and world > 1:
            break
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    wall = time.perf_counter() - loop_start
    if world > 1:  # leave together: a rank that exits while its process group's threads
        torch.distributed.barrier()  # still run aborts ("terminate called without an
        torch.distributed.destroy_process_group()  # active exception", exit -6)
    return {
        "steps": done,
        "wall_time_s": round(wall, 3),
        "samples": done * global_batch,
        "throughput_samples_per_sec": done * global_batch / wall if wall > 0 else None,
        "final_loss": last["loss"],
        "final_accuracy": last["accuracy"],
        "peak_memory_mb": peak_memory(device)[1],
        "stopped": stop.signum is not None,
    }


def main(args: argparse.Namespace) -> int:
    """Train with parsed flags, write the final record; returns the exit status."""
    stop = StopRequest()
    stop.install()
    started = time.perf_counter()
    try:
        totals = train(args, stop)
    except (train_models.ModelUnavailable, train_data.DataUnavailable) as exc:
        print(f"train.py: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StopRequest.Stopped:
        reporter.final(steps=0, wall_time_s=round(time.perf_counter() - started, 3), stopped=True)
        return stop.exit_code
    except Exception as exc:
        reporter.final(error=f"{type(exc).__name__}: {exc}", stopped=False)
        raise
    reporter.final(**{k: _round(v) for k, v in totals.items()})
    return stop.exit_code if totals["stopped"] else 0


if __name__ == "__main__":
    code = main(ARGS)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # a data-parallel rank leaves without running C++ static destructors: gloo's
        # threads can still be alive after destroy_process_group, and tearing them down at
        # exit aborts ("terminate called without an active exception", exit -6) now and then
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
