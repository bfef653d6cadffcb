"""Traversal helpers that perturbation code calls inside the sandbox kernel.

A traversal (LatentExplainer, Zhu et al. 2024, section 3.2; beta-TCVAE code: z_i over
{-3, -1.5, 0, 1.5, 3}, others fixed) starts from A anchor codes and sets the traversed latents to
K values, holding every other latent at its anchor value, then decodes all A*K codes in batches.
These signatures and docstrings are what an LLM coder is shown (agent/helper_catalogue.py), so
they must say exactly what each function does.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tools.models.loading import load_model, sample_anchor_latents
from tools.traversal.check import TRAVERSAL_FILE

__all__ = ["load_model", "make_anchors", "direction_for", "traverse", "decode_in_batches", "save_traversal"]

def make_anchors(model, n: int, seed: int, condition: dict | None = None) -> torch.Tensor:
    """n anchor codes (n, latent_dim) from the model's sample_latents (encoded data for the
    built-in VAEs) or N(0, I); the same seed gives the same anchors. With an attribute condition
    ({"role": "attribute", "attribute": NAME}) and a model that has anchors_without(NAME, n,
    generator) (CSVAE), the anchors are codes of images that lack the attribute, so a
    conditional traversal adds it (Klys et al. 2018)."""
    if condition and condition.get("role") == "attribute" and hasattr(model, "anchors_without"):
        generator = torch.Generator().manual_seed(seed)
        codes = model.anchors_without(condition["attribute"], n, generator)
        return torch.as_tensor(codes, dtype=torch.float32).reshape(n, model.latent_dim).cpu()
    return sample_anchor_latents(model, n, seed)


def traverse(anchors: torch.Tensor, indices: list[int], values: torch.Tensor, mode: str = "absolute",
             direction: torch.Tensor | None = None) -> torch.Tensor:
    """Traversal codes (A, K, D) from anchors (A, D) and values (K,), lowest value first.

    mode "absolute": latents `indices` are set to each value (all of them together for a group);
    every other latent keeps its anchor value.
    mode "offset": each code is anchor + value * direction, direction (D,) (e.g. a CSVAE W_move
    or a unit vector); `indices` names the latents the direction lives on.
    """
    anchors = torch.as_tensor(anchors, dtype=torch.float32)
    values = torch.as_tensor(values, dtype=torch.float32).flatten()
    a, d = anchors.shape
    z = anchors[:, None, :].repeat(1, values.numel(), 1)  # (A, K, D)
    if mode == "absolute":
        for i in indices:
            if not 0 <= i < d:
                raise IndexError(f"latent index {i} is outside 0..{d - 1}")
            z[:, :, i] = values[None, :]
    elif mode == "offset":
        if direction is None:
            raise ValueError("mode 'offset' needs a direction (D,)")
        z = z + values[None, :, None] * torch.as_tensor(direction, dtype=torch.float32)[None, None, :]
    else:
        raise ValueError(f"mode must be 'absolute' or 'offset', got {mode!r}")
    return z


def direction_for(model, indices: list[int], condition: dict | None = None) -> torch.Tensor:
    """The direction (D,) an "offset" traversal moves along.

    With an attribute condition ({"role": "attribute", "attribute": NAME}) it is the model's
    attribute_direction(NAME) (CSVAE: W_move = mean w(attr=1) - mean w(attr=0), Klys et al.
    2018, as used by LatentExplainer's conditional bias); otherwise the unit vector spreading
    equally over `indices`."""
    if condition and condition.get("role") == "attribute":
        if not hasattr(model, "attribute_direction"):
            raise AttributeError(f"the model has no attribute_direction() for the condition on {condition.get('attribute')!r}")
        return torch.as_tensor(model.attribute_direction(condition["attribute"]), dtype=torch.float32).flatten()
    direction = torch.zeros(model.latent_dim)
    direction[list(indices)] = 1.0
    return direction / direction.norm()


def decode_in_batches(model, z: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Decode codes (A, K, D) to frames (A, K, C, H, W) in [0, 1], batch_size codes per forward pass."""
    a, k, d = z.shape
    flat = z.reshape(a * k, d)
    with torch.inference_mode():
        chunks = [model.decode(flat[i : i + batch_size]).float().cpu() for i in range(0, a * k, batch_size)]
    frames = torch.cat(chunks).clamp(0, 1)
    return frames.reshape(a, k, *frames.shape[1:])


def save_traversal(folder: str | Path, z: torch.Tensor, frames: torch.Tensor, values: torch.Tensor) -> dict:
    """Write folder/traversal.npz with z (A, K, D) float32, frames (A, K, C, H, W) float16 and
    values (K,) float32; prints and returns a JSON summary {path, anchors, frames, image_shape}."""
    import numpy as np

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / TRAVERSAL_FILE
    np.savez_compressed(
        path,
        z=torch.as_tensor(z).float().numpy(),
        frames=torch.as_tensor(frames).to(torch.float16).numpy(),
        values=torch.as_tensor(values).float().numpy(),
    )
    summary = {"path": str(path), "anchors": int(z.shape[0]), "frames": int(z.shape[1]),
               "image_shape": list(frames.shape[2:])}
    print(json.dumps(summary))
    return summary
