"""Datasets for the reference runner: scikit-learn's digits (offline) and synthetic images.

A dataset hands out training batches already on the training device, plus an optional
held-out split. Batches come from seeded generators, so a run is reproducible from its seed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

DIGITS_EVAL_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0  # fixed: every arm and replicate evaluates on the same held-out digits
SYNTHETIC_BANK_BATCHES = 4  # distinct batches kept on the device and cycled


class DataUnavailable(RuntimeError):
    """The requested dataset cannot be loaded here; the message says why."""


@dataclass
class Dataset:
    """Training batches plus, where the dataset has one, a held-out split."""

    name: str
    channels: int
    image_size: int
    num_classes: int
    batches: Iterator[tuple[torch.Tensor, torch.Tensor]]
    eval_x: torch.Tensor | None = None
    eval_y: torch.Tensor | None = None
    info: dict[str, Any] = field(default_factory=dict)  # the env record's "data" entry


def _short_sha(*chunks: bytes) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()[:16]


def _digits_csv() -> str | None:
    """Path of sklearn's bundled digits.csv.gz, found without importing sklearn (slow)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = os.path.join(root, "datasets", "data", "digits.csv.gz")
        if os.path.isfile(path):
            return path
    return None


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray, str]:
    """All 1797 digits as (N, 1, 8, 8) float32 in [0, 1], labels int64, and the source path."""
    path = _digits_csv()
    if path is not None:
        table = np.loadtxt(path, delimiter=",", dtype=np.float32)
        pixels, labels = table[:, :-1], table[:, -1]
    else:
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise DataUnavailable(
                "--dataset digits needs scikit-learn, which is not installed "
                "(pip install scikit-learn); or use --dataset synthetic"
            ) from None
        bunch = load_digits()
        pixels, labels = bunch.data.astype(np.float32), bunch.target
        path = "sklearn.datasets.load_digits"
    x = (pixels / 16.0).reshape(-1, 1, 8, 8).astype(np.float32)
    return x, labels.astype(np.int64), path


def _device_batches(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless shuffled batches of device-resident tensors (one permutation per epoch)."""
    count = x.shape[0]
    if batch_size > count:
        raise DataUnavailable(f"--batch-size {batch_size} is larger than the {count} samples")
    while True:
        order = torch.randperm(count, generator=generator).to(x.device, non_blocking=True)
        for start in range(0, count - batch_size + 1, batch_size):
            index = order[start : start + batch_size]
            yield x[index], y[index]


def _loader_batches(
    dataset: torch.utils.data.Dataset,
    batch_size: int,
    num_workers: int,
    generator: torch.Generator,
    device: torch.device,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless batches through a DataLoader with worker processes (an input pipeline)."""
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=num_workers,
        persistent_workers=True,
        pin_memory=device.type == "cuda",
        generator=generator,
    )
    while True:
        for x, y in loader:
            yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def digits(
    batch_size: int, seed: int, device: torch.device, num_workers: int = 0, rank: int = 0
) -> Dataset:
    """scikit-learn's 8x8 digits: 80 % to train, a fixed 20 % held out."""
    x, y, path = load_digits_arrays()
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(y))
    n_eval = int(len(y) * DIGITS_EVAL_FRACTION)
    eval_idx, train_idx = order[:n_eval], order[n_eval:]
    generator = torch.Generator().manual_seed(seed + 1_000_003 * rank)
    train_x, train_y = torch.from_numpy(x[train_idx]), torch.from_numpy(y[train_idx])
    if num_workers > 0:
        batches = _loader_batches(
            TensorDataset(train_x, train_y), batch_size, num_workers, generator, device
        )
    else:
        batches = _device_batches(train_x.to(device), train_y.to(device), batch_size, generator)
    info = {
        "name": "digits",
        "path": path,
        "fingerprint": _short_sha(x.tobytes(), y.tobytes()),
        "train_samples": len(train_idx),
        "eval_samples": n_eval,
        "split_seed": DIGITS_SPLIT_SEED,
    }
    return Dataset(
        name="digits",
        channels=1,
        image_size=8,
        num_classes=10,
        batches=batches,
        eval_x=torch.from_numpy(x[eval_idx]).to(device),
        eval_y=torch.from_numpy(y[eval_idx]).to(device),
        info=info,
    )


class SyntheticImages(torch.utils.data.Dataset):
    """ImageNet-shaped random images made on the CPU per index (for DataLoader workers)."""

    def __init__(self, seed: int, image_size: int, num_classes: int, size: int) -> None:
        self.seed, self.image_size, self.num_classes, self.size = (
            seed,
            image_size,
            num_classes,
            size,
        )

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        image = torch.randn(3, self.image_size, self.image_size, generator=g)
        label = torch.randint(self.num_classes, (), generator=g)
        return image, label


def synthetic(
    batch_size: int,
    seed: int,
    device: torch.device,
    image_size: int = 224,
    num_classes: int = 1000,
    num_workers: int = 0,
    rank: int = 0,
) -> Dataset:
    """Deterministic random images and labels from the seed; no held-out split.

    Without workers a small bank of batches is generated on the device and cycled, so the
    input pipeline costs nothing; with workers each sample is made on the CPU.
    """
    bank = SYNTHETIC_BANK_BATCHES * batch_size
    rank_seed = seed + 1_000_003 * rank
    recipe = {
        "generator": "synthetic-v1",
        "seed": rank_seed,
        "image_size": image_size,
        "num_classes": num_classes,
        "samples": bank,
        "made_on": "cpu" if num_workers > 0 else device.type,  # CPU and CUDA RNGs differ
    }
    if num_workers > 0:
        dataset = SyntheticImages(rank_seed, image_size, num_classes, bank)
        batches = _loader_batches(
            dataset, batch_size, num_workers, torch.Generator().manual_seed(rank_seed), device
        )
    else:
        g = torch.Generator(device=device).manual_seed(rank_seed)
        images = torch.randn(bank, 3, image_size, image_size, generator=g, device=device)
        labels = torch.randint(num_classes, (bank,), generator=g, device=device)
        batches = _cycle(images.split(batch_size), labels.split(batch_size))
    info = {
        "name": "synthetic",
        "path": None,
        "fingerprint": _short_sha(json.dumps(recipe, sort_keys=True).encode()),
        **recipe,
    }
    return Dataset(
        name="synthetic",
        channels=3,
        image_size=image_size,
        num_classes=num_classes,
        batches=batches,
        info=info,
    )


def _cycle(
    images: tuple[torch.Tensor, ...], labels: tuple[torch.Tensor, ...]
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    while True:
        yield from zip(images, labels, strict=True)


def augment(x: torch.Tensor, kind: str) -> torch.Tensor:
    """Cheap on-device augmentation: Gaussian pixel noise or random horizontal flips."""
    if kind == "noise":
        return x + 0.2 * torch.randn_like(x)
    if kind == "flip":
        flip = torch.rand(x.shape[0], device=x.device) < 0.5
        return torch.where(flip[:, None, None, None], x.flip(-1), x)
    return x
