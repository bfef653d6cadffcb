"""The host's check of a traversal the sandboxed code produced, against its plan.

Generated code is untrusted and may be wrong: the host re-reads traversal.npz and checks the
numbers, so a bad frame set becomes an observation for the coder instead of a bad explanation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tools.bias_formula.plans import TraversalPlan

TRAVERSAL_FILE = "traversal.npz"
"""The file a traversal's code writes into its folder (tools/traversal/perturbation.py save_traversal)."""

HELD_TOLERANCE = 1e-4


@dataclass
class Traversal:
    """z: (A, K, D) codes; frames: (A, K, C, H, W) float32 in [0, 1]; values: (K,)."""

    z: np.ndarray
    frames: np.ndarray
    values: np.ndarray


def load_traversal(path: str | Path) -> Traversal:
    with np.load(path) as data:
        return Traversal(z=data["z"].astype(np.float32), frames=data["frames"].astype(np.float32),
                         values=data["values"].astype(np.float32))


def check_traversal(t: Traversal, plan: TraversalPlan, n_anchors: int, latent_dim: int) -> list[str]:
    """Problems with a traversal, empty when it matches the plan.

    Checks: shapes (A = n_anchors, K = len(plan.values), D = latent_dim, C in {1, 3}); frames finite
    and in [0, 1]; values equal to the plan's; held latents (all not in plan.indices) constant
    along each anchor's traversal; for mode "absolute", the traversed latents equal the values.
    """
    problems: list[str] = []
    k = len(plan.values)
    if t.z.ndim != 3 or t.z.shape != (n_anchors, k, latent_dim):
        problems.append(f"z must have shape (anchors={n_anchors}, frames={k}, latent_dim={latent_dim}), got {t.z.shape}")
    if t.frames.ndim != 5 or t.frames.shape[:2] != (n_anchors, k) or t.frames.shape[2] not in (1, 3):
        problems.append(f"frames must have shape ({n_anchors}, {k}, C in 1/3, H, W), got {t.frames.shape}")
    if problems:
        return problems
    if not np.isfinite(t.frames).all():
        problems.append("frames contain NaN or infinite values")
    elif t.frames.min() < -1e-3 or t.frames.max() > 1 + 1e-3:
        problems.append(f"frames must lie in [0, 1], got [{t.frames.min():.3g}, {t.frames.max():.3g}]")
    if t.values.shape != (k,) or not np.allclose(t.values, plan.values, atol=1e-4):
        problems.append(f"values must be the plan's {plan.values}, got {t.values.tolist()}")
    held = [i for i in range(latent_dim) if i not in plan.indices]
    if held:
        drift = np.abs(t.z[:, :, held] - t.z[:, :1, held]).max()
        if drift > HELD_TOLERANCE:
            moved = sorted({held[j] for j in np.argwhere(np.abs(t.z[:, :, held] - t.z[:, :1, held]) > HELD_TOLERANCE)[:, 2]})
            problems.append(f"held latents moved (by up to {drift:.3g}): {moved}")
    if plan.mode == "absolute" and t.z.shape[1] == k:
        expected = np.asarray(plan.values, dtype=np.float32)[None, :, None]
        if not np.allclose(t.z[:, :, plan.indices], expected, atol=1e-4):
            problems.append(f"traversed latents {plan.indices} do not take the plan's values {plan.values}")
    return problems
