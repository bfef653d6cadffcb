"""Handwritten digits for an MNIST-like demo, from the data set that ships inside scikit-learn.

`sklearn.datasets.load_digits` holds 1,797 greyscale 8x8 digits (0-9, about 180 each), pixel
values 0-16 (the UCI "Optical Recognition of Handwritten Digits" set). They are scaled to
[0, 1] and upsampled to 32x32 or 64x64 by bicubic interpolation (clamped to [0, 1]); nothing
is downloaded. scikit-learn is imported only when the digits are first needed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from tools.errors import UserError

IMAGE_SIZES: tuple[int, ...] = (32, 64)
CLASS_NAMES: tuple[str, ...] = tuple(str(digit) for digit in range(10))
NUM_IMAGES = 1797
_MAX_VALUE = 16.0


@dataclass(frozen=True)
class DigitsBatch:
    """images: (B, 1, S, S) float32 in [0, 1], white strokes on black. labels: (B,) int64 digits 0-9."""

    images: torch.Tensor
    labels: torch.Tensor


@functools.cache
def _raw_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """All digits as (1797, 1, 8, 8) float32 in [0, 1] and labels (1797,) int64."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise UserError("the digits dataset needs scikit-learn, which is not installed; pip install scikit-learn") from None
    data = load_digits()
    images = torch.as_tensor(data.images, dtype=torch.float32)[:, None] / _MAX_VALUE
    return images, torch.as_tensor(data.target, dtype=torch.int64)


@functools.cache
def load_digits_images(size: int = 64) -> DigitsBatch:
    """Every digit, upsampled to size x size: images (1797, 1, size, size), labels (1797,)."""
    if size not in IMAGE_SIZES:
        raise UserError(f"digit image size {size} is not supported; use one of {', '.join(map(str, IMAGE_SIZES))}")
    images, labels = _raw_digits()
    upsampled = torch.nn.functional.interpolate(images, size=(size, size), mode="bicubic", align_corners=False)
    return DigitsBatch(images=upsampled.clamp(0, 1).contiguous(), labels=labels)


def sample_batch(n: int, generator: torch.Generator | None = None, size: int = 64) -> DigitsBatch:
    """n digits drawn uniformly with replacement (the same generator state gives the same batch)."""
    data = load_digits_images(size)
    index = torch.randint(data.labels.numel(), (n,), generator=generator)
    return DigitsBatch(images=data.images[index], labels=data.labels[index])
