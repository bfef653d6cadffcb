"""h-space directions of a diffusion UNet and the x-space guidance edit along them.

Park et al. 2023 ("Understanding the Latent Space of Diffusion Models through the Lens of
Riemannian Geometry", NeurIPS) pull the Euclidean metric of the UNet's bottleneck H (the output of
its mid-block, the "h-space" of Kwon et al. 2023) back to the noisy sample space X through the
Jacobian J = dh/dx_t at one timestep t. The pullback metric is J^T J; its top eigenvectors, the
right singular vectors v_1..v_k of J, are the directions in X along which h changes most (the
"local latent basis"), and u_k = J v_k / sigma_k their images in H. LatentExplainer (Zhu et al.
2024) explains a DDPM's v_1..v_5 (rank 5) under the disentanglement bias and a Stable Diffusion
model's, computed under a prompt embedding, under the conditional bias.

The edit is Park et al.'s x-space guidance, applied repeatedly at the edit timestep:
    x_t <- x_t + gamma * [eps(x_t + s v) - eps(x_t)]       (`guidance_steps` times)
with eps the UNet's noise prediction, s the probe step along the unit direction v; the
LatentExplainer code uses gamma = 0.1 (DDPM) or 1 (Stable Diffusion) and 16 steps, then finishes
sampling with DDIM.

Jacobian-vector products use reverse-mode autograd only (J v is the gradient of <J^T w, v> with
respect to w), because forward-mode AD is missing for PyTorch's fused attention and fails on
GroupNorm here; `differentiable_attention` swaps diffusers' fused attention for the plain one
while a basis is computed, since the fused kernels have no double backward either.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

FeatureFn = Callable[[torch.Tensor], torch.Tensor]
"""x_t (N, C, H, W) -> mid-block features h (N, C', H', W') at one fixed timestep; rows must be
independent (eval mode, no batch statistics), which diffusers' UNets are."""


class _StopForward(Exception):
    """Raised by the mid-block hook so that the UNet's decoder half never runs."""


def mid_block_features(unet, sample: torch.Tensor, timestep: torch.Tensor | int, **unet_kwargs) -> torch.Tensor:
    """The output of unet.mid_block (the h-space) for sample (B, C, H, W) at timestep.

    Works for diffusers' UNet2DModel and UNet2DConditionModel (pass encoder_hidden_states for
    the latter): a forward hook captures the mid-block's output and stops the forward pass there.
    Returns (B, C_mid, H / 2^(L-1), W / 2^(L-1)) with the autograd graph to `sample` intact.
    """
    if getattr(unet, "mid_block", None) is None:
        raise ValueError("this UNet has no mid_block, so it has no h-space")
    captured: list[torch.Tensor] = []

    def hook(module, inputs, output):
        captured.append(output[0] if isinstance(output, tuple) else output)
        raise _StopForward

    handle = unet.mid_block.register_forward_hook(hook)
    try:
        unet(sample, timestep, **unet_kwargs)
    except _StopForward:
        pass
    finally:
        handle.remove()
    if not captured:
        raise RuntimeError("the UNet's forward pass never reached its mid_block")
    return captured[0]


@contextmanager
def differentiable_attention(unet) -> Iterator[None]:
    """Within the block, every diffusers Attention layer of unet uses the plain (matmul + softmax)
    processor, which supports double backward; the original processors come back afterwards."""
    from diffusers.models.attention_processor import Attention, AttnProcessor

    layers = [m for m in unet.modules() if isinstance(m, Attention)]
    saved = [layer.processor for layer in layers]
    try:
        for layer in layers:
            layer.set_processor(AttnProcessor())
        yield
    finally:
        for layer, processor in zip(layers, saved, strict=True):
            layer.set_processor(processor)


@dataclass(frozen=True)
class PullbackBasis:
    """Top-k singular vectors of J = dh/dx_t, largest first.

    directions: x-space v_k, unit norm: (B, k, C, H, W) for per-sample ("local") bases, (k, C, H, W)
    for one basis shared by all samples (top eigenvectors of the summed metric sum_b J_b^T J_b).
    singular_values: (B, k) local, or (k,) shared: sqrt of the eigenvalues of the (summed) metric.
    features: h-space u_k = J_b v_k / |J_b v_k|, (B, k, C', H', W') in both cases.
    iterations: power iterations run; converged: whether the subspace stopped moving.
    """

    directions: torch.Tensor
    singular_values: torch.Tensor
    features: torch.Tensor
    iterations: int
    converged: bool


def _orthonormal_rows(v: torch.Tensor) -> torch.Tensor:
    """Orthonormalise the k rows of each (..., k, n) matrix (QR); keeps the rows' span and order."""
    q, r = torch.linalg.qr(v.transpose(-1, -2))
    signs = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))
    signs = torch.where(signs == 0, torch.ones_like(signs), signs)
    return (q * signs.unsqueeze(-2)).transpose(-1, -2)


def _canonical_signs(v: torch.Tensor) -> torch.Tensor:
    """Flip each row of (..., k, n) so that its entry of largest magnitude is positive (singular
    vectors are defined up to sign; this makes the choice deterministic)."""
    idx = v.abs().argmax(dim=-1, keepdim=True)
    signs = torch.sign(torch.gather(v, -1, idx))
    return v * torch.where(signs == 0, torch.ones_like(signs), signs)


class _Linearisation:
    """J and J^T of feature_fn at the rows of x, from one forward pass kept for reuse.

    x: (N, C, H, W). jvp(t): (N, n) tangents -> (N, m) = J_row t_row; vjp(w): (N, m) -> (N, n).
    """

    def __init__(self, feature_fn: FeatureFn, x: torch.Tensor):
        self.x = x.detach().clone().requires_grad_(True)
        self.h = feature_fn(self.x)
        self.h_shape = tuple(self.h.shape[1:])
        self.probe = torch.zeros_like(self.h, requires_grad=True)
        (self.jt_probe,) = torch.autograd.grad(self.h, self.x, self.probe, create_graph=True)

    def jvp(self, tangents: torch.Tensor) -> torch.Tensor:
        """Products run in the model's dtype; results come back as float32."""
        tangents = tangents.reshape(self.x.shape).to(self.x.dtype)
        (out,) = torch.autograd.grad(self.jt_probe, self.probe, tangents, retain_graph=True)
        return out.reshape(out.shape[0], -1).float()

    def vjp(self, cotangents: torch.Tensor) -> torch.Tensor:
        cotangents = cotangents.reshape(self.h.shape).to(self.h.dtype)
        (out,) = torch.autograd.grad(self.h, self.x, cotangents, retain_graph=True)
        return out.reshape(out.shape[0], -1).float()


class _ChunkedJacobian:
    """J products at the rows of x (N, C, H, W), `chunk_rows` rows per forward pass.

    With a single chunk the forward graph is kept and reused by every call; with several, each
    call rebuilds them one at a time, so memory stays at one chunk's graph.
    """

    def __init__(self, feature_fn: FeatureFn, x: torch.Tensor, chunk_rows: int):
        self.feature_fn = feature_fn
        self.chunks = list(x.detach().split(max(1, chunk_rows)))
        self.kept = _Linearisation(feature_fn, self.chunks[0]) if len(self.chunks) == 1 else None
        self.h_shape: tuple[int, ...] = ()

    def _linearisations(self) -> Iterator[_Linearisation]:
        if self.kept is not None:
            self.h_shape = self.kept.h_shape
            yield self.kept
            return
        for chunk in self.chunks:
            lin = _Linearisation(self.feature_fn, chunk)
            self.h_shape = lin.h_shape
            yield lin

    def jvp(self, tangents: torch.Tensor) -> torch.Tensor:
        """(N, n) -> (N, m): J_row t_row."""
        parts, start = [], 0
        for lin in self._linearisations():
            rows = lin.x.shape[0]
            parts.append(lin.jvp(tangents[start:start + rows]))
            start += rows
        return torch.cat(parts)

    def metric(self, tangents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, n) -> (J t (N, m), J^T J t (N, n)), one forward pass per chunk."""
        jts, metrics, start = [], [], 0
        for lin in self._linearisations():
            rows = lin.x.shape[0]
            jt = lin.jvp(tangents[start:start + rows])
            jts.append(jt)
            metrics.append(lin.vjp(jt))
            start += rows
        return torch.cat(jts), torch.cat(metrics)


def pullback_basis(feature_fn: FeatureFn, x: torch.Tensor, rank: int = 5, iterations: int = 30,
                   tolerance: float = 1e-3, shared: bool = False,
                   generator: torch.Generator | None = None, chunk_rows: int = 1024,
                   on_iteration: Callable[[int, int], None] | None = None) -> PullbackBasis:
    """The top-`rank` right singular vectors of J = d feature_fn / dx at each row of x, by block
    power iteration (subspace iteration) on the pullback metric J^T J.

    x: (B, C, H, W) noisy samples x_t; feature_fn: see FeatureFn (call it inside
    `differentiable_attention` for diffusers UNets). shared=False gives one basis per sample
    (Park et al.'s local basis); shared=True one basis for all, from sum_b J_b^T J_b.
    chunk_rows bounds the rows (of B * rank) in one forward pass, i.e. the memory.
    Works under torch.inference_mode (autograd is switched back on inside). The UNet may run in
    float16 / bfloat16: the products run in x's dtype, the orthonormalisation and the returned
    basis in float32. on_iteration(done, iterations) is called after each power iteration
    (progress for long computations).

    Steps (the B x rank products run as batches of B * rank rows):
    1. V: random (rank, n) rows from `generator`, orthonormalised.
    2. Repeat: V <- J^T (J V) (a Jacobian-vector then a vector-Jacobian product), summed over
       samples when shared; orthonormalise. Stop when every new row lies within `tolerance` (the
       sine of its angle) of the old span, or after `iterations`.
    3. Rayleigh-Ritz: eigen-decompose the small Gram matrix (J V)^T (J V) to order and rotate
       the rows into singular vectors; sigma = sqrt(eigenvalue); u = J v / |J v|.
    4. Signs: each v's entry of largest magnitude is made positive.
    """
    if rank < 1:
        raise ValueError(f"rank must be at least 1, got {rank}")
    b = x.shape[0]
    n = x[0].numel()
    if rank > n:
        raise ValueError(f"rank {rank} exceeds the sample dimension {n}")

    def rows(v: torch.Tensor) -> torch.Tensor:  # (1 or B, rank, n) -> (B * rank, n), row b * rank + j
        return v.expand(b, rank, n).reshape(b * rank, n)

    with torch.inference_mode(False), torch.enable_grad():
        jac = _ChunkedJacobian(feature_fn, x.detach().clone().repeat_interleave(rank, dim=0), chunk_rows)
        start = torch.randn((1 if shared else b), rank, n, generator=generator).to(x.device, torch.float32)
        v = _orthonormal_rows(start)  # (1 or B, rank, n)
        converged, done = False, 0
        while done < iterations and not converged:
            done += 1
            _, metric_v = jac.metric(rows(v))
            metric_v = metric_v.reshape(b, rank, n)
            if shared:
                metric_v = metric_v.sum(dim=0, keepdim=True)
            new_v = _orthonormal_rows(metric_v)
            residual = new_v - (new_v @ v.transpose(-1, -2)) @ v  # the part of the new span outside the old
            v = new_v
            converged = float(residual.norm(dim=-1).max()) < tolerance
            if on_iteration is not None:
                on_iteration(done, iterations)
        jv = jac.jvp(rows(v)).reshape(b, rank, -1)
        gram = jv @ jv.transpose(-1, -2)  # (B, rank, rank)
        if shared:
            gram = gram.sum(dim=0, keepdim=True)
        eigenvalues, eigenvectors = torch.linalg.eigh(gram)  # ascending
        order = torch.arange(rank - 1, -1, -1, device=eigenvalues.device)
        eigenvalues, eigenvectors = eigenvalues[..., order], eigenvectors[..., order]
        v = _canonical_signs(eigenvectors.transpose(-1, -2) @ v)
        jv = jac.jvp(rows(v)).reshape(b, rank, -1)
        u = jv / jv.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    sigma = eigenvalues.clamp_min(0).sqrt()
    directions = v.detach().reshape(v.shape[0], rank, *x.shape[1:])
    if shared:
        directions, sigma = directions[0], sigma[0]
    return PullbackBasis(
        directions=directions,
        singular_values=sigma.detach(),
        features=u.detach().reshape(b, rank, *jac.h_shape),
        iterations=done,
        converged=converged,
    )


def x_space_guidance(predict_noise: Callable[[torch.Tensor], torch.Tensor], x_t: torch.Tensor,
                     directions: torch.Tensor, strengths: torch.Tensor, gamma: float = 0.1,
                     guidance_steps: int = 16, step_size: float = 1.0) -> torch.Tensor:
    """Edit x_t along unit directions by Park et al.'s x-space guidance, batched over rows.

    predict_noise: x (N, C, H, W) -> eps (N, C, H, W) at the edit timestep (closure over t and any
    conditioning). x_t, directions: (B, C, H, W), directions of unit norm per row.
    strengths: (B,) >= 0; strength 1 is the paper's full edit (`guidance_steps` updates), 0 leaves
    the row unchanged, 0.5 stops halfway, 2 goes on for twice as many updates.
    Update i for row r: x <- x + gamma * w * [eps(x + step_size * d) - eps(x)] with
    w = clamp(strengths[r] * guidance_steps - i, 0, 1), so a fractional strength ends on a partial
    update. Both noise predictions of all active rows run in one batched call per update.
    Returns the edited x_t (B, C, H, W).
    """
    if strengths.ndim != 1 or strengths.shape[0] != x_t.shape[0]:
        raise ValueError(f"strengths must have shape ({x_t.shape[0]},), got {tuple(strengths.shape)}")
    if bool((strengths < 0).any()):
        raise ValueError("strengths must be >= 0; flip the direction for a negative edit")
    x = x_t.clone()
    budget = strengths.to(x.device, x.dtype) * guidance_steps
    total = math.ceil(float(budget.max())) if budget.numel() else 0
    for i in range(total):
        weight = (budget - i).clamp(0, 1)
        active = torch.nonzero(weight > 0).flatten()
        if active.numel() == 0:
            break
        xa = x[active]
        eps = predict_noise(torch.cat([xa + step_size * directions[active], xa]))
        eps_moved, eps_here = eps.chunk(2)
        x[active] = xa + gamma * weight[active].view(-1, *[1] * (x.ndim - 1)) * (eps_moved - eps_here)
    return x
