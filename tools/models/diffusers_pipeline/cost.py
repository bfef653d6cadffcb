"""What a Stable Diffusion run will cost, counted before it starts (host side, from the configs
only), so that a full-size run on a CPU warns first."""

from __future__ import annotations

import json
from pathlib import Path

from tools.models.ddpm.hspace_model import HSpaceSettings

WARN_FROM_PIXELS = 256
"""Image side (pixels) from which a CPU run is warned about: SD 1.x makes 512, 2.x 768."""


def image_side(folder: Path) -> int | None:
    """The pipeline's default output side in pixels: unet sample_size x the VAE's 2^(levels - 1)."""
    try:
        unet = json.loads((folder / "unet" / "config.json").read_text())
        vae = json.loads((folder / "vae" / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    size = unet.get("sample_size", 64)
    size = size if isinstance(size, int) else size[0]
    return int(size) * 2 ** (len(vae.get("block_out_channels", [0] * 4)) - 1)


def unet_passes(settings: HSpaceSettings, rows: int, guidance_scale: float) -> int:
    """UNet evaluations of one run, counted from tools/models/ddpm/hspace_model.py's docstring:
    the shared basis (reference samples sampled to x_t, then 3 passes per power iteration and
    direction) plus per decoded row the DDIM steps (twice under classifier-free guidance) and up
    to 2 x guidance_steps for the edit."""
    cfg = 2 if guidance_scale > 1 else 1
    steps = settings.num_inference_steps
    basis = settings.reference_samples * (round(settings.edit_t * steps) * cfg
                                          + 3 * settings.rank * settings.power_iterations)
    return int(basis + rows * (steps * cfg + 2 * settings.guidance_steps))


def cpu_time_warning(folder: Path, what: str, settings: HSpaceSettings, rows: int, guidance_scale: float) -> str | None:
    """A one-line warning when a pipeline at folder would make images of WARN_FROM_PIXELS or more
    on a CPU, else None."""
    side = image_side(folder)
    if side is None or side < WARN_FROM_PIXELS:
        return None
    passes = unet_passes(settings, rows, guidance_scale)
    return (f"warning: {what} makes {side}x{side} images on a CPU: about {passes:,} UNet passes at "
            f"{side // 8}x{side // 8} latents, each taking seconds on a CPU (not measured here), so expect "
            "hours; a CUDA device (--device cuda), or fewer --directions, --frames, --n-samples or "
            "--inference-steps, make it shorter")
