"""A small DDPM (Ho et al. 2020) built from diffusers' UNet2DModel and DDIMScheduler: its config,
its training loss, deterministic DDIM sampling (Song et al. 2021, eta = 0) and its checkpoint
folder (config.json + model.safetensors, like tools/models/vae/checkpoint.py's).

Images live in [-1, 1] inside the model (`to_model_range`) and in [0, 1] outside it.
The UNet predicts the noise epsilon ("epsilon" prediction type); the scheduler uses the cosine
beta schedule of Nichol & Dhariwal 2021 ("squaredcos_cap_v2") and "trailing" timestep spacing,
so even a 2-step DDIM schedule starts from pure noise (t = T - 1).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FAMILY = "ddpm"

NoisePredictor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(x_t (B, C, H, W), timestep: 0-d int tensor) -> predicted noise epsilon (B, C, H, W)."""


@dataclass
class DDPMConfig:
    """Everything needed to rebuild the UNet and its scheduler.

    image_size / image_channels: the data's H = W and C. block_out_channels: channels per UNet
    resolution level (one DownBlock2D / UpBlock2D each, no attention in them; the mid-block, whose
    output is the "h-space", has one self-attention layer). layers_per_block: ResNet blocks per
    level. norm_num_groups: GroupNorm groups (must divide every channel count).
    num_train_timesteps: T. beta_schedule: a diffusers DDIMScheduler schedule name.
    dataset: the data it was trained on ("dsprites": procedural dSprites at image_size).
    """

    image_size: int = 32
    image_channels: int = 1
    block_out_channels: tuple[int, ...] = (32, 32, 64)
    layers_per_block: int = 1
    norm_num_groups: int = 8
    attention_head_dim: int = 8
    num_train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    dataset: str = "dsprites"
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.block_out_channels = tuple(int(c) for c in self.block_out_channels)
        if self.image_size % 2 ** (len(self.block_out_channels) - 1):
            raise ValueError(f"image_size {self.image_size} must be divisible by 2^(levels - 1) "
                             f"for block_out_channels {self.block_out_channels}")
        bad = [c for c in self.block_out_channels if c % self.norm_num_groups]
        if bad:
            raise ValueError(f"norm_num_groups {self.norm_num_groups} must divide every block_out_channels value, not {bad}")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["block_out_channels"] = list(self.block_out_channels)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> DDPMConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def build_unet(config: DDPMConfig):
    """A freshly initialised diffusers UNet2DModel for config: (B, C, S, S), t -> epsilon (B, C, S, S)."""
    from diffusers import UNet2DModel

    levels = len(config.block_out_channels)
    return UNet2DModel(
        sample_size=config.image_size,
        in_channels=config.image_channels,
        out_channels=config.image_channels,
        block_out_channels=config.block_out_channels,
        layers_per_block=config.layers_per_block,
        down_block_types=("DownBlock2D",) * levels,
        up_block_types=("UpBlock2D",) * levels,
        norm_num_groups=config.norm_num_groups,
        attention_head_dim=config.attention_head_dim,
    )


def build_scheduler(config: DDPMConfig):
    """The DDIMScheduler used for both training (add_noise) and sampling (step, eta = 0)."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        num_train_timesteps=config.num_train_timesteps,
        beta_schedule=config.beta_schedule,
        prediction_type="epsilon",
        clip_sample=True,
        set_alpha_to_one=True,
        timestep_spacing="trailing",
    )


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] images -> [-1, 1], the range the DDPM is trained on."""
    return images * 2 - 1


def to_image_range(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] samples -> images clamped to [0, 1]."""
    return ((x + 1) / 2).clamp(0, 1)


def diffusion_loss(unet, scheduler, x0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The simple DDPM objective (Ho et al. 2020, eq. 14): E_{t, eps} || eps - eps_theta(x_t, t) ||^2.

    x0: (B, C, H, W) clean images in [-1, 1]. Steps:
    1. t ~ U{0, ..., T - 1} per image, eps ~ N(0, I) (drawn on CPU from `generator`, then moved).
    2. x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps (scheduler.add_noise).
    3. Mean squared error between the UNet's prediction and eps.
    """
    b = x0.shape[0]
    t = torch.randint(0, scheduler.config.num_train_timesteps, (b,), generator=generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device, x0.dtype)
    x_t = scheduler.add_noise(x0, noise, t)
    return torch.nn.functional.mse_loss(unet(x_t, t).sample, noise)


def ddim_timesteps(scheduler, num_inference_steps: int) -> torch.Tensor:
    """The DDIM schedule's timesteps (num_inference_steps,), highest first; sets the scheduler to it."""
    if num_inference_steps < 1:
        raise ValueError(f"num_inference_steps must be at least 1, got {num_inference_steps}")
    if getattr(scheduler, "num_inference_steps", None) != num_inference_steps:
        scheduler.set_timesteps(num_inference_steps)
    return scheduler.timesteps.clone()


def ddim_denoise(predict_noise: NoisePredictor, scheduler, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """Run deterministic DDIM steps (eta = 0) from x at timesteps[0] through timesteps[-1].

    x: (B, C, H, W) noisy samples at timesteps[0]; timesteps: a contiguous slice of
    ddim_timesteps(scheduler, n) (the scheduler must be set to that n). Returns the samples after
    the last step: x_0 when the slice reaches the end of the schedule.
    """
    for t in timesteps:
        eps = predict_noise(x, t)
        x = scheduler.step(eps, t, x, eta=0.0).prev_sample
    return x


def unet_noise_predictor(unet) -> NoisePredictor:
    """The NoisePredictor of an unconditional UNet2DModel."""

    def predict(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return unet(x, t).sample

    return predict


@torch.inference_mode()
def sample_images(unet, scheduler, noise: torch.Tensor, num_inference_steps: int) -> torch.Tensor:
    """DDIM samples from initial noise x_T (B, C, H, W): images (B, C, H, W) in [0, 1]."""
    timesteps = ddim_timesteps(scheduler, num_inference_steps)
    return to_image_range(ddim_denoise(unet_noise_predictor(unet), scheduler, noise, timesteps))


def save_ddpm(unet, config: DDPMConfig, folder: str | Path, training: dict | None = None) -> Path:
    """Write model.safetensors (the UNet's state dict) and config.json
    ({"family": "ddpm", "model": config, "training": record}) into folder (created if needed)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in unet.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE))
    (folder / WEIGHTS_FILE).chmod(0o644)  # readable by the sandbox's user
    record = {"family": FAMILY, "model": config.to_dict(), "training": training or {}}
    (folder / CONFIG_FILE).write_text(json.dumps(record, indent=2))
    return folder


def is_ddpm_checkpoint(folder: str | Path) -> bool:
    """True when folder/config.json names the "ddpm" family."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text()).get("family") == FAMILY
    except (json.JSONDecodeError, AttributeError):
        return False


def load_ddpm(folder: str | Path, device: str | torch.device = "cpu"):
    """(unet in eval mode on device, DDPMConfig, training record) from a save_ddpm folder.

    Raises FileNotFoundError naming the missing file."""
    from safetensors.torch import load_file

    folder = Path(folder)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"no {name} in DDPM checkpoint folder {folder}")
    record = json.loads((folder / CONFIG_FILE).read_text())
    config = DDPMConfig.from_dict(record["model"])
    device = torch.device(device)
    # The weights are read straight onto the device and the UNet is built without allocating or
    # initialising its own parameters (they would be overwritten), so nothing is copied twice.
    state = load_file(str(folder / WEIGHTS_FILE), device=str(device))
    with torch.device("meta"):
        unet = build_unet(config)
    unet.load_state_dict(state, assign=True)
    if any(t.is_meta for t in (*unet.parameters(), *unet.buffers())):  # a tensor the file does not hold
        unet = build_unet(config)
        unet.load_state_dict(state)
    return unet.to(device).eval(), config, record.get("training", {})
