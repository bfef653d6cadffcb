"""Loading a Stable Diffusion model (Rombach et al. 2022) through diffusers' StableDiffusionPipeline,
and the prompt embedding its h-space directions are computed under (tools/models/stable_diffusion/model.py).

`source` is either a local folder written by `StableDiffusionPipeline.save_pretrained` (it holds
model_index.json and the unet/, vae/, text_encoder/, tokenizer/, scheduler/ folders) or a Hugging
Face hub id such as "stable-diffusion-v1-5/stable-diffusion-v1-5". A hub id downloads only where
there is network; inside LatentExplainer's sandbox (no network) it loads from the local Hugging
Face cache, so run the same load once outside the sandbox first, or save the pipeline to a folder.

The safety checker is not loaded (it is an image classifier, not part of the generative model);
the scheduler is replaced by a DDIMScheduler with the pipeline's own noise schedule.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from tools.errors import UserError

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class StableDiffusionLoadError(UserError):
    """The Stable Diffusion source is not a pipeline folder and could not be loaded as a hub id."""


def load_stable_diffusion_pipeline(source: str | Path, device: str | torch.device = "auto",
                                   dtype: torch.dtype = torch.float32):
    """A StableDiffusionPipeline on device ("auto": CUDA when present) in dtype, with a DDIM
    scheduler and no safety checker. Raises StableDiffusionLoadError naming the bad source."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    from tools.models.device import resolve_device

    torch_device = device if isinstance(device, torch.device) else resolve_device(device)
    text = str(source)
    path = Path(text).expanduser()
    if path.exists():
        if not (path / "model_index.json").is_file():
            raise StableDiffusionLoadError(
                f"folder {text!r} is not a Stable Diffusion pipeline (no model_index.json); "
                "save one with StableDiffusionPipeline.save_pretrained")
        target, local_only = str(path), True
    elif HUB_ID.match(text):
        target, local_only = text, False
    else:
        raise StableDiffusionLoadError(
            f"Stable Diffusion source {text!r} is neither an existing folder nor a hub id like OWNER/NAME")
    try:
        pipe = StableDiffusionPipeline.from_pretrained(
            target, safety_checker=None, requires_safety_checker=False, dtype=dtype, local_files_only=local_only)
    except (OSError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StableDiffusionLoadError(f"cannot load Stable Diffusion {text!r}: {first_line}") from None
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(torch_device)


@torch.no_grad()
def encode_prompt(pipe, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
    """CLIP text embeddings (prompt, empty prompt), each (1, L, D): the conditioning the UNet's
    cross-attention reads as encoder_hidden_states, and the unconditional one that
    classifier-free guidance contrasts it with (the pipeline's own encode_prompt)."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise UserError(f"the Stable Diffusion prompt must be a non-empty string, got {prompt!r}")
    conditional, unconditional = pipe.encode_prompt(prompt, pipe.device, 1, True)
    return conditional, unconditional
