"""Training a factor probe (tools/evaluation/factor_probe/model.py) on freshly rendered labelled images, its
held-out accuracy, and the command line `python -m tools.evaluation.factor_probe train`.

Steps (`train_probe`):
1. Every step renders a fresh uniform batch (tools/evaluation/factor_probe/model.py `labelled_images`: 64x64,
   average-pooled to the probe's size), so the probe never sees an image twice.
2. Augmentation (`augment`), so the probe still reads the blurry, grey, noisy images a briefly
   trained DDPM draws: per image with probability p, x <- offset + gain * x (background lifted to
   up to 0.25, contrast down to 0.65), a Gaussian blur of sigma up to 1 pixel of the probe's
   resolution, additive Gaussian noise of sd up to 0.12, clamped to [0, 1].
3. Loss: the sum over heads of cross-entropy (categorical) or squared error (ordinal on the
   standardised index, folded_angle on the (cos, sin) pair); AdamW with a cosine learning-rate
   decay to 0 over `steps` (max_minutes is only a safety stop, so a run is reproducible from its
   seed and steps on one thread).
4. Held-out evaluation on `held_out` renders from another seed, clean and augmented
   (`held_out_accuracy`): per factor the exact accuracy and chance (1 / size, or the mean
   1 / period for folded_angle), and for ordinal and folded_angle factors the accuracy within
   one label step and the mean absolute error in label steps. folded_angle is scored with the
   true shape's pair.
5. The data's spread of each reading, reference_variance (total variance of phi over the clean
   held-out renders), and the probe's jitter (two augmented copies of each render) go into the
   probe's config; tools/evaluation/probe_ground_truth.py measures traversals against them.

Measured on this 2-core CPU with one thread, other jobs sharing it (2026-11-22): the shipped
tools/models/builtin/probes/dsprites_32 (its config.json has the command, seed and accuracies)
    python -m tools.evaluation.factor_probe train --dataset dsprites --image-size 32
      --out tools/models/builtin/probes/dsprites_32 --steps 2000 --max-minutes 20 --seed 0
took 4.2 CPU minutes (4.9 to 6.0 wall-clock; two runs gave identical weights) for 2000 steps of
128 images; held out, clean (augmented):
shape 1.00 (0.98), scale 0.94 (0.87) exact and 1.00 within one step, posX / posY 0.60 / 0.58
exact (one step is 0.6 pixel at 32x32) and 0.98 / 0.99 within one step, orientation (folded,
given the shape) 0.63 exact, 0.73 within one of its up to 40 steps.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from tools.evaluation.factor_probe.model import (
    FactorProbe,
    FactorReading,
    FactorSpec,
    ProbeConfig,
    folded_angle_target,
    labelled_images,
    ordinal_target,
    probe_dataset,
    save_probe,
)


@dataclass(frozen=True)
class Augmentation:
    """Corruptions applied to a training image with probability `probability` (module
    docstring, step 2): offset U(0, max_offset) and gain U(min_gain, 1) on intensities, Gaussian
    blur sigma U(0, max_blur_sigma) in pixels, noise sd U(0, max_noise_sd)."""

    probability: float = 0.8
    max_offset: float = 0.25
    min_gain: float = 0.65
    max_blur_sigma: float = 1.0
    max_noise_sd: float = 0.12


@dataclass
class ProbeTrainSettings:
    """steps: optimiser steps; batch_size: images per step; lr: AdamW peak learning rate; seed:
    seeds initialisation, training data and augmentation (the held-out set uses seed + 1);
    max_minutes: wall-clock safety stop (2000 steps take about 4 CPU minutes); threads: torch
    CPU threads (0: torch's default); held_out: images in the held-out set; augmentation: step 2."""

    steps: int = 2000
    batch_size: int = 128
    lr: float = 2e-3
    seed: int = 0
    max_minutes: float = 20.0
    threads: int = 1
    held_out: int = 2000
    augmentation: Augmentation = field(default_factory=Augmentation)


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur each image (B, C, H, W) with its own Gaussian of sd sigma (B,) pixels (sigma near 0:
    unchanged); separable kernel of radius ceil(3 max sigma), edges replicated."""
    radius = max(1, math.ceil(3 * float(sigma.max())))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-offsets[None] ** 2 / (2 * sigma.clamp_min(1e-3)[:, None] ** 2))
    kernel = kernel / kernel.sum(dim=1, keepdim=True)  # (B, K)
    b, c, h, w = images.shape
    weights = kernel.repeat_interleave(c, dim=0)[:, None]  # (B * C, 1, K)
    x = nn.functional.pad(images.reshape(1, b * c, h, w), (radius, radius, radius, radius), mode="replicate")
    x = nn.functional.conv2d(x, weights[:, :, None, :], groups=b * c)
    x = nn.functional.conv2d(x, weights[:, :, :, None], groups=b * c)
    return x.reshape(b, c, h, w)


def augment(images: torch.Tensor, augmentation: Augmentation, generator: torch.Generator | None = None) -> torch.Tensor:
    """Corrupted copies (B, C, H, W) in [0, 1] of images (B, C, H, W) in [0, 1] (step 2); random
    numbers from generator on the CPU."""
    b = images.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return (low + (high - low) * torch.rand(b, generator=generator)).to(images.device)

    chosen = (torch.rand(b, generator=generator) < augmentation.probability).to(images.device)
    offset, gain = uniform(0, augmentation.max_offset), uniform(augmentation.min_gain, 1.0)
    sigma, noise_sd = uniform(0, augmentation.max_blur_sigma), uniform(0, augmentation.max_noise_sd)
    x = offset[:, None, None, None] + gain[:, None, None, None] * images
    x = gaussian_blur(x, sigma)
    x = x + noise_sd[:, None, None, None] * torch.randn(images.shape, generator=generator).to(images.device)
    return torch.where(chosen[:, None, None, None], x.clamp(0, 1), images)


def head_loss(spec: FactorSpec, output: torch.Tensor, labels: torch.Tensor,
              fold_values: torch.Tensor | None = None) -> torch.Tensor:
    """Loss of one head (step 3): output (B, n_outputs), labels (B,) int64 label indices;
    fold_values (B,) the labels of spec.fold_by, for folded_angle only."""
    if spec.kind == "categorical":
        return nn.functional.cross_entropy(output, labels)
    if spec.kind == "ordinal":
        return nn.functional.mse_loss(output[:, 0], ordinal_target(spec, labels))
    pairs = output.reshape(output.shape[0], len(spec.periods), 2)[torch.arange(output.shape[0]), fold_values]
    return nn.functional.mse_loss(pairs, folded_angle_target(spec, labels, fold_values), reduction="sum") / len(labels)


def probe_loss(probe: FactorProbe, images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Sum of the head losses on images (B, C, S, S) with labels factors (B, F) (step 3)."""
    outputs = probe(images)
    columns = {name: k for k, name in enumerate(probe.config.factor_names)}
    total = images.new_zeros(())
    for spec in probe.config.factors:
        fold = factors[:, columns[spec.fold_by]] if spec.fold_by else None
        total = total + head_loss(spec, outputs[spec.name], factors[:, columns[spec.name]], fold)
    return total


def held_out_accuracy(probe: FactorProbe, images: torch.Tensor, factors: torch.Tensor) -> dict[str, dict[str, float]]:
    """Per factor (step 4): accuracy and chance, and within_one and mae_steps for ordinal and
    folded_angle factors, of the probe on images (N, C, S, S) with labels factors (N, F)."""
    names = probe.config.factor_names
    fold_labels = {spec.fold_by: factors[:, names.index(spec.fold_by)] for spec in probe.config.factors if spec.fold_by}
    readings = probe.read(images, fold_labels=fold_labels)
    scores: dict[str, dict[str, float]] = {}
    for k, spec in enumerate(probe.config.factors):
        truth, guess = factors[:, k], readings[spec.name].labels
        if spec.kind == "folded_angle":
            periods = torch.tensor(spec.periods)[fold_labels[spec.fold_by]]
            error = (guess - truth % periods) % periods
            steps = torch.minimum(error, periods - error).float()
            chance = float((1.0 / periods.float()).mean())
        else:
            steps = (guess - truth).abs().float()
            chance = 1.0 / spec.size
        row = {"accuracy": float((steps == 0).float().mean()), "chance": chance}
        if spec.kind != "categorical":  # label distances mean nothing between categories
            row |= {"within_one": float((steps <= 1).float().mean()), "mae_steps": float(steps.mean())}
        scores[spec.name] = {key: round(value, 4) for key, value in row.items()}
    return scores


def reading_variance(reading: FactorReading) -> float:
    """Total variance of a reading's features phi (N, d): the sum of the per-dimension
    population variances."""
    return float(reading.features.var(dim=0, unbiased=False).sum())


def reading_spread(probe: FactorProbe, images: torch.Tensor, augmentation: Augmentation,
                   generator: torch.Generator) -> tuple[dict[str, float], dict[str, float]]:
    """(reference_variance, jitter) per factor (step 5) from clean renders images (N, C, S, S):
    the total variance of phi over them, and sqrt(E |phi(a1) - phi(a2)|^2 / 2 / reference) for
    two augmented copies a1, a2 of each image (every copy augmented: probability 1)."""
    always = Augmentation(**(asdict(augmentation) | {"probability": 1.0}))
    clean = probe.read(images)
    first, second = probe.read(augment(images, always, generator)), probe.read(augment(images, always, generator))
    reference, jitter = {}, {}
    for name, reading in clean.items():
        reference[name] = reading_variance(reading)
        noise = float(((first[name].features - second[name].features) ** 2).sum(dim=1).mean()) / 2
        jitter[name] = math.sqrt(noise / reference[name]) if reference[name] > 0 else 0.0
    return ({k: round(v, 6) for k, v in reference.items()}, {k: round(v, 4) for k, v in jitter.items()})


def train_probe(config: ProbeConfig, settings: ProbeTrainSettings, progress: bool = True) -> tuple[FactorProbe, dict]:
    """Train a probe from scratch (steps 1-5); returns (probe in eval mode with its
    reference_variance and jitter filled in, training record with settings, steps_done,
    minutes (wall clock) and cpu_minutes (process CPU time) of the training loop, held_out
    accuracies clean and augmented)."""
    if settings.threads:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    dataset = probe_dataset(config.dataset)
    if dataset.channels != config.channels:
        raise ValueError(f"{config.dataset} images have {dataset.channels} channels, the config says {config.channels}")
    generator = torch.Generator().manual_seed(settings.seed)
    probe = FactorProbe(config)
    optimiser = torch.optim.AdamW(probe.parameters(), lr=settings.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, settings.steps) / settings.steps)))
    start, cpu_start, steps_done = time.monotonic(), time.process_time(), 0
    probe.train()
    for step in range(1, settings.steps + 1):
        images, factors = labelled_images(dataset, settings.batch_size, config.image_size, generator)
        loss = probe_loss(probe, augment(images, settings.augmentation, generator), factors)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        steps_done = step
        if progress and (step % 250 == 0 or step == 1):
            print(f"factor-probe step {step}/{settings.steps} loss {loss.item():.4f} "
                  f"({time.monotonic() - start:.0f} s)", file=sys.stderr, flush=True)
        if time.monotonic() - start > 60 * settings.max_minutes:
            break
    minutes, cpu_minutes = (time.monotonic() - start) / 60, (time.process_time() - cpu_start) / 60
    probe.eval()
    held_generator = torch.Generator().manual_seed(settings.seed + 1)
    images, factors = labelled_images(dataset, settings.held_out, config.image_size, held_generator)
    augmented = augment(images, settings.augmentation, held_generator)
    probe.config.reference_variance, probe.config.jitter = reading_spread(probe, images, settings.augmentation,
                                                                          held_generator)
    record = {
        "settings": asdict(settings),
        "steps_done": steps_done,
        "images_seen": steps_done * settings.batch_size,
        "minutes": round(minutes, 2),
        "cpu_minutes": round(cpu_minutes, 2),
        "threads": torch.get_num_threads(),
        "held_out": {"n_images": settings.held_out, "seed": settings.seed + 1,
                     "clean": held_out_accuracy(probe, images, factors),
                     "augmented": held_out_accuracy(probe, augmented, factors)},
    }
    return probe, record


def format_accuracy(record: dict) -> str:
    """The held-out accuracies of a training record as a text table."""
    held = record["held_out"]
    lines = [f"{'factor':<12} {'clean acc':>9} {'+-1':>6} {'mae':>6} {'aug acc':>8} {'+-1':>6} {'chance':>7}"]
    for name, clean in held["clean"].items():
        aug = held["augmented"][name]
        def cell(row: dict, key: str, width: int, digits: int = 3) -> str:
            return f"{row[key]:>{width}.{digits}f}" if key in row else f"{'-':>{width}}"

        lines.append(f"{name:<12} {cell(clean, 'accuracy', 9)} {cell(clean, 'within_one', 6)} "
                     f"{cell(clean, 'mae_steps', 6, 2)} {cell(aug, 'accuracy', 8)} {cell(aug, 'within_one', 6)} "
                     f"{clean['chance']:>7.3f}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Command line: train a probe, write it to --out, print its held-out accuracy."""
    defaults = ProbeTrainSettings()
    parser = argparse.ArgumentParser(prog="python -m tools.evaluation.factor_probe train",
                                     description="train a factor probe on procedural labelled renders")
    parser.add_argument("--dataset", default="dsprites", help="dsprites or shapes3d (default dsprites)")
    parser.add_argument("--image-size", type=int, default=32, help="H = W of the images it reads; divides 64 (default 32)")
    parser.add_argument("--out", type=Path, required=True, help="folder for model.safetensors and config.json")
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--max-minutes", type=float, default=defaults.max_minutes)
    parser.add_argument("--threads", type=int, default=defaults.threads, help="torch CPU threads (default 1)")
    parser.add_argument("--held-out", type=int, default=defaults.held_out)
    args = parser.parse_args(argv)
    dataset = probe_dataset(args.dataset)
    config = ProbeConfig(dataset=args.dataset, image_size=args.image_size, channels=dataset.channels)
    settings = ProbeTrainSettings(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                                  max_minutes=args.max_minutes, threads=args.threads, held_out=args.held_out)
    probe, record = train_probe(config, settings)
    record["command"] = shlex.join(["python", "-m", "tools.evaluation.factor_probe", "train", *argv])
    save_probe(probe, args.out, record)
    print(format_accuracy(record))
    print(f"{record['steps_done']} steps in {record['minutes']} min ({record['cpu_minutes']} CPU min); "
          f"written to {args.out}")
    return 0
