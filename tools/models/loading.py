"""Loading and checking a model inside the sandbox kernel (never in the host process).

The model protocol (tools/models/references.py): `latent_dim: int`, `decode(z)` (B, D) -> (B, C, H, W)
in [0, 1], optional `sample_latents(n, generator)` and `name`.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import torch

from tools.models.device import resolve_device


class ModelProtocolError(ValueError):
    """The user's model does not follow the protocol; the message says which part."""


class CheckpointModel:
    """A VAE checkpoint adapted to the protocol. Anchors (sample_latents) are posterior means of
    freshly rendered images of the dataset it was trained on, so traversals start from codes the
    decoder has seen (a briefly trained VAE decodes z = 0 to a blank image)."""

    def __init__(self, folder: str | Path, device: torch.device):
        from tools.models.vae.checkpoint import load_checkpoint

        self.vae = load_checkpoint(folder, device)
        self.device = device
        self.latent_dim = self.vae.latent_dim
        self.dataset = self.vae.config.dataset
        self.name = Path(folder).name

    @torch.inference_mode()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z.to(self.device)).cpu()

    @torch.inference_mode()
    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.dataset != "dsprites":
            return torch.randn(n, self.latent_dim, generator=generator)
        from tools.data.dsprites import sample_batch

        images = sample_batch(n, generator).images.to(self.device)
        mean, _ = self.vae.encode(images)
        return mean.cpu()


def _load_user_factory(path: str, function: str):
    spec = importlib.util.spec_from_file_location("latent_explainer_user_model", path)
    if spec is None or spec.loader is None:
        raise ModelProtocolError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    factory = getattr(module, function, None)
    if not callable(factory):
        raise ModelProtocolError(f"{path} has no function {function!r}")
    return factory()


@cache
def load_model(ref: str, device: str = "auto"):
    """The model a reference names (tools.models.references syntax), checked against the protocol.
    Cached: a kernel loads each model once."""
    from tools.models.builtin import BUILTIN_MODELS
    from tools.models.references import parse_model_ref

    parsed = parse_model_ref(ref)
    torch_device = resolve_device(device)
    if parsed.kind == "builtin":
        builtin = BUILTIN_MODELS[parsed.target]
        if builtin.loader == "csvae":
            from tools.models.csvae.model import load_csvae

            model = load_csvae(builtin.folder, torch_device)
        elif builtin.loader == "ddpm":
            from tools.models.ddpm.hspace_model import load_ddpm_model

            model = load_ddpm_model(builtin.folder, torch_device)
        else:
            model = CheckpointModel(builtin.folder, torch_device)
    elif parsed.kind == "checkpoint":
        from tools.models.csvae.model import is_csvae_checkpoint, load_csvae
        from tools.models.ddpm.model import is_ddpm_checkpoint

        if is_ddpm_checkpoint(parsed.target):
            from tools.models.ddpm.hspace_model import load_ddpm_model

            model = load_ddpm_model(parsed.target, torch_device)
        else:
            model = load_csvae(parsed.target, torch_device) if is_csvae_checkpoint(parsed.target) else CheckpointModel(parsed.target, torch_device)
    elif parsed.kind == "disvae":
        from tools.models.vae.disvae import load_disvae

        model = load_disvae(parsed.target, torch_device)
    else:
        model = _load_user_factory(parsed.target, parsed.function)
    check_model(model)
    return model


def sample_anchor_latents(model, n: int, seed: int) -> torch.Tensor:
    """n anchor codes (n, D): the model's sample_latents when it has one, else N(0, I)."""
    generator = torch.Generator().manual_seed(seed)
    if hasattr(model, "sample_latents"):
        z = model.sample_latents(n, generator)
    else:
        z = torch.randn(n, model.latent_dim, generator=generator)
    return torch.as_tensor(z, dtype=torch.float32).reshape(n, model.latent_dim).cpu()


def check_model(model) -> dict:
    """Check the protocol on two anchors; returns {latent_dim, image_shape, name, metadata}.

    Raises ModelProtocolError naming the first problem: latent_dim missing or not a positive
    int, decode missing, wrong output type / shape / dtype, values outside [0, 1] or not finite.
    """
    latent_dim = getattr(model, "latent_dim", None)
    if not isinstance(latent_dim, int) or isinstance(latent_dim, bool) or latent_dim < 1:
        raise ModelProtocolError(f"model.latent_dim must be a positive int, got {latent_dim!r}")
    if not callable(getattr(model, "decode", None)):
        raise ModelProtocolError("model has no decode(z) method")
    z = sample_anchor_latents(model, 2, seed=0)
    with torch.inference_mode():
        x = model.decode(z)
    if not isinstance(x, torch.Tensor):
        raise ModelProtocolError(f"decode(z) must return a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4 or x.shape[0] != 2 or x.shape[1] not in (1, 3):
        raise ModelProtocolError(
            f"decode(z) for z of shape (2, {latent_dim}) must return (2, C, H, W) with C = 1 or 3, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ModelProtocolError(f"decode(z) must return floats, got {x.dtype}")
    if not torch.isfinite(x).all():
        raise ModelProtocolError("decode(z) returned NaN or infinite values")
    low, high = float(x.min()), float(x.max())
    if low < -1e-4 or high > 1 + 1e-4:
        raise ModelProtocolError(f"decode(z) must return values in [0, 1], got [{low:.3g}, {high:.3g}]")
    return {"latent_dim": latent_dim, "image_shape": list(x.shape[1:]), "name": str(getattr(model, "name", "model")),
            "metadata": getattr(model, "metadata", {})}
