"""Model references a user can give, checked in the host before any code runs.

- `builtin:NAME` — a model that ships with LatentExplainer (`latent-explainer models` lists them).
- `FILE.py:FN` — FN() in the user's file returns an object with `latent_dim: int` and
  `decode(z)`: (B, latent_dim) float tensor -> (B, C, H, W) in [0, 1]; optional
  `sample_latents(n, generator)` (default N(0, I)) and `name`.
- `FOLDER` — a checkpoint folder written by `latent-explainer train` (config.json + model.safetensors;
  a VAE or a CSVAE, as its config.json says).
- `disvae:FOLDER` — a checkpoint of the disentangling-vae format: specs.json (img_size,
  latent_dim, model_type "Burgess") and model.pt (tools/models/vae/disvae.py).
- `diffusers:FOLDER_OR_HUB_ID` — an unconditional diffusers pipeline (DDPMPipeline, DDIMPipeline:
  a UNet2DModel and a scheduler), explained through h-space directions
  (tools/models/diffusers_pipeline/).
- `sd:FOLDER_OR_HUB_ID` — a StableDiffusionPipeline (1.x, 2.x), explained under `--prompt TEXT`
  (tools/models/stable_diffusion/).
A hub id (OWNER/NAME) is read from the Hugging Face cache; with HF_HUB_OFFLINE=1 one that is not
cached is refused here, naming the missing files (tools/models/diffusers_pipeline/source.py).

The user's file is imported only inside the sandbox kernel (tools/models/loading.py), never here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from tools.errors import UserError

ALLOWED_FORMS = ("builtin:NAME, FILE.py:FUNCTION, disvae:FOLDER, diffusers:FOLDER_OR_HUB_ID, sd:FOLDER_OR_HUB_ID, "
                 "or a checkpoint folder from `latent-explainer train`")

REFERENCE_FORMS: tuple[tuple[str, str, str], ...] = (
    ("builtin:NAME", "a model shipped with LatentExplainer", "builtin:dsprites-ddpm"),
    ("FOLDER", "a checkpoint folder written by `latent-explainer train` or `train-ddpm`", "checkpoints/my-vae"),
    ("disvae:FOLDER", "a disentangling-vae checkpoint (specs.json + model.pt)", "disvae:~/ckpt/btcvae_dsprites"),
    ("diffusers:FOLDER_OR_HUB_ID", "an unconditional diffusers pipeline (DDPM/DDIM, UNet2DModel)",
     "diffusers:google/ddpm-celebahq-256"),
    ("sd:FOLDER_OR_HUB_ID --prompt TEXT", "a Stable Diffusion 1.x/2.x pipeline, directions under the prompt",
     'sd:stable-diffusion-v1-5/stable-diffusion-v1-5 --prompt "a photo of a face"'),
    ("FILE.py:FUNCTION", "your own model: FUNCTION() returns an object with latent_dim and decode(z)",
     "~/proj/model.py:load --mount ~/ckpt"),
)
"""(form, what it names, an example): what `latent-explainer models` lists."""


@dataclass(frozen=True)
class ModelRef:
    """kind: builtin | file | checkpoint | disvae | diffusers | sd. target: builtin name, absolute
    file path or folder, or a hub id (diffusers, sd). function: the factory's name for kind "file"."""

    kind: Literal["builtin", "file", "checkpoint", "disvae", "diffusers", "sd"]
    target: str
    function: str | None = None

    def __str__(self) -> str:
        if self.kind == "builtin":
            return f"builtin:{self.target}"
        if self.kind == "file":
            return f"{self.target}:{self.function}"
        if self.kind in ("disvae", "diffusers", "sd"):
            return f"{self.kind}:{self.target}"
        return self.target

    def to_dict(self) -> dict:
        return asdict(self) | {"ref": str(self)}


def parse_model_ref(text: str) -> ModelRef:
    """Parse and check a reference; UserError names what is wrong and what is allowed."""
    from tools.models.builtin import BUILTIN_MODELS

    text = (text or "").strip()
    if not text:
        raise UserError(f"no model given; use {ALLOWED_FORMS}")
    if text.startswith("builtin:"):
        name = text.removeprefix("builtin:")
        if name not in BUILTIN_MODELS:
            raise UserError(f"unknown built-in model {name!r}; built-ins are: {', '.join(sorted(BUILTIN_MODELS))}")
        return ModelRef("builtin", name)
    if text.startswith("disvae:"):
        from tools.models.vae.disvae import read_disvae_specs

        folder = text.removeprefix("disvae:")
        read_disvae_specs(folder)  # UserError names a missing file or a bad field
        return ModelRef("disvae", str(Path(folder).expanduser().resolve()))
    for kind in ("diffusers", "sd"):
        if text.startswith(f"{kind}:"):
            return _pretrained_ref(kind, text.removeprefix(f"{kind}:").strip(), text)
    if ".py:" in text:
        file, _, function = text.rpartition(":")
        path = Path(file).expanduser()
        if not path.is_file():
            raise UserError(f"model file {file!r} does not exist; use {ALLOWED_FORMS}")
        if not function.isidentifier():
            raise UserError(f"{function!r} in {text!r} is not a Python function name; use FILE.py:FUNCTION")
        return ModelRef("file", str(path.resolve()), function)
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
            raise UserError(f"folder {text!r} is not a checkpoint (needs config.json and model.safetensors)")
        return ModelRef("checkpoint", str(path.resolve()))
    if text.endswith(".py"):
        raise UserError(f"model {text!r} names a file but no function; use FILE.py:FUNCTION")
    raise UserError(f"model {text!r} not found; use {ALLOWED_FORMS}")


def _pretrained_ref(kind: str, target: str, text: str) -> ModelRef:
    """A diffusers: or sd: reference: an existing folder (made absolute; its layout is checked
    when loaded), or a hub id, checked against the cache when the hub is offline (when it is
    online, the run fetches it first: agent/kernel_pool.py)."""
    from tools.models.diffusers_pipeline.source import HUB_ID, hub_offline, locate_pretrained, unconditional_layout

    if not target:
        raise UserError(f"{text!r} names no folder or hub id; use {kind}:FOLDER_OR_HUB_ID")
    path = Path(target).expanduser()
    if path.exists() or not HUB_ID.match(target) or hub_offline():
        source = locate_pretrained(target, f"{kind}:{target}")  # one-line errors for what cannot load
        if source.hub_id is None and kind == "diffusers":
            unconditional_layout(source.folder, f"{kind}:{target}")
        elif source.hub_id is None and not (source.folder / "model_index.json").is_file():
            raise UserError(f"{kind}:{target}: the folder is not a Stable Diffusion pipeline (no model_index.json); "
                            "save one with StableDiffusionPipeline.save_pretrained")
        return ModelRef(kind, source.hub_id or str(source.folder))
    return ModelRef(kind, target)
