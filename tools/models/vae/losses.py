"""Objectives for tools/models/vae/model.py: VAE (Kingma & Welling 2014), beta-VAE (Higgins et al. 2017) and
beta-TCVAE (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs"), optionally under
capacity control (Burgess et al. 2018, "Understanding disentangling in beta-VAE", eq. 8).

All losses are per-example means over the batch, in nats. The reconstruction term is the
Bernoulli negative log-likelihood summed over pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

_LOG_2PI = math.log(2 * math.pi)
LOSSES = ("vae", "beta_vae", "beta_tcvae")


@dataclass
class LossTerms:
    """loss: the objective to minimise; the rest are diagnostics (batch means, nats)."""

    loss: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor
    total_correlation: torch.Tensor | None = None


def gaussian_log_density(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(z; mean, exp(logvar)); broadcasts its arguments."""
    return -0.5 * (_LOG_2PI + logvar + (z - mean) ** 2 * torch.exp(-logvar))


def kl_to_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per example and dimension: (B, D)."""
    return 0.5 * (mean**2 + logvar.exp() - 1 - logvar)


def _log_importance_weights(batch_size: int, dataset_size: int) -> torch.Tensor:
    """Minibatch-stratified sampling weights (Chen et al. 2018, appendix C.2): (M, M) log
    weights such that logsumexp_j [w_ij + log q(z_i | x_j)] estimates log q(z_i)."""
    m, n = batch_size, dataset_size
    rows = torch.arange(m)
    weights = torch.full((m, m), 1.0 / (m - 1))
    weights[rows, rows] = 1.0 / n  # the example that produced z_i
    weights[rows, (rows + 1) % m] = (n - m + 1) / (n * (m - 1))  # one stratum weight per row
    return weights.log()


def beta_tcvae_terms(
    z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor, dataset_size: int, estimator: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The three KL terms of the decomposition, each (B,):
    index-code MI = log q(z|x) - log q(z); TC = log q(z) - sum_j log q(z_j);
    dimension-wise KL = sum_j log q(z_j) - log p(z).

    Steps:
    1. log q(z_i | x_j) for every pair in the batch: (M, M, D).
    2. log q(z_i) and log q(z_ij) by minibatch-weighted ("mws") or minibatch-stratified
       ("mss") sampling over j.
    """
    m = z.shape[0]
    log_qz_pairs = gaussian_log_density(z[:, None], mean[None], logvar[None])  # (M, M, D)
    if estimator == "mws":
        log_norm = math.log(m * dataset_size)
        log_qz = torch.logsumexp(log_qz_pairs.sum(2), dim=1) - log_norm
        log_qz_product = (torch.logsumexp(log_qz_pairs, dim=1) - log_norm).sum(1)
    elif estimator == "mss":
        w = _log_importance_weights(m, dataset_size).to(z)
        log_qz = torch.logsumexp(w + log_qz_pairs.sum(2), dim=1)
        log_qz_product = torch.logsumexp(w[:, :, None] + log_qz_pairs, dim=1).sum(1)
    else:
        raise ValueError(f"tc_estimator must be 'mws' or 'mss', got {estimator!r}")
    log_qz_given_x = gaussian_log_density(z, mean, logvar).sum(1)
    log_pz = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z)).sum(1)
    return log_qz_given_x - log_qz, log_qz - log_qz_product, log_qz_product - log_pz


def vae_loss(
    logits: torch.Tensor,
    x: torch.Tensor,
    z: torch.Tensor,
    mean: torch.Tensor,
    logvar: torch.Tensor,
    *,
    loss: str,
    beta: float,
    dataset_size: int,
    tc_estimator: str = "mss",
    kl_weight: float = 1.0,
    mi_weight: float = 1.0,
    dim_kl_weight: float = 1.0,
    capacity: float | None = None,
    capacity_gamma: float = 1000.0,
) -> LossTerms:
    """The configured objective. x and logits: (B, C, H, W); z, mean, logvar: (B, D).

    beta_tcvae: recon + mi_weight * MI + beta * TC + dim_kl_weight * dimension-wise KL (alpha,
    beta and gamma of Chen et al. 2018, eq. 4). A small alpha makes information cheap, so latents
    stay open that the full weight would close (on dSprites: shape); gamma = 1 still pulls each
    latent's marginal to N(0, 1), and beta pushes the latents towards independence. Capacity
    control replaces alpha and gamma (below), so they must stay 1 there.

    kl_weight in [0, 1] scales every KL term (KL annealing, Bowman et al. 2016): training starts
    near an autoencoder so the encoder leaves the "mean image" plateau of sparse data such as
    dSprites, then the full objective takes over.

    capacity C (nats, None: off): the KL term becomes capacity_gamma * |KL - C| (Burgess et al.
    2018, eq. 8; gamma 1000 there), so the code is pushed to carry C nats; raised slowly, it lets
    the factors in one at a time, largest reconstruction gain first. For beta_tcvae the total
    correlation keeps its extra weight: recon + gamma |KL - C| + (beta - 1) TC, since
    KL = MI + TC + dimension-wise KL."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {loss!r}")
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
    kl = kl_to_standard_normal(mean, logvar).sum(1).mean()
    tc = None
    if loss == "beta_tcvae":
        mi, tc, dim_kl = beta_tcvae_terms(z, mean, logvar, dataset_size, tc_estimator)
    if capacity is not None:
        total = recon + kl_weight * capacity_gamma * (kl - capacity).abs()
        if tc is not None:
            total = total + (beta - 1) * tc.mean()
    elif loss == "vae":
        total = recon + kl_weight * kl
    elif loss == "beta_vae":
        total = recon + kl_weight * beta * kl
    else:
        total = recon + kl_weight * (mi_weight * mi.mean() + beta * tc.mean() + dim_kl_weight * dim_kl.mean())
    return LossTerms(total, recon, kl, None if tc is None else tc.mean())
