"""Convolutional VAE of Burgess et al. 2018 ("Understanding disentangling in beta-VAE").

Encoder: four 4x4 stride-2 convolutions with 32 channels (64 -> 4 pixels), two linear layers of
256, then a linear layer to the mean and log-variance of q(z|x). The decoder mirrors it with
transposed convolutions and returns Bernoulli logits. The loss (VAE, beta-VAE, beta-TCVAE) is
chosen by the config's `loss` field and lives in tools/models/vae/losses.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
from torch import nn

LossName = Literal["vae", "beta_vae", "beta_tcvae"]


@dataclass
class VAEConfig:
    """Everything needed to rebuild a VAE and know how it was trained.

    latent_dim: size of z. image_channels / image_size: the data's (C, H = W).
    loss: objective; beta: weight of the KL (beta-VAE) or of the total correlation
    (beta-TCVAE). tc_estimator: "mws" (minibatch-weighted) or "mss" (minibatch-stratified)
    sampling for log q(z) (Chen et al. 2018, section 3.1). dataset_size: N in those estimators.
    mi_weight / dim_kl_weight: beta-TCVAE's alpha and gamma, the weights of the index-code mutual
    information and of the dimension-wise KL (Chen et al. 2018, eq. 4; 1 in the paper's runs).
    """

    latent_dim: int = 10
    image_channels: int = 1
    image_size: int = 64
    hidden_channels: int = 32
    hidden_dim: int = 256
    loss: LossName = "beta_tcvae"
    beta: float = 6.0
    tc_estimator: Literal["mws", "mss"] = "mss"
    mi_weight: float = 1.0
    dim_kl_weight: float = 1.0
    dataset_size: int = 737_280
    dataset: str = "dsprites"
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> VAEConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class BurgessVAE(nn.Module):
    """encode: (B, C, 64, 64) in [0, 1] -> mean, logvar (B, D); decode: (B, D) -> (B, C, 64, 64)
    probabilities in [0, 1]; decode_logits gives the pre-sigmoid values."""

    def __init__(self, config: VAEConfig):
        super().__init__()
        if config.image_size != 64:
            raise ValueError(f"BurgessVAE needs 64x64 images, got image_size={config.image_size}")
        self.config = config
        c, h = config.hidden_channels, config.hidden_dim
        self.latent_dim = config.latent_dim
        self.name = f"{config.loss}-{config.dataset}"
        self.encoder = nn.Sequential(
            nn.Conv2d(config.image_channels, c, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(c, c, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(c, c, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(c, c, 4, 2, 1), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(c * 16, h), nn.ReLU(),
            nn.Linear(h, h), nn.ReLU(),
            nn.Linear(h, 2 * config.latent_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(config.latent_dim, h), nn.ReLU(),
            nn.Linear(h, h), nn.ReLU(),
            nn.Linear(h, c * 16), nn.ReLU(),
            nn.Unflatten(1, (c, 4, 4)),
            nn.ConvTranspose2d(c, c, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(c, c, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(c, c, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(c, config.image_channels, 4, 2, 1),
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, 64, 64) -> (mean, logvar), each (B, D)."""
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D) -> Bernoulli logits (B, C, 64, 64)."""
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D) -> images (B, C, 64, 64) in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z))

    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws from the prior N(0, I): (n, D)."""
        return torch.randn(n, self.latent_dim, generator=generator)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (logits, z, mean, logvar) with z drawn by the reparameterisation trick."""
        mean, logvar = self.encode(x)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        return self.decode_logits(z), z, mean, logvar
