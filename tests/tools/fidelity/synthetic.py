"""Rendered dSprites traversals of one true factor each, for the fidelity tests."""

from __future__ import annotations

import numpy as np
import torch

from tools.data.dsprites import render_values

FACTORS = ("pos_x", "pos_y", "scale", "orientation")
RANGES = {"pos_x": (0.1, 0.9), "pos_y": (0.1, 0.9), "scale": (0.5, 1.0), "orientation": (0.0, 1.2)}


def factor_traversals(factor: str, anchors: int, steps: int, seed: int) -> np.ndarray:
    """(anchors, steps, 1, 64, 64): `factor` swept low to high from random anchors (the other
    factors held at the anchor's values)."""
    generator = torch.Generator().manual_seed(seed)
    base = {
        "shape": torch.randint(0, 3, (anchors,), generator=generator),
        "scale": 0.6 + 0.3 * torch.rand(anchors, generator=generator),
        "orientation": 0.5 * torch.rand(anchors, generator=generator),
        "pos_x": 0.3 + 0.4 * torch.rand(anchors, generator=generator),
        "pos_y": 0.3 + 0.4 * torch.rand(anchors, generator=generator),
    }
    low, high = RANGES[factor]
    sweep = torch.linspace(low, high, steps)
    values = {name: column[:, None].repeat(1, steps).flatten() for name, column in base.items()}
    values[factor] = sweep[None, :].repeat(anchors, 1).flatten()
    frames = render_values(values["shape"], values["scale"], values["orientation"], values["pos_x"], values["pos_y"])
    return frames.reshape(anchors, steps, 1, 64, 64).numpy()
