"""Diffusion models behind LatentExplainer's model protocol, explained through h-space directions.

A diffusion model has no low-dimensional latent code, so it is given one (docs/method.md, DDPM):

    z = (c_1, ..., c_k, seed)            latent_dim = k + 1, k = settings.rank (5)

- seed (last column, an integer stored as a float; exact below 2^24) names the anchor's initial
  noise x_T ~ N(0, I), drawn from torch.Generator().manual_seed(seed) on the CPU.
- c_j is the coefficient along the h-space direction v_j (tools/models/ddpm/hspace.py): the j-th right
  singular vector of the Jacobian from x_t to the UNet's mid-block at the edit timestep
  t = edit_t * T. By default one basis is shared by every anchor (top eigenvectors of the
  pullback metric summed over `reference_samples` fixed seeds), so "direction j" means the same
  thing for every anchor; basis="local" computes Park et al.'s per-sample basis instead.
- decode(z), per row: DDIM from x_T down to x_t; x-space guidance along the unit vector
  w / |w|, w = sum_j c_j v_j, with strength |c| (|c| = 1: the paper's `guidance_steps` = 16
  updates of gamma * [eps(x_t + v) - eps(x_t)]; the sign of c_j picks +v_j or -v_j); DDIM on to
  x_0. c = 0 reproduces the unedited sample. Rows are deduplicated, grouped `batch_size` at a
  time on `device` (CUDA when present; a batch that runs out of device memory is halved until
  it fits, and that size is kept), and x_t is cached per seed.
- sample_latents(n, generator): zeros for c and n distinct seeds. metadata: family "ddpm",
  default_bias "disentanglement", traversable 0..k-1, traversal_range 1.0 (|c| = 1 is the
  paper's edit).

Cost: a row costs about (1 - edit_t) * num_inference_steps + 2 * 16 * |c| UNet evaluations
(x_t is shared per seed). Measured on this 2-core CPU (2026-11-22) with builtin:dsprites-ddpm
(UNet 16-32-64, 32x32) and the default settings: the shared basis (8 reference seeds, rank 5)
3 s (it ships in hspace_basis.safetensors, so loading skips it); a per-anchor "local" basis
3 s for 5 anchors; decoding 75 rows (5 directions x 3 anchors x 5 values) 21 s for |c| <= 1,
30 s for |c| <= 3; the whole demo `latent-explainer explain --model builtin:dsprites-ddpm`
(5 directions, 5 anchors x 7 frames over [-3, 3], offline describer, sandboxed) 2 min 19 s.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal, Protocol

import torch

from tools.models.ddpm.basis_cache import BasisCache, basis_cache_key
from tools.models.ddpm.hspace import differentiable_attention, mid_block_features, pullback_basis, x_space_guidance
from tools.models.ddpm.model import ddim_denoise, ddim_timesteps

MAX_SEED = 2**24
"""Seeds are stored in a float32 latent column: integers below 2^24 are exact."""

BASIS_FILE = "hspace_basis.safetensors"


@dataclass(frozen=True)
class HSpaceSettings:
    """rank: directions explained (k). gamma: x-space guidance scale (0.1 DDPM, 1 Stable
    Diffusion in LatentExplainer's code). guidance_steps: guidance updates for |c| = 1 (16).
    step_size: the probe step s in eps(x_t + s v) (v has unit norm). num_inference_steps: DDIM
    steps from x_T to x_0 (100). edit_t: edit timestep as a fraction of T (basis and edit at the
    DDIM timestep nearest edit_t * T). basis: "shared" (one basis for all anchors) or "local"
    (per anchor). reference_samples: seeds 0..R-1 whose metrics are summed for the shared basis.
    power_iterations / tolerance: limits of the power method. basis_seed: seeds its start.
    batch_size: rows per batched UNet pass in decode. jacobian_chunk_rows: rows per forward pass
    while computing a basis (memory).
    """

    rank: int = 5
    gamma: float = 0.1
    guidance_steps: int = 16
    step_size: float = 1.0
    num_inference_steps: int = 100
    edit_t: float = 0.8
    basis: Literal["shared", "local"] = "shared"
    reference_samples: int = 8
    power_iterations: int = 30
    tolerance: float = 1e-3
    basis_seed: int = 0
    batch_size: int = 64
    jacobian_chunk_rows: int = 1024

    def __post_init__(self) -> None:
        checks = [
            (self.rank >= 1, f"rank must be at least 1, got {self.rank}"),
            (self.guidance_steps >= 1, f"guidance_steps must be at least 1, got {self.guidance_steps}"),
            (self.num_inference_steps >= 1, f"num_inference_steps must be at least 1, got {self.num_inference_steps}"),
            (0 < self.edit_t <= 1, f"edit_t must be in (0, 1], got {self.edit_t}"),
            (self.basis in ("shared", "local"), f"basis must be 'shared' or 'local', got {self.basis!r}"),
            (self.reference_samples >= 1, f"reference_samples must be at least 1, got {self.reference_samples}"),
            (self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def basis_key(self) -> dict:
        """The settings a shared basis depends on (to check a stored one still applies)."""
        keys = ("rank", "num_inference_steps", "edit_t", "reference_samples", "power_iterations", "tolerance",
                "basis_seed")
        return {k: getattr(self, k) for k in keys}


class Denoiser(Protocol):
    """What DiffusionHSpaceModel needs from a diffusion model.

    sample_shape: (C, H, W) of x_t. init_noise_sigma: scale of x_T. predict_noise: eps for
    sampling (may use classifier-free guidance). guidance_noise: eps for the x-space guidance
    edit. features: the mid-block output h (the h-space). jacobian_context: a context in which
    features supports double backward. to_images: x_0 (B, C, H, W) -> images in [0, 1].
    """

    sample_shape: tuple[int, int, int]
    init_noise_sigma: float

    def predict_noise(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor: ...

    def guidance_noise(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor: ...

    def features(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor: ...

    def jacobian_context(self) -> AbstractContextManager: ...

    def to_images(self, x0: torch.Tensor) -> torch.Tensor: ...


class UNetDenoiser:
    """An unconditional diffusers UNet2DModel over images in [-1, 1] (tools/models/ddpm/model.py)."""

    def __init__(self, unet, init_noise_sigma: float = 1.0):
        self.unet = unet
        cfg = unet.config
        size = cfg.sample_size if isinstance(cfg.sample_size, int) else cfg.sample_size[0]
        self.sample_shape = (int(cfg.in_channels), int(size), int(size))
        self.init_noise_sigma = float(init_noise_sigma)

    def predict_noise(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.unet(x, t).sample

    guidance_noise = predict_noise

    def features(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return mid_block_features(self.unet, x, t)

    def jacobian_context(self) -> AbstractContextManager:
        return differentiable_attention(self.unet)

    def to_images(self, x0: torch.Tensor) -> torch.Tensor:
        return ((x0.float() + 1) / 2).clamp(0, 1)


class _SeedCache:
    """A bounded map seed -> tensor, oldest evicted first."""

    def __init__(self, capacity: int = 2048):
        self.capacity = capacity
        self.items: OrderedDict[int, torch.Tensor] = OrderedDict()

    def missing(self, seeds: list[int]) -> list[int]:
        return list(dict.fromkeys(s for s in seeds if s not in self.items))

    def put(self, seed: int, value: torch.Tensor) -> None:
        self.items[seed] = value
        while len(self.items) > self.capacity:
            self.items.popitem(last=False)

    def stack(self, seeds: list[int]) -> torch.Tensor:
        return torch.stack([self.items[s] for s in seeds])


class DiffusionHSpaceModel:
    """The model protocol over a diffusion model's h-space directions (layout: module docstring)."""

    def __init__(self, denoiser: Denoiser, scheduler, settings: HSpaceSettings, name: str,
                 device: torch.device, metadata: dict | None = None, dtype: torch.dtype = torch.float32,
                 identity: str | None = None, basis_cache: BasisCache | None = None,
                 progress: Callable[[str], None] | None = None):
        """identity: what names the weights (a folder, a hub id at its commit) in the basis
        cache's key; basis_cache: where a shared basis is looked up and stored (None: nowhere);
        progress: called with a short line during the long steps (basis, decoding)."""
        self.denoiser = denoiser
        self.identity = identity or name
        self.basis_cache = basis_cache
        self.progress = progress
        self.scheduler = scheduler
        self.settings = settings
        self.name = name
        self.device = torch.device(device)
        self.dtype = dtype
        self.latent_dim = settings.rank + 1
        self.batch_rows = settings.batch_size
        """Rows per batched pass in decode: settings.batch_size, halved on each out-of-memory error
        until a batch fits the device's free memory."""
        self.timesteps = ddim_timesteps(scheduler, settings.num_inference_steps)
        target = settings.edit_t * scheduler.config.num_train_timesteps
        self.edit_index = int((self.timesteps.float() - target).abs().argmin())
        self.edit_timestep = self.timesteps[self.edit_index]
        self._x_edit = _SeedCache()
        self._local_bases = _SeedCache()
        self.shared_basis: torch.Tensor | None = None
        self.basis_info: dict = {}
        self.metadata = {
            "family": "ddpm",
            "default_bias": "disentanglement",
            "groups": {},
            "attributes": [],
            "traversable": list(range(settings.rank)),
            "traversal_range": 1.0,
            "latent_layout": f"z = (c_1..c_{settings.rank}, seed): c_j moves along h-space direction v_j "
                             f"(|c| = 1: {settings.guidance_steps} x-space guidance steps); the last column "
                             "is the integer seed of the initial noise",
            "hspace": asdict(settings),
        } | (metadata or {})

    # -- the protocol ---------------------------------------------------------------------------

    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, k + 1): c = 0 and n distinct integer seeds in [0, 2^16) (n <= 65536)."""
        if n > 2**16:
            raise ValueError(f"at most 65536 anchors, got {n}")
        seeds = torch.randperm(2**16, generator=generator)[:n].float()
        z = torch.zeros(n, self.latent_dim)
        z[:, -1] = seeds
        return z

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, k + 1) codes -> (B, C, H, W) images in [0, 1] on the CPU (see the module docstring)."""
        z = torch.as_tensor(z, dtype=torch.float32).detach().cpu()
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        seeds = z[:, -1]
        if not bool(torch.isfinite(z).all()):
            raise ValueError("z contains NaN or infinite values")
        if bool(((seeds != seeds.round()) | (seeds < 0) | (seeds >= MAX_SEED)).any()):
            raise ValueError(f"the last column of z must hold integer seeds in [0, {MAX_SEED}), got {seeds.tolist()}")
        unique, inverse = torch.unique(z, dim=0, return_inverse=True)
        started, images, done = time.monotonic(), [], 0
        while done < len(unique):
            size = min(self.batch_rows, len(unique) - done)
            try:
                images.append(self._decode_rows(unique[done:done + size]))
            except torch.OutOfMemoryError:
                if size == 1:
                    raise
                self.batch_rows = (size + 1) // 2  # kept for later calls: the batch that fits
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                self._say(f"decoding: out of device memory at {size} rows per batch; now {self.batch_rows}")
                continue
            done += size
            if done < len(unique) or len(images) > 1:
                self._say(f"decoding: {done}/{len(unique)} rows ({time.monotonic() - started:.0f} s)",
                          final=done == len(unique) and time.monotonic() - started >= self.PROGRESS_EVERY_S)
        return torch.cat(images)[inverse]

    PROGRESS_EVERY_S = 5.0
    """Least time between two progress lines of one long step (the last one always comes)."""

    def _say(self, text: str, final: bool = True) -> None:
        now = time.monotonic()
        if self.progress is None or (not final and now - getattr(self, "_said_at", 0.0) < self.PROGRESS_EVERY_S):
            return
        self._said_at = now
        self.progress(f"{self.name}: {text}")

    # -- the steps --------------------------------------------------------------------------------

    def _initial_noise(self, seeds: list[int]) -> torch.Tensor:
        """x_T (B, C, H, W) on device: N(0, I) * init_noise_sigma from each seed's CPU generator."""
        noise = [torch.randn(self.denoiser.sample_shape, generator=torch.Generator().manual_seed(s)) for s in seeds]
        return (torch.stack(noise) * self.denoiser.init_noise_sigma).to(self.device, self.dtype)

    def edit_points(self, seeds: list[int]) -> torch.Tensor:
        """x_t at the edit timestep (B, C, H, W) for each seed, by DDIM from x_T (cached per seed)."""
        missing = self._x_edit.missing(seeds)
        for start in range(0, len(missing), self.settings.batch_size):
            part = missing[start:start + self.settings.batch_size]
            x = ddim_denoise(self.denoiser.predict_noise, self.scheduler, self._initial_noise(part),
                             self.timesteps[: self.edit_index])
            for seed, row in zip(part, x, strict=True):
                self._x_edit.put(seed, row)
        return self._x_edit.stack(seeds)

    def _basis(self, x_t: torch.Tensor, shared: bool):
        def features(x: torch.Tensor) -> torch.Tensor:
            return self.denoiser.features(x, self.edit_timestep)

        started = time.monotonic()

        def on_iteration(done: int, total: int) -> None:
            self._say(f"h-space basis: power iteration {done}/{total} ({time.monotonic() - started:.0f} s)",
                      final=done == total)

        with self.denoiser.jacobian_context():
            return pullback_basis(
                features, x_t, rank=self.settings.rank, iterations=self.settings.power_iterations,
                tolerance=self.settings.tolerance, shared=shared,
                generator=torch.Generator().manual_seed(self.settings.basis_seed),
                chunk_rows=self.settings.jacobian_chunk_rows, on_iteration=on_iteration,
            )

    def directions(self, seeds: list[int]) -> torch.Tensor:
        """The unit x-space directions v_1..v_k for each seed's anchor: (B, k, C, H, W)."""
        if self.settings.basis == "shared":
            if self.shared_basis is None and not self._load_cached_basis():
                self.compute_shared_basis()
                self._store_cached_basis()
            return self.shared_basis.unsqueeze(0).expand(len(seeds), *self.shared_basis.shape)
        missing = self._local_bases.missing(seeds)
        if missing:
            basis = self._basis(self.edit_points(missing), shared=False)
            for seed, v in zip(missing, basis.directions, strict=True):
                self._local_bases.put(seed, v)
        return self._local_bases.stack(seeds)

    def compute_shared_basis(self) -> torch.Tensor:
        """Compute (and keep) the shared basis (k, C, H, W) from seeds 0..reference_samples-1."""
        reference = list(range(self.settings.reference_samples))
        basis = self._basis(self.edit_points(reference), shared=True)
        self.shared_basis = basis.directions.to(self.device, self.dtype)
        self.basis_info = {"singular_values": basis.singular_values.tolist(), "iterations": basis.iterations,
                           "converged": basis.converged, **self.settings.basis_key()}
        return self.shared_basis

    def _decode_rows(self, rows: torch.Tensor) -> torch.Tensor:
        k = self.settings.rank
        seeds = [int(s) for s in rows[:, k].tolist()]
        coefficients = rows[:, :k].to(self.device, self.dtype)
        x_t = self.edit_points(seeds)
        if bool((coefficients != 0).any()):
            v = self.directions(seeds).flatten(2)  # (B, k, n)
            w = torch.einsum("bk,bkn->bn", coefficients, v)
            unit = (w / w.norm(dim=1, keepdim=True).clamp_min(1e-12)).reshape(x_t.shape)
            t = self.edit_timestep

            def noise(x: torch.Tensor) -> torch.Tensor:
                return self.denoiser.guidance_noise(x, t)

            x_t = x_space_guidance(noise, x_t, unit, coefficients.norm(dim=1), gamma=self.settings.gamma,
                                   guidance_steps=self.settings.guidance_steps, step_size=self.settings.step_size)
        x0 = ddim_denoise(self.denoiser.predict_noise, self.scheduler, x_t, self.timesteps[self.edit_index:])
        return self.denoiser.to_images(x0).float().cpu()

    # -- a stored shared basis -----------------------------------------------------------------

    def basis_cache_material(self) -> dict:
        """What the shared basis depends on: the weights' identity, the prompt and guidance (which
        shape x_t), the sample shape, the dtype and the basis settings."""
        return {"identity": self.identity, "prompt": self.metadata.get("prompt"),
                "guidance_scale": self.metadata.get("guidance_scale"), "shape": list(self.denoiser.sample_shape),
                "dtype": str(self.dtype), **self.settings.basis_key()}

    def _load_cached_basis(self) -> bool:
        if self.basis_cache is None:
            return False
        found = self.basis_cache.load(basis_cache_key(self.basis_cache_material()))
        if found is None:
            return False
        directions, info = found
        self.shared_basis = directions.to(self.device, self.dtype)
        self.basis_info = info
        self._say(f"h-space basis from the cache ({info.get('cached_from')})")
        return True

    def _store_cached_basis(self) -> None:
        if self.basis_cache is not None and self.shared_basis is not None:
            self.basis_cache.save(basis_cache_key(self.basis_cache_material()), self.shared_basis, self.basis_info)

    def save_shared_basis(self, folder: str | Path) -> Path:
        """Write folder/hspace_basis.safetensors (the shared basis and the settings it depends on),
        computing the basis first if needed."""
        import json

        from safetensors.torch import save_file

        if self.shared_basis is None:
            self.compute_shared_basis()
        path = Path(folder) / BASIS_FILE
        save_file({"directions": self.shared_basis.detach().float().cpu().contiguous()}, str(path),
                  metadata={"basis_info": json.dumps(self.basis_info)})
        path.chmod(0o644)
        return path

    def load_shared_basis(self, folder: str | Path) -> bool:
        """Use folder's stored shared basis when it was computed with the current settings;
        returns whether it was used."""
        import json

        from safetensors import safe_open

        path = Path(folder) / BASIS_FILE
        if self.settings.basis != "shared" or not path.is_file():
            return False
        with safe_open(str(path), framework="pt") as stored:
            info = json.loads((stored.metadata() or {}).get("basis_info", "{}"))
            if {k: info.get(k) for k in self.settings.basis_key()} != self.settings.basis_key():
                return False
            self.shared_basis = stored.get_tensor("directions").to(self.device, self.dtype)
        self.basis_info = info
        return True


def load_ddpm_model(folder: str | Path, device: str | torch.device = "auto", basis_cache: BasisCache | None = None,
                    progress: Callable[[str], None] | None = None, **settings) -> DiffusionHSpaceModel:
    """The protocol model of a DDPM checkpoint folder (tools/models/ddpm/model.py save_ddpm), on device
    ("auto": CUDA when present). settings: HSpaceSettings fields to override; a stored shared
    basis (hspace_basis.safetensors) is used when it matches them, else the basis_cache's, else
    it is computed when first needed (and stored in the basis_cache). A checkpoint may carry its
    own defaults in config.json's model.extra["hspace"] (e.g. fewer DDIM steps for a tiny model);
    `settings` win over them."""
    from tools.data.procedural import dataset_factor_names
    from tools.models.ddpm.model import build_scheduler, load_ddpm
    from tools.models.device import resolve_device

    torch_device = device if isinstance(device, torch.device) else resolve_device(device)
    unet, config, training = load_ddpm(folder, torch_device)
    unet.requires_grad_(False)
    hspace = replace(HSpaceSettings(), **{**dict(config.extra or {}).get("hspace", {}), **settings})
    metadata = {"dataset": config.dataset, "factor_names": dataset_factor_names(config.dataset)}
    model = DiffusionHSpaceModel(UNetDenoiser(unet), build_scheduler(config), hspace, name=Path(folder).name,
                                 device=torch_device, metadata=metadata, identity=str(Path(folder).resolve()),
                                 basis_cache=basis_cache, progress=progress)
    model.load_shared_basis(folder)
    return model
