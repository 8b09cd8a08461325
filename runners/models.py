"""Models for the reference runner: a small MLP and CNN here, ResNets / EfficientNets via torchvision."""

from __future__ import annotations

import sys

import torch
from torch import nn

try:
    from runners.resnet import ResNet50
except ImportError:  # run as a script (train.py put this folder on sys.path)
    from resnet import ResNet50  # type: ignore[no-redef]

TORCHVISION_MODELS = ("resnet18", "resnet50", "efficientnet_b0", "efficientnet_b3")


class ModelUnavailable(RuntimeError):
    """The requested model cannot be built here; the message says why."""


class MLP(nn.Module):
    """Flattened image -> two hidden ReLU layers -> class logits."""

    def __init__(self, in_features: int, hidden: int, num_classes: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class SmallCNN(nn.Module):
    """Three conv blocks pooled to 4x4, then a linear head; any image size >= 4."""

    def __init__(self, channels: int, num_classes: int, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * width * 16, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class RepeatChannels(nn.Module):
    """Grey images -> the three channels ImageNet models expect."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(-1, 3, -1, -1)


def _torchvision_model(name: str, num_classes: int) -> nn.Module:
    try:
        import torchvision  # lazy: slow to import and only needed for these models
    except ImportError:
        if name == "resnet50":  # the same network written out (runners/resnet.py)
            print("torchvision is not installed: ResNet-50 from runners/resnet.py (the same "
                  "network)", file=sys.stderr, flush=True)
            return ResNet50(num_classes)
        raise ModelUnavailable(
            f"--model {name} needs torchvision, which is not installed here; install the "
            "torchvision build matching your torch, or use --model mlp / cnn"
        ) from None
    return getattr(torchvision.models, name)(weights=None, num_classes=num_classes)


def build_model(
    name: str, *, channels: int, image_size: int, num_classes: int, hidden: int
) -> nn.Module:
    """The model called ``name`` for images of ``channels`` x ``image_size``^2."""
    if name == "mlp":
        return MLP(channels * image_size * image_size, hidden, num_classes)
    if name == "cnn":
        return SmallCNN(channels, num_classes)
    if name in TORCHVISION_MODELS:
        model = _torchvision_model(name, num_classes)
        return model if channels == 3 else nn.Sequential(RepeatChannels(), model)
    known = ", ".join(("mlp", "cnn", *TORCHVISION_MODELS))
    raise ModelUnavailable(f"unknown model {name!r}; choose one of {known}")
