"""An unconditional diffusers pipeline (DDPMPipeline, DDIMPipeline: a UNet2DModel and a
scheduler) behind the model protocol, explained through h-space directions
(tools/models/ddpm/hspace_model.py: z = (c_1..c_k, seed), Park et al.'s Jacobian pullback,
x-space guidance, DDIM) under the disentanglement bias, as LatentExplainer does for DDPMs.

Layouts accepted (a local folder, or a hub id's cache snapshot, tools/models/diffusers_pipeline/source.py):
- a pipeline folder: model_index.json naming a `unet` (UNet2DModel) and a `scheduler`;
- the same two sub-folders unet/ and scheduler/ without model_index.json;
- a UNet2DModel folder (config.json + weights) with a scheduler_config.json beside it.
The scheduler is replaced by a DDIMScheduler with the pipeline's own noise schedule (sampling
is deterministic DDIM, eta = 0). Images: the UNet works in [-1, 1]; frames are (x + 1) / 2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch

from tools.models.ddpm.basis_cache import BasisCache
from tools.models.ddpm.hspace_model import DiffusionHSpaceModel, HSpaceSettings, UNetDenoiser
from tools.models.diffusers_pipeline.source import (
    ModelSourceError,
    PretrainedSource,
    load_error_line,
    unconditional_layout,
)

DIFFUSERS_DEFAULTS = {"gamma": 0.1, "num_inference_steps": 50}
"""HSpaceSettings for a pretrained unconditional DDPM: the paper's gamma 0.1 and 50 DDIM steps
(100 doubles the cost for a barely different sample)."""


def load_diffusers_model(source: PretrainedSource, what: str, device: torch.device,
                         dtype: torch.dtype = torch.float32, basis_cache: BasisCache | None = None,
                         progress: Callable[[str], None] | None = None, **settings) -> DiffusionHSpaceModel:
    """The protocol model of an unconditional pipeline at source.folder on device in dtype.
    settings: HSpaceSettings fields overriding DIFFUSERS_DEFAULTS (rank, num_inference_steps,
    gamma, ...)."""
    from diffusers import DDIMScheduler, UNet2DModel
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()  # DDPM scheduler configs carry keys DDIM ignores
    unet_folder, scheduler_folder = unconditional_layout(source.folder, what)
    try:
        unet = UNet2DModel.from_pretrained(str(source.folder), subfolder=unet_folder or None, dtype=dtype,
                                           local_files_only=True)
        scheduler = DDIMScheduler.from_pretrained(str(source.folder), subfolder=scheduler_folder or None,
                                                  local_files_only=True)
    except (OSError, ValueError) as error:
        raise ModelSourceError(f"{what}: cannot load {source.folder}: {load_error_line(error, source.folder)}") from None
    unet = unet.to(device).eval()
    unet.requires_grad_(False)
    if getattr(unet, "mid_block", None) is None:
        raise ModelSourceError(f"{what}: its UNet has no mid_block, so it has no h-space to explain")
    hspace = replace(HSpaceSettings(), **(DIFFUSERS_DEFAULTS | settings))
    name = source.hub_id or source.folder.name
    metadata = {"dataset": "unknown (a diffusers pipeline)", "source": source.identity}
    return DiffusionHSpaceModel(UNetDenoiser(unet, float(scheduler.init_noise_sigma)), scheduler, hspace, name=name,
                                device=device, metadata=metadata, dtype=dtype, identity=source.identity,
                                basis_cache=basis_cache, progress=progress)
