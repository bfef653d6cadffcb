"""Training loop for tools/models/vae/model.py on procedural dSprites, with a wall-clock budget, a progress
bar and periodic checkpoints (so a long background run can be inspected while it goes)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from tools.data.dsprites import NUM_IMAGES, sample_batch
from tools.models.vae.checkpoint import save_checkpoint
from tools.models.vae.losses import vae_loss
from tools.models.vae.model import BurgessVAE, VAEConfig


@dataclass
class TrainSettings:
    """steps: optimiser steps (stops earlier when max_minutes runs out); batch_size: images per
    step; lr: Adam learning rate; seed: seeds data and initialisation; save_every_minutes:
    checkpoint cadence; kl_warmup_steps: steps over which the KL weight rises linearly from 0 to
    1 (0: no annealing); threads: torch CPU threads (0 leaves torch's default).
    capacity_max: nats of KL the code is pushed towards under capacity control (Burgess et al.
    2018; None: off), raised linearly from capacity_start to capacity_max over capacity_steps;
    capacity_gamma: the weight of |KL - C| (tools/models/vae/losses.py). command: how the run was
    started (recorded with the settings in every checkpoint, so a killed run still says it)."""

    steps: int = 100_000
    batch_size: int = 256
    lr: float = 1e-3
    seed: int = 0
    max_minutes: float = 60.0
    save_every_minutes: float = 10.0
    kl_warmup_steps: int = 0
    capacity_max: float | None = None
    capacity_start: float = 0.0
    capacity_steps: int = 10_000
    capacity_gamma: float = 1000.0
    threads: int = 0
    device: str = "cpu"
    command: str = ""


def capacity_at(settings: TrainSettings, step: int) -> float | None:
    """The capacity C (nats) at 1-based `step`: linear from capacity_start to capacity_max over
    capacity_steps, then flat; None when capacity control is off."""
    if settings.capacity_max is None:
        return None
    fraction = min(1.0, step / max(1, settings.capacity_steps))
    return settings.capacity_start + (settings.capacity_max - settings.capacity_start) * fraction


def train_vae(config: VAEConfig, settings: TrainSettings, out: str | Path, progress: bool = True,
              init_from: str | Path | None = None) -> Path:
    """Train (from scratch, or continuing from the weights of checkpoint `init_from` — same
    architecture and dataset; the loss and its weights may change between stages — with a fresh
    optimiser) and write a checkpoint folder to `out`; returns the folder. Earlier stages are
    kept in the training record ("earlier_stages", with their model configs).

    Data are rendered on the fly (tools/data/dsprites.py), so every step sees a fresh uniform
    sample of the factor grid; config.dataset_size is the grid size N used by the TC estimator.
    """
    from tqdm import tqdm

    if settings.threads:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    data_gen = torch.Generator().manual_seed(settings.seed)
    config.dataset_size = NUM_IMAGES
    device = torch.device(settings.device)
    model = BurgessVAE(config)
    earlier: list[dict] = []
    if init_from is not None:
        from tools.models.vae.checkpoint import load_checkpoint

        previous = load_checkpoint(init_from)
        architecture = ("latent_dim", "image_channels", "image_size", "hidden_channels", "hidden_dim", "dataset")
        if any(getattr(previous.config, k) != getattr(config, k) for k in architecture):
            raise ValueError(f"checkpoint {init_from} has another architecture or dataset: {previous.config}")
        model.load_state_dict(previous.state_dict())
        earlier = [*previous.training_record.get("earlier_stages", []),
                   {k: v for k, v in previous.training_record.items() if k != "earlier_stages"}
                   | {"model": previous.config.to_dict(), "read_from": str(init_from)}]
    model = model.to(device).to(memory_format=torch.channels_last)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.lr)

    start = last_save = time.monotonic()
    record = {"settings": vars(settings).copy(), "steps_done": 0, "images_seen": 0}
    if earlier:
        record["earlier_stages"] = earlier
    bar = tqdm(total=settings.steps, disable=not progress, desc="train", unit="step")
    for step in range(1, settings.steps + 1):
        x = sample_batch(settings.batch_size, data_gen).images.to(device)
        x = x.contiguous(memory_format=torch.channels_last)
        logits, z, mean, logvar = model(x)
        terms = vae_loss(
            logits, x, z, mean, logvar, loss=config.loss, beta=config.beta,
            dataset_size=config.dataset_size, tc_estimator=config.tc_estimator,
            mi_weight=config.mi_weight, dim_kl_weight=config.dim_kl_weight,
            kl_weight=min(1.0, step / settings.kl_warmup_steps) if settings.kl_warmup_steps else 1.0,
            capacity=capacity_at(settings, step), capacity_gamma=settings.capacity_gamma,
        )
        optimiser.zero_grad(set_to_none=True)
        terms.loss.backward()
        optimiser.step()

        record.update(steps_done=step, images_seen=step * settings.batch_size)
        if step % 20 == 0:
            postfix = {"loss": f"{terms.loss.item():.1f}", "rec": f"{terms.reconstruction.item():.1f}",
                       "kl": f"{terms.kl.item():.1f}"}
            if terms.total_correlation is not None:
                postfix["tc"] = f"{terms.total_correlation.item():.2f}"
            if settings.capacity_max is not None:
                postfix["C"] = f"{capacity_at(settings, step):.1f}"
            bar.set_postfix(postfix, refresh=False)
        bar.update(1)
        elapsed = time.monotonic() - start
        if elapsed - (last_save - start) > settings.save_every_minutes * 60:
            record["minutes"] = round(elapsed / 60, 2)
            save_checkpoint(model, out, record)
            last_save = time.monotonic()
        if elapsed > settings.max_minutes * 60:
            break
    bar.close()
    record["minutes"] = round((time.monotonic() - start) / 60, 2)
    return save_checkpoint(model, out, record)
