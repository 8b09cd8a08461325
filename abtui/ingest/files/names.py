"""abtui's names for the metrics trainers write to files under their own names.

A row or scalar keeps every name it came with; the first of these aliases that it has is
also stored under abtui's name (when it does not have that name already), so the
verdict's loss, accuracy and throughput work as for protocol records.
"""

from __future__ import annotations

ALIASES: dict[str, tuple[str, ...]] = {
    "loss": ("train_loss", "train_loss_step", "train/loss", "loss/train", "Loss/train",
             "train_loss_epoch"),
    "accuracy": ("val_acc", "val_accuracy", "val/acc", "val/accuracy", "acc",
                 "Accuracy/val", "accuracy/val", "test_acc"),
    # Lightning's ThroughputMonitor: "train/samples_per_sec" over all devices (once it has
    # a window), "train/device/samples_per_sec" for one
    "throughput_samples_per_sec": ("samples_per_sec", "train/samples_per_sec",
                                   "train/device/samples_per_sec", "device/samples_per_sec",
                                   "train|samples_per_sec", "throughput",
                                   "train_samples_per_second", "Throughput/train"),
}
MAX_NAME = 128


def canonical(values: dict[str, float]) -> dict[str, float]:
    """``values`` plus abtui's name for each alias found (see ``ALIASES``)."""
    out = dict(values)
    for name, aliases in ALIASES.items():
        if name not in out:
            for alias in aliases:
                if alias in values:
                    out[name] = values[alias]
                    break
    return out
