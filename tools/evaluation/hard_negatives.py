"""Hard negatives for the certainty gate: a procedural model whose latents have a known truth,
some with one consistent meaning and some whose frames change without one.

`HardNegativeSprites` decodes a latent code to a dSprites-like image with
tools/data/dsprites.py render_values; nothing is trained, so the truth is by construction:

| latent | effect on the image (anchor code z, traversed value t)            | truth        |
|--------|-------------------------------------------------------------------|--------------|
| z0     | posX = 0.5 + 0.13 t                                               | posX         |
| z1     | posY = 0.5 + 0.13 t                                               | posY         |
| z2     | scale x exp(0.15 t)                                               | scale        |
| z3     | orientation + 0.35 t radians                                      | orientation  |
| z4     | anchor-dependent: when z5 > 0 it moves the object horizontally,   | no single    |
|        | else it resizes it; the sign is sign(z6)                          | meaning      |
| z5     | the switch of z4: crossing 0 swaps a shift for a resize           | entangled    |
| z6     | the sign of z4: crossing 0 reverses z4's effect                   | entangled    |
| z7     | a random direction mixing posX, posY, scale and orientation,      | no single    |
|        | drawn afresh for every anchor (seeded by its z4, z5, z6)        | meaning      |

Every image is a heart (it shows rotation); positions are clipped to [0, 1], scales to
[0.35, 1.2]. An explanation of z4..z7 cannot hold for every anchor, so the right outcome is
"unclear"; z0..z3 should be explained with their factor. `hard_negative_model()` is the
factory a `FILE.py:FN` model reference names (tools/models/references.py), e.g.

    latent-explainer explain --model tools/evaluation/hard_negatives.py:hard_negative_model

`hard_negative_truth()` is the matching GroundTruth for tools/evaluation/scoring.py
(hard negatives: active, no factor: scored like an uninformative latent, to be rejected).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

LATENT_DIM = 8
TRUTH: dict[int, list[str]] = {0: ["posX"], 1: ["posY"], 2: ["scale"], 3: ["orientation"], 4: [], 5: [], 6: [], 7: []}
KINDS: dict[int, str] = {
    0: "consistent", 1: "consistent", 2: "consistent", 3: "consistent",
    4: "anchor-dependent (property and sign set by z5, z6)", 5: "entangled switch of z4",
    6: "entangled sign of z4", 7: "random direction per anchor, mixing four factors",
}
MODEL_FILE = Path(__file__).resolve()
MODEL_REF = f"{MODEL_FILE}:hard_negative_model"
POSITION_STEP, SCALE_STEP, ROTATION_STEP = 0.13, 0.15, 0.35
_HEART = 2


class HardNegativeSprites:
    """The model protocol of tools/models/references.py: latent_dim, decode(z) (B, 8) ->
    (B, 1, 64, 64) in {0, 1}, and a name."""

    latent_dim = LATENT_DIM
    name = "hard-negative-sprites"

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        from tools.data.dsprites import render_values

        z = torch.as_tensor(z, dtype=torch.float32).reshape(-1, LATENT_DIM).cpu()
        pos_x = 0.5 + POSITION_STEP * z[:, 0]
        pos_y = 0.5 + POSITION_STEP * z[:, 1]
        log_scale = math.log(0.7) + SCALE_STEP * z[:, 2]
        orientation = ROTATION_STEP * z[:, 3]
        # z4: a shift or a resize, chosen by z5, signed by z6 (hard steps: the anchor decides)
        signed = z[:, 4] * torch.where(z[:, 6] > 0, 1.0, -1.0)
        shift = z[:, 5] > 0
        pos_x = pos_x + torch.where(shift, POSITION_STEP * signed, 0.0)
        log_scale = log_scale + torch.where(shift, 0.0, SCALE_STEP * signed)
        # z7: a unit direction over (x, y, log scale, angle) drawn per anchor from its other codes
        mix = _anchor_directions(z)
        pos_x = pos_x + POSITION_STEP * mix[:, 0] * z[:, 7]
        pos_y = pos_y + POSITION_STEP * mix[:, 1] * z[:, 7]
        log_scale = log_scale + SCALE_STEP * mix[:, 2] * z[:, 7]
        orientation = orientation + ROTATION_STEP * mix[:, 3] * z[:, 7]
        scale = log_scale.exp().clamp(0.35, 1.2)
        shape = torch.full((len(z),), _HEART, dtype=torch.long)
        return render_values(shape, scale, orientation, pos_x.clamp(0, 1), pos_y.clamp(0, 1))


def _anchor_directions(z: torch.Tensor) -> torch.Tensor:
    """(B, 4) unit vectors, one per row, a deterministic function of the row's z4, z5, z6
    rounded to 0.01: every frame of one anchor's z7 traversal shares one, and traversing
    z0..z3 leaves it alone (traversing z4..z6 changes it: they are hard negatives already)."""
    keys = torch.round(z[:, 4:7] * 100).to(torch.int64)
    out = torch.empty(len(z), 4)
    for row, key in enumerate(keys.tolist()):
        generator = torch.Generator().manual_seed(hash(tuple(key)) % (2**31))
        vector = torch.randn(4, generator=generator)
        out[row] = vector / vector.norm()
    return out


def hard_negative_model() -> HardNegativeSprites:
    """The factory a FILE.py:FN model reference calls."""
    return HardNegativeSprites()


def hard_negative_truth():
    """tools.evaluation.ground_truth.GroundTruth of the model (by construction, TRUTH)."""
    from tools.evaluation.ground_truth import GroundTruth, LatentTruth

    latents = [LatentTruth(index=i, factors=list(f), active=True, kl=float("nan"),
                           normalized_mi={name: 1.0 for name in f}) for i, f in TRUTH.items()]
    factor_names = ["shape", "scale", "orientation", "posX", "posY"]
    matrix = [[1.0 if name in TRUTH[i] else 0.0 for name in factor_names] for i in TRUTH]
    return GroundTruth(latents=latents, mig=float("nan"), mi_matrix=matrix, factor_names=factor_names,
                       orientation_folded=False, dataset="dsprites")
