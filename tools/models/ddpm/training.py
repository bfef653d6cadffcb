"""Training loop for the small DDPM of tools/models/ddpm/model.py on procedural data, with a wall-clock budget,
an exponential moving average (EMA) of the weights (what is saved and sampled), periodic
checkpoints, and at the end the shared h-space basis stored beside the weights
(tools/models/ddpm/hspace_model.py), so that explaining the model does not recompute it.

Data (`dataset_batch`): procedural dSprites (tools/data/dsprites.py), procedural 3DShapes-like scenes
(tools/data/shapes3d.py) or scikit-learn's handwritten digits (tools/data/digits.py), at 64x64,
average-pooled to config.image_size (32 for the built-in: anti-aliased edges), in [0, 1], mapped
to [-1, 1].

Measured on this 2-core CPU (2026-11-22): the built-in builtin:dsprites-ddpm (UNet 16-32-64,
32x32, batch 32) trains at about 3.4 steps/s with the CPU to itself. Its first stage (15
minutes, shared CPU) reached 1,889 steps (60k images): blurry blobs at the right places,
sometimes two objects. A second stage, `--init-from` that folder with lr 5e-4 for 100 minutes,
reached 12,052 steps in all: single clean sprites on black. Both commands and seeds are
recorded in tools/models/builtin/dsprites_ddpm/config.json and BENCHMARKS.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from tools.data.procedural import dataset_batch
from tools.models.ddpm.model import DDPMConfig, build_scheduler, build_unet, diffusion_loss, save_ddpm, to_model_range


@dataclass
class DDPMTrainSettings:
    """steps: optimiser steps (stops earlier when max_minutes runs out); batch_size: images per
    step; lr: AdamW learning rate (linear warm-up over warmup_steps); ema_decay: decay of the
    weight average that is saved (0: save the raw weights); seed: seeds data, noise and
    initialisation; save_every_minutes: checkpoint cadence; threads: torch CPU threads (0: torch's
    default); device: "cpu", "cuda", ...; store_basis: compute and store the shared h-space basis
    at the end."""

    steps: int = 20_000
    batch_size: int = 64
    lr: float = 1e-3
    warmup_steps: int = 200
    ema_decay: float = 0.999
    seed: int = 0
    max_minutes: float = 15.0
    save_every_minutes: float = 5.0
    threads: int = 0
    device: str = "cpu"
    store_basis: bool = True


class _EMA:
    """Exponential moving average of a module's floating-point state, with the usual warm-up
    decay min(decay, (1 + step) / (10 + step))."""

    def __init__(self, module: torch.nn.Module, decay: float):
        self.decay = decay
        self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}

    @torch.no_grad()
    def update(self, module: torch.nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        for k, v in module.state_dict().items():
            if v.is_floating_point():
                self.state[k].mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                self.state[k].copy_(v)


def train_ddpm(config: DDPMConfig, settings: DDPMTrainSettings, out: str | Path, progress: bool = True,
               init_from: str | Path | None = None) -> Path:
    """Train (from scratch, or continuing from the saved weights of DDPM checkpoint `init_from`,
    which must have the same architecture and dataset; fresh optimiser) and write a DDPM
    checkpoint folder to `out` (tools/models/ddpm/model.py save_ddpm, EMA weights, plus
    hspace_basis.safetensors when store_basis); returns the folder. Earlier stages are kept in
    the training record ("earlier_stages")."""
    from tqdm import tqdm

    if settings.threads:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    device = torch.device(settings.device)
    unet = build_unet(config)
    earlier = _load_earlier_stage(unet, config, init_from) if init_from is not None else []
    unet = unet.to(device)
    scheduler = build_scheduler(config)
    optimiser = torch.optim.AdamW(unet.parameters(), lr=settings.lr, weight_decay=0.0)
    warmup = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: min(1.0, (s + 1) / max(1, settings.warmup_steps)))
    ema = _EMA(unet, settings.ema_decay) if settings.ema_decay > 0 else None
    record = {"settings": vars(settings).copy(), "steps_done": 0, "images_seen": 0}
    if earlier:
        record["earlier_stages"] = earlier

    def save() -> Path:
        record["minutes"] = round((time.monotonic() - start) / 60, 2)
        weights = build_unet(config)
        weights.load_state_dict(ema.state if ema else unet.state_dict())
        return save_ddpm(weights, config, out, record)

    start = last_save = time.monotonic()
    bar = tqdm(total=settings.steps, disable=not progress, desc="train-ddpm", unit="step")
    unet.train()
    for step in range(1, settings.steps + 1):
        x0 = to_model_range(dataset_batch(config.dataset, settings.batch_size, config.image_size, generator)).to(device)
        loss = diffusion_loss(unet, scheduler, x0, generator)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimiser.step()
        warmup.step()
        if ema:
            ema.update(unet, step)
        record.update(steps_done=step, images_seen=step * settings.batch_size, last_loss=round(loss.item(), 5))
        if step % 20 == 0:
            bar.set_postfix({"loss": f"{loss.item():.4f}"}, refresh=False)
        bar.update(1)
        now = time.monotonic()
        if now - last_save > settings.save_every_minutes * 60:
            save()
            last_save = now
        if now - start > settings.max_minutes * 60:
            break
    bar.close()
    folder = save()
    if settings.store_basis:
        from tools.models.ddpm.hspace_model import load_ddpm_model

        load_ddpm_model(folder, device).save_shared_basis(folder)
    return folder


def _load_earlier_stage(unet: torch.nn.Module, config: DDPMConfig, folder: str | Path) -> list[dict]:
    """Load checkpoint `folder`'s weights into unet; returns its stages for the training record.

    Raises ValueError when its architecture or dataset differ from config."""
    from tools.models.ddpm.model import load_ddpm

    previous, previous_config, training = load_ddpm(folder)
    mine = {k: v for k, v in config.to_dict().items() if k != "extra"}
    theirs = {k: v for k, v in previous_config.to_dict().items() if k != "extra"}
    if mine != theirs:
        raise ValueError(f"checkpoint {folder} has another architecture or dataset: {theirs}")
    unet.load_state_dict(previous.state_dict())
    stage = {k: v for k, v in training.items() if k != "earlier_stages"} | {"read_from": str(folder)}
    return [*training.get("earlier_stages", []), stage]
