"""Image batches of a procedural (or packaged) dataset by name, at a chosen resolution: what a
diffusion model trains on, and the labelled factors a model's metadata names."""

from __future__ import annotations

import torch

DATASET_CHANNELS: dict[str, int] = {"dsprites": 1, "shapes3d": 3, "digits": 1}
"""The procedural / packaged datasets a DDPM trains on, and their image channels."""


def dataset_batch(dataset: str, n: int, image_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """n training images (n, C, image_size, image_size) in [0, 1]: rendered (or, for digits,
    drawn) at 64x64 and average-pooled to image_size, which must divide 64."""
    if dataset == "dsprites":
        from tools.data.dsprites import sample_batch

        images = sample_batch(n, generator).images
    elif dataset == "shapes3d":
        from tools.data.shapes3d import sample_batch

        images = sample_batch(n, generator).images
    elif dataset == "digits":
        from tools.data.digits import sample_batch

        images = sample_batch(n, generator, size=64).images
    else:
        raise ValueError(f"unknown dataset {dataset!r}; known: {', '.join(DATASET_CHANNELS)}")
    if image_size < 1 or 64 % image_size:
        raise ValueError(f"the {dataset} images are 64x64; image_size must divide 64, got {image_size}")
    return torch.nn.functional.avg_pool2d(images, 64 // image_size)


def dataset_factor_names(dataset: str) -> list[str]:
    """The labelled factors of a dataset (for a model's metadata); [] when unknown."""
    if dataset == "dsprites":
        from tools.data import dsprites

        return list(dsprites.FACTOR_NAMES)
    if dataset == "shapes3d":
        from tools.data import shapes3d

        return list(shapes3d.FACTOR_NAMES)
    return ["digit"] if dataset == "digits" else []
