"""Loading and checking a model inside the sandbox kernel (never in the host process).

The model protocol (tools/models/references.py): `latent_dim: int`, `decode(z)` (B, D) -> (B, C, H, W)
in [0, 1], optional `sample_latents(n, generator)` and `name`.

The run's model options (diffusion directions, steps, edit strength, prompt, guidance scale,
dtype, the basis cache's folders) are set once per kernel by `configure_models`, which the
host's kernel pool runs in the kernel's first cell (agent/kernel_pool.py), so that every
`load_model(ref, device)` of the run, including one an LLM coder writes, gets the same model.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import torch

from tools.models.device import resolve_device
from tools.models.progress import progress_line

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class ModelOptions:
    """How diffusion models are built in this kernel. None: the family's default.

    directions: h-space directions explained (k). inference_steps: DDIM steps from x_T to x_0.
    edit_strength: gamma of the x-space guidance edit (0.1 DDPM, 1 Stable Diffusion).
    prompt / guidance_scale: Stable Diffusion's prompt and classifier-free guidance scale.
    dtype: "auto" (float16 on CUDA for Stable Diffusion, else float32), "float32", "float16",
    "bfloat16". basis_cache: folders where stored h-space bases are looked up, in order;
    basis_cache_write: the folder new ones are written to. hidden_paths / visible_paths: what the
    sandbox hides, and what it shows inside those (the model's folder, --mount folders, the run
    folder) (for the message about a path it cannot see).
    progress: print progress lines (tools/models/progress.py) to stderr during long steps."""

    directions: int | None = None
    inference_steps: int | None = None
    edit_strength: float | None = None
    prompt: str | None = None
    guidance_scale: float = 7.5
    dtype: str = "auto"
    basis_cache: tuple[str, ...] = ()
    basis_cache_write: str | None = None
    hidden_paths: tuple[str, ...] = ()
    visible_paths: tuple[str, ...] = ()
    progress: bool = False

    def hspace_settings(self) -> dict:
        """The HSpaceSettings overrides these options give."""
        named = {"rank": self.directions, "num_inference_steps": self.inference_steps, "gamma": self.edit_strength}
        return {k: v for k, v in named.items() if v is not None}

    def torch_dtype(self, device: torch.device, family: str) -> torch.dtype:
        if self.dtype == "auto":
            return torch.float16 if device.type == "cuda" and family == "sd" else torch.float32
        if self.dtype not in DTYPES:
            raise ModelProtocolError(f"dtype {self.dtype!r} is not one of auto, {', '.join(DTYPES)}")
        if self.dtype == "float16" and device.type != "cuda":
            raise ModelProtocolError("dtype float16 needs a CUDA device; on a CPU use float32 or bfloat16")
        return DTYPES[self.dtype]


_options = ModelOptions()


def configure_models(**options) -> ModelOptions:
    """Set this kernel's ModelOptions (fields by name; lists become tuples); forgets loaded models."""
    global _options
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    _options = replace(ModelOptions(), **values)
    load_model.cache_clear()
    return _options


def model_options() -> ModelOptions:
    return _options


def _basis_cache():
    from tools.models.ddpm.basis_cache import BasisCache

    if not _options.basis_cache and not _options.basis_cache_write:
        return None
    return BasisCache(tuple(Path(p) for p in _options.basis_cache),
                      Path(_options.basis_cache_write) if _options.basis_cache_write else None)


def _diffusion_kwargs() -> dict:
    return {"basis_cache": _basis_cache(), "progress": progress_line if _options.progress else None,
            **_options.hspace_settings()}


class PathNotVisibleError(FileNotFoundError):
    """A user's model file read a path the sandbox hides; the message names --mount."""


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
    try:
        spec.loader.exec_module(module)
        factory = getattr(module, function, None)
        if not callable(factory):
            raise ModelProtocolError(f"{path} has no function {function!r}")
        return factory()
    except (FileNotFoundError, PermissionError) as error:
        hidden = _hidden_path(error.filename)
        if hidden is None:
            raise
        folder = str(Path(error.filename).parent)
        raise PathNotVisibleError(
            f"{path} reads {error.filename}, which the sandbox cannot see (it hides {hidden}); show it the "
            f"folder read-only with --mount {folder}") from None


def _hidden_path(filename) -> str | None:
    """The hidden folder a missing absolute path lies under (and no mount covers), else None."""
    if not isinstance(filename, (str, Path)) or not Path(filename).is_absolute():
        return None
    text = str(filename)

    def under(folder: str) -> bool:
        return text == folder or text.startswith(folder.rstrip("/") + "/")

    if any(under(m) for m in _options.visible_paths):
        return None
    return next((h for h in (*_options.hidden_paths, "/tmp") if under(h)), None)


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

            model = load_ddpm_model(builtin.folder, torch_device, **_diffusion_kwargs())
        else:
            model = CheckpointModel(builtin.folder, torch_device)
    elif parsed.kind == "checkpoint":
        from tools.models.csvae.model import is_csvae_checkpoint, load_csvae
        from tools.models.ddpm.model import is_ddpm_checkpoint

        if is_ddpm_checkpoint(parsed.target):
            from tools.models.ddpm.hspace_model import load_ddpm_model

            model = load_ddpm_model(parsed.target, torch_device, **_diffusion_kwargs())
        else:
            model = load_csvae(parsed.target, torch_device) if is_csvae_checkpoint(parsed.target) else CheckpointModel(parsed.target, torch_device)
    elif parsed.kind == "disvae":
        from tools.models.vae.disvae import load_disvae

        model = load_disvae(parsed.target, torch_device)
    elif parsed.kind == "diffusers":
        from tools.models.diffusers_pipeline.model import load_diffusers_model
        from tools.models.diffusers_pipeline.source import locate_pretrained

        source = locate_pretrained(parsed.target, str(parsed))
        model = load_diffusers_model(source, str(parsed), torch_device, _options.torch_dtype(torch_device, "ddpm"),
                                     **_diffusion_kwargs())
    elif parsed.kind == "sd":
        from tools.models.diffusers_pipeline.source import locate_pretrained
        from tools.models.stable_diffusion.model import load_stable_diffusion_model

        if not _options.prompt:
            raise ModelProtocolError(f"{parsed} needs a prompt: give --prompt TEXT")
        source = locate_pretrained(parsed.target, str(parsed))
        model = load_stable_diffusion_model(source, _options.prompt, torch_device,
                                            _options.torch_dtype(torch_device, "sd"),
                                            guidance_scale=_options.guidance_scale, **_diffusion_kwargs())
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
