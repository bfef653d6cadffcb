"""Loading a Stable Diffusion model (Rombach et al. 2022) through diffusers' StableDiffusionPipeline,
and the prompt embedding its h-space directions are computed under (tools/models/stable_diffusion/model.py).

`source` is a local folder written by `StableDiffusionPipeline.save_pretrained` (it holds
model_index.json and the unet/, vae/, text_encoder/, tokenizer/, scheduler/ folders; 1.x and 2.x
layouts alike) or a Hugging Face hub id such as "stable-diffusion-v1-5/stable-diffusion-v1-5",
resolved through the Hugging Face cache (tools/models/diffusers_pipeline/source.py: the sandbox has
no network, so the host fetches a hub id before the run; offline, one line names the missing
files and the command that fetches them).

The safety checker is not loaded (it is an image classifier, not part of the generative model);
the scheduler is replaced by a DDIMScheduler with the pipeline's own noise schedule.
"""

from __future__ import annotations

import torch

from tools.errors import UserError


class StableDiffusionLoadError(UserError):
    """The Stable Diffusion source is not a pipeline folder and could not be loaded as a hub id."""


def load_stable_diffusion_pipeline(source, device: str | torch.device = "auto", dtype: torch.dtype = torch.float32):
    """A StableDiffusionPipeline on device ("auto": CUDA when present) in dtype, with a DDIM
    scheduler and no safety checker. source: a folder, a hub id, or a located PretrainedSource.
    Raises StableDiffusionLoadError naming the bad source."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline
    from diffusers.utils import logging as diffusers_logging

    from tools.models.device import resolve_device
    from tools.models.diffusers_pipeline.source import (
        ModelSourceError,
        PretrainedSource,
        load_error_line,
        locate_pretrained,
    )

    torch_device = device if isinstance(device, torch.device) else resolve_device(device)
    if isinstance(source, PretrainedSource):
        located, text = source, source.hub_id or str(source.folder)
    else:
        text = str(source)
        try:
            located = locate_pretrained(text, f"Stable Diffusion {text!r}")
        except ModelSourceError as error:
            raise StableDiffusionLoadError(str(error)) from None
    if not (located.folder / "model_index.json").is_file():
        raise StableDiffusionLoadError(
            f"folder {text!r} is not a Stable Diffusion pipeline (no model_index.json); "
            "save one with StableDiffusionPipeline.save_pretrained")
    diffusers_logging.set_verbosity_error()
    try:
        pipe = StableDiffusionPipeline.from_pretrained(
            str(located.folder), safety_checker=None, requires_safety_checker=False, dtype=dtype,
            local_files_only=True)
    except (OSError, ValueError, TypeError) as error:
        raise StableDiffusionLoadError(
            f"cannot load Stable Diffusion {text!r}: {load_error_line(error, located.folder)}") from None
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
