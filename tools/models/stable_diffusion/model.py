"""Stable Diffusion behind the model protocol: h-space directions computed under a prompt
(LatentExplainer's conditional bias; Park et al. 2023, section 5).

The latent layout, decode and sample_latents are tools/models/ddpm/hspace_model.py's (z = (c_1..c_k, seed)),
here over the VAE latents x_t (4, H/8, W/8):
- the basis (the Jacobian from x_t to the UNet's mid-block) is computed with the prompt
  embedding as encoder_hidden_states, which is what makes the directions conditional;
- the x-space guidance edit uses the prompt-conditioned noise prediction, gamma = 1 (the
  LatentExplainer code's value for Stable Diffusion);
- sampling uses classifier-free guidance with `guidance_scale` (7.5, as the pipeline does;
  1 turns it off and halves the cost); x_0 is decoded by the pipeline's VAE to RGB in [0, 1].
metadata: family "sd", default_bias "conditional", default_formula PROMPT_FORMULA, prompt: the
prompt, conditional_max_alpha 1.

A user explains a Stable Diffusion model with `explain --model sd:FOLDER_OR_HUB_ID --prompt TEXT`
(tools/models/loading.py); a model file may also return load_stable_diffusion_model(...).

Cost: each decoded row runs ~(1 - edit_t) * num_inference_steps UNet passes (twice with
classifier-free guidance) plus 2 * 16 * |c| for the edit, so a 512x512 SD 1.5 is meant for a
GPU (no real weights were available to time it here; the tests use tiny components). The shared
basis costs about reference_samples * rank * power_iterations double-backward passes through
the UNet's encoder half; jacobian_chunk_rows bounds its memory.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

import torch

from tools.models.ddpm.basis_cache import BasisCache
from tools.models.ddpm.hspace import differentiable_attention, mid_block_features
from tools.models.ddpm.hspace_model import DiffusionHSpaceModel, HSpaceSettings

PROMPT_FORMULA = r"p(z_i \mid t)"
"""The conditional bias a Stable Diffusion model is explained under by default: each direction
z_i under the text prompt t (its basis is computed under t). Its traversal moves c_i from 0 to
conditional_max_alpha = 1, the paper's edit strength (16 guidance steps)."""

SD_DEFAULTS = {"gamma": 1.0, "reference_samples": 2, "jacobian_chunk_rows": 5, "batch_size": 4}
"""HSpaceSettings that differ for Stable Diffusion: gamma 1 (LatentExplainer's code), and a basis
and batches sized for a large UNet."""


class PromptDenoiser:
    """A text-conditioned UNet2DConditionModel with its VAE, under one prompt embedding.

    prompt_embeds / negative_embeds: (1, L, D) CLIP embeddings of the prompt and of "".
    sample_shape: (C, H / f, W / f) of the VAE latents, f the VAE's downsampling factor.
    """

    def __init__(self, unet, vae, prompt_embeds: torch.Tensor, negative_embeds: torch.Tensor,
                 sample_shape: tuple[int, int, int], guidance_scale: float = 7.5, init_noise_sigma: float = 1.0,
                 decode_batch: int = 4):
        self.unet, self.vae = unet, vae
        self.prompt_embeds, self.negative_embeds = prompt_embeds, negative_embeds
        self.sample_shape = sample_shape
        self.guidance_scale = float(guidance_scale)
        self.init_noise_sigma = float(init_noise_sigma)
        self.decode_batch = decode_batch

    def _embeds(self, embeds: torch.Tensor, n: int) -> torch.Tensor:
        return embeds.expand(n, *embeds.shape[1:])

    def guidance_noise(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """eps(x_t | prompt): the prediction the x-space guidance edit differences."""
        return self.unet(x, t, encoder_hidden_states=self._embeds(self.prompt_embeds, x.shape[0])).sample

    def predict_noise(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """eps for sampling: eps_u + s (eps_c - eps_u) with classifier-free guidance scale s > 1,
        else eps(x_t | prompt)."""
        if self.guidance_scale <= 1:
            return self.guidance_noise(x, t)
        n = x.shape[0]
        embeds = torch.cat([self._embeds(self.negative_embeds, n), self._embeds(self.prompt_embeds, n)])
        unconditional, conditional = self.unet(torch.cat([x, x]), t, encoder_hidden_states=embeds).sample.chunk(2)
        return unconditional + self.guidance_scale * (conditional - unconditional)

    def features(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The mid-block output under the prompt embedding (the conditional h-space)."""
        return mid_block_features(self.unet, x, t, encoder_hidden_states=self._embeds(self.prompt_embeds, x.shape[0]))

    def jacobian_context(self) -> AbstractContextManager:
        return differentiable_attention(self.unet)

    def to_images(self, x0: torch.Tensor) -> torch.Tensor:
        """VAE latents (B, 4, h, w) -> RGB (B, 3, h * f, w * f) in [0, 1], decode_batch at a time."""
        scale = self.vae.config.scaling_factor
        parts = [self.vae.decode(chunk / scale).sample for chunk in x0.split(self.decode_batch)]
        return (torch.cat(parts).float() / 2 + 0.5).clamp(0, 1)


def stable_diffusion_hspace_model(pipe, prompt: str, guidance_scale: float = 7.5, height: int | None = None,
                                  width: int | None = None, name: str = "stable-diffusion",
                                  identity: str | None = None, basis_cache: BasisCache | None = None,
                                  progress: Callable[[str], None] | None = None, **settings) -> DiffusionHSpaceModel:
    """The protocol model of a loaded StableDiffusionPipeline under `prompt` (module docstring).

    height / width: output pixels (default: the UNet's sample_size times the VAE factor).
    settings: HSpaceSettings fields overriding SD_DEFAULTS and the DDPM defaults."""
    from tools.models.stable_diffusion.pipeline import encode_prompt

    factor = pipe.vae_scale_factor
    size = pipe.unet.config.sample_size
    size = size if isinstance(size, int) else size[0]
    height, width = height or size * factor, width or size * factor
    if height % factor or width % factor:
        raise ValueError(f"height and width must be multiples of {factor}, got {height}x{width}")
    conditional, unconditional = encode_prompt(pipe, prompt)
    pipe.unet.requires_grad_(False)
    pipe.vae.requires_grad_(False)
    denoiser = PromptDenoiser(
        pipe.unet, pipe.vae, conditional, unconditional,
        sample_shape=(int(pipe.unet.config.in_channels), height // factor, width // factor),
        guidance_scale=guidance_scale, init_noise_sigma=float(pipe.scheduler.init_noise_sigma),
    )
    hspace = replace(HSpaceSettings(), **(SD_DEFAULTS | settings))
    metadata = {"family": "sd", "default_bias": "conditional", "default_formula": PROMPT_FORMULA, "prompt": prompt,
                "dataset": "free prompt", "guidance_scale": guidance_scale, "conditional_max_alpha": 1.0}
    return DiffusionHSpaceModel(denoiser, pipe.scheduler, hspace, name=name, device=pipe.device,
                                metadata=metadata, dtype=pipe.unet.dtype, identity=identity,
                                basis_cache=basis_cache, progress=progress)


def load_stable_diffusion_model(source, prompt: str, device: str | torch.device = "auto",
                                dtype: torch.dtype = torch.float32, guidance_scale: float = 7.5,
                                height: int | None = None, width: int | None = None,
                                basis_cache: BasisCache | None = None, progress: Callable[[str], None] | None = None,
                                **settings) -> DiffusionHSpaceModel:
    """Load a pipeline (tools/models/stable_diffusion/pipeline.py: local folder, hub id or a
    located PretrainedSource) and wrap it under prompt."""
    from tools.models.diffusers_pipeline.source import PretrainedSource
    from tools.models.stable_diffusion.pipeline import load_stable_diffusion_pipeline

    pipe = load_stable_diffusion_pipeline(source, device, dtype)
    if isinstance(source, PretrainedSource):
        name, identity = source.hub_id or source.folder.name, source.identity
    else:
        name, identity = Path(str(source)).name or str(source), str(Path(str(source)).expanduser().resolve())
    return stable_diffusion_hspace_model(pipe, prompt, guidance_scale=guidance_scale, height=height, width=width,
                                         name=name, identity=identity, basis_cache=basis_cache, progress=progress,
                                         **settings)
