"""Procedural dSprites (Matthey et al. 2017): 64x64 binary sprites rendered on demand.

Factors and their grid (the original dataset's, see docs/method.md):

| factor      | values                          |
|-------------|---------------------------------|
| shape       | 3: square, ellipse, heart       |
| scale       | 6 values in [0.5, 1]            |
| orientation | 40 values in [0, 2*pi)          |
| posX, posY  | 32 values each in [0, 1]        |

Rendering is vectorised in torch and deterministic: a factor-index tensor always gives the
same images. Nothing is downloaded or stored; the full grid (737,280 images) is never built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

IMAGE_SIZE = 64
FACTOR_NAMES: tuple[str, ...] = ("shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES: tuple[int, ...] = (3, 6, 40, 32, 32)
SHAPE_NAMES: tuple[str, ...] = ("square", "ellipse", "heart")
NUM_IMAGES = math.prod(FACTOR_SIZES)

# Geometry in pixels: an object's centre spans [12, 52] on each axis; at scale 1 the shape's
# unit coordinate maps to HALF_SIZE pixels.
_CENTRE_LOW, _CENTRE_HIGH = 12.0, 52.0
_HALF_SIZE = 10.0


@dataclass(frozen=True)
class DSpritesBatch:
    """A labelled batch.

    images: (B, 1, 64, 64) float32 in {0, 1}.
    factors: (B, 5) int64 factor indices, columns in FACTOR_NAMES order.
    """

    images: torch.Tensor
    factors: torch.Tensor


def factor_values(factors: torch.Tensor) -> dict[str, torch.Tensor]:
    """Map factor indices (B, 5) to physical values: scale in [0.5, 1], orientation in
    radians [0, 2*pi), positions in [0, 1], shape as its index."""
    f = factors.long()
    return {
        "shape": f[:, 0],
        "scale": 0.5 + 0.5 * f[:, 1].float() / (FACTOR_SIZES[1] - 1),
        "orientation": 2 * math.pi * f[:, 2].float() / FACTOR_SIZES[2],
        "posX": f[:, 3].float() / (FACTOR_SIZES[3] - 1),
        "posY": f[:, 4].float() / (FACTOR_SIZES[4] - 1),
    }


def render(factors: torch.Tensor) -> torch.Tensor:
    """Render factor indices (B, 5) to images (B, 1, 64, 64), values in {0, 1} (render_values
    of their physical values)."""
    values = factor_values(factors)
    return render_values(values["shape"], values["scale"], values["orientation"], values["posX"], values["posY"])


def render_values(shape: torch.Tensor, scale: torch.Tensor, orientation: torch.Tensor, pos_x: torch.Tensor,
                  pos_y: torch.Tensor) -> torch.Tensor:
    """Render physical factor values, each (B,), to images (B, 1, 64, 64), values in {0, 1}:
    shape as an index into SHAPE_NAMES, scale (1 = the largest dSprites scale), orientation in
    radians, positions in [0, 1] (values between or beyond the dataset's grid are drawn too).

    Steps:
    1. Pixel-centre grid in pixel units; posY grows downward in the image (row index).
    2. Move each pixel into the object's frame: subtract the centre, rotate by -orientation,
       divide by HALF_SIZE * scale.
    3. Inside test per shape: square |u|,|v| <= 0.8; ellipse (u/1)^2 + (v/0.5)^2 <= 1;
       heart (u^2 + v^2 - 1)^3 - u^2 v^3 <= 0 on coordinates scaled by 1/1.1, flipped so the
       point faces down in the image.
    """
    device = shape.device
    coords = torch.arange(IMAGE_SIZE, dtype=torch.float32, device=device) + 0.5
    rows, cols = torch.meshgrid(coords, coords, indexing="ij")  # (64, 64)

    cx = _CENTRE_LOW + pos_x.float() * (_CENTRE_HIGH - _CENTRE_LOW)
    cy = _CENTRE_LOW + pos_y.float() * (_CENTRE_HIGH - _CENTRE_LOW)
    dx = cols[None] - cx[:, None, None]
    dy = rows[None] - cy[:, None, None]
    theta = orientation.float()[:, None, None]
    cos, sin = torch.cos(theta), torch.sin(theta)
    size = (_HALF_SIZE * scale.float())[:, None, None]
    u = (cos * dx + sin * dy) / size
    v = (-sin * dx + cos * dy) / size

    square = (u.abs() <= 0.8) & (v.abs() <= 0.8)
    ellipse = u**2 + (v / 0.5) ** 2 <= 1.0
    hu, hv = u / 1.1, -v / 1.1 + 0.15
    heart = (hu**2 + hv**2 - 1) ** 3 - hu**2 * hv**3 <= 0
    kind = shape.long()[:, None, None]
    inside = torch.where(kind == 0, square, torch.where(kind == 1, ellipse, heart))
    return inside.float().unsqueeze(1)


def sample_factors(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform factor indices (n, 5): the same distribution as shuffling the full grid."""
    columns = [torch.randint(size, (n,), generator=generator) for size in FACTOR_SIZES]
    return torch.stack(columns, dim=1)


def sample_batch(n: int, generator: torch.Generator | None = None) -> DSpritesBatch:
    """A random labelled batch of n images."""
    factors = sample_factors(n, generator)
    return DSpritesBatch(images=render(factors), factors=factors)
