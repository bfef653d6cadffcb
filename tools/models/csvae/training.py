"""Training a CSVAE (tools/models/csvae/model.py) on labelled images, with a wall-clock budget, a progress bar
and periodic checkpoints, and the binary attributes each dataset is trained on.

Attributes (y in {0, 1}^k) come from the labels:

| dataset  | attributes                                                                          |
|----------|-------------------------------------------------------------------------------------|
| dsprites | square, ellipse, heart (shape); large (scale index >= 3 of 0-5); left (posX < 0.5);  |
|          | top (posY < 0.5, the upper half of the image)                                       |
| shapes3d | red_object (object hue 0); blue_wall (wall hue 0.6 or 0.7); green_floor (floor hue  |
|          | 0.3 or 0.4); large_object (scale index >= 4 of 0-7); sphere (shape);                |
|          | orientation_positive (orientation > 0 degrees: the floor-wall edge rises to the     |
|          | right)                                                                              |
| digits   | digit_0 ... digit_9, one per class (one-hot)                                        |
| FOLDER   | one per class sub-folder, named after it (one-hot); needs at least two classes      |

Six attributes on dSprites and 3DShapes follow LatentExplainer's CSVAE set-up (six labels).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from tools.errors import UserError
from tools.models.csvae.model import CSVAE, CSVAEConfig, adversary_loss, csvae_loss, save_csvae

PROCEDURAL_DATASETS: tuple[str, ...] = ("dsprites", "shapes3d", "digits")
DSPRITES_ATTRIBUTES: tuple[str, ...] = ("square", "ellipse", "heart", "large", "left", "top")
SHAPES3D_ATTRIBUTES: tuple[str, ...] = (
    "red_object", "blue_wall", "green_floor", "large_object", "sphere", "orientation_positive")

Sampler = Callable[[int, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class LabelledSource:
    """A dataset as the trainer sees it. sample(n, generator) -> images (n, C, S, S) float32
    in [0, 1] and attributes (n, k) float32 in {0, 1}. size: the number of distinct images,
    None for a procedural grid sampled on the fly."""

    name: str
    image_channels: int
    image_size: int
    attributes: tuple[str, ...]
    sample: Sampler
    size: int | None = None
    factor_names: tuple[str, ...] = ()


def dsprites_attributes(factors: torch.Tensor) -> torch.Tensor:
    """dSprites factor indices (B, 5) -> attributes (B, 6) in DSPRITES_ATTRIBUTES order."""
    shape, scale, _, pos_x, pos_y = factors.long().unbind(1)
    columns = [shape == 0, shape == 1, shape == 2, scale >= 3, pos_x < 16, pos_y < 16]
    return torch.stack(columns, 1).float()


def shapes3d_attributes(factors: torch.Tensor) -> torch.Tensor:
    """3DShapes factor indices (B, 6) -> attributes (B, 6) in SHAPES3D_ATTRIBUTES order."""
    floor, wall, obj, scale, shape, orientation = factors.long().unbind(1)
    columns = [obj == 0, (wall == 6) | (wall == 7), (floor == 3) | (floor == 4), scale >= 4, shape == 2, orientation >= 8]
    return torch.stack(columns, 1).float()


def _draw(count: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """n indices into `count` items: without replacement while n <= count."""
    if n <= count:
        return torch.randperm(count, generator=generator)[:n]
    return torch.randint(count, (n,), generator=generator)


def labelled_source(dataset: str, image_size: int = 64) -> LabelledSource:
    """The LabelledSource for dsprites, shapes3d, digits or a folder of class sub-folders.

    Raises UserError for an unknown name, an image size the dataset lacks, or a folder without
    at least two classes."""
    if dataset in ("dsprites", "shapes3d") and image_size != 64:
        raise UserError(f"--dataset {dataset} renders 64x64 images; use --image-size 64, not {image_size}")
    if dataset == "dsprites":
        from tools.data import dsprites

        def sample_dsprites(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
            batch = dsprites.sample_batch(n, generator)
            return batch.images, dsprites_attributes(batch.factors)

        return LabelledSource("dsprites", 1, 64, DSPRITES_ATTRIBUTES, sample_dsprites, None, dsprites.FACTOR_NAMES)
    if dataset == "shapes3d":
        from tools.data import shapes3d

        def sample_shapes3d(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
            batch = shapes3d.sample_batch(n, generator)
            return batch.images, shapes3d_attributes(batch.factors)

        return LabelledSource("shapes3d", 3, 64, SHAPES3D_ATTRIBUTES, sample_shapes3d, None, shapes3d.FACTOR_NAMES)
    if dataset == "digits":
        from tools.data.digits import CLASS_NAMES, load_digits_images

        data = load_digits_images(image_size)
        one_hot = torch.nn.functional.one_hot(data.labels, len(CLASS_NAMES)).float()

        def sample_digits(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
            index = _draw(len(data.labels), n, generator)
            return data.images[index], one_hot[index]

        names = tuple(f"digit_{name}" for name in CLASS_NAMES)
        return LabelledSource("digits", 1, image_size, names, sample_digits, len(data.labels), ("digit",))
    if not Path(dataset).expanduser().is_dir():
        raise UserError(f"--dataset {dataset!r} is none of {', '.join(PROCEDURAL_DATASETS)} and not a folder of images")
    from tools.data.image_folder import load_image_folder

    folder = load_image_folder(dataset, size=image_size, channels=3)
    if folder.labels is None or len(folder.class_names) < 2:
        raise UserError(
            f"a CSVAE needs labelled images: put the images of {dataset!r} in at least two class sub-folders")
    folder_one_hot = torch.nn.functional.one_hot(folder.labels, len(folder.class_names)).float()

    def sample_folder(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        index = _draw(len(folder), n, generator)
        return folder.images[index].float() / 255.0, folder_one_hot[index]

    return LabelledSource(str(Path(dataset).expanduser().resolve()), 3, image_size, folder.class_names,
                          sample_folder, len(folder), ("class",))


@dataclass
class CSVAETrainSettings:
    """steps: optimiser steps (stops earlier when max_minutes runs out); batch_size: images per
    step; lr / adversary_lr: Adam learning rates of the encoder-decoder and of q_delta(y | z);
    seed: seeds data and initialisation; save_every_minutes: checkpoint cadence; fit_images:
    held-out images for W_move and the anchors (fewer for a small finite dataset); threads:
    torch CPU threads (0 leaves torch's default); command: how the run was started (recorded)."""

    steps: int = 100_000
    batch_size: int = 64
    lr: float = 1e-3
    adversary_lr: float = 1e-3
    seed: int = 0
    max_minutes: float = 15.0
    save_every_minutes: float = 5.0
    fit_images: int = 4096
    threads: int = 0
    device: str = "cpu"
    command: str = ""
    extra: dict = field(default_factory=dict)


def _fit_and_save(model: CSVAE, source: LabelledSource, settings: CSVAETrainSettings, out: str | Path, record: dict) -> Path:
    """W_move and anchors from held-out images (generator seed + 1), then a checkpoint."""
    n = settings.fit_images if source.size is None else min(settings.fit_images, source.size)
    images, attributes = source.sample(n, torch.Generator().manual_seed(settings.seed + 1))
    model.fit_directions_and_anchors(images, attributes)
    return save_csvae(model, out, record)


def train_csvae(source: LabelledSource, config: CSVAEConfig, settings: CSVAETrainSettings, out: str | Path,
                progress: bool = True) -> Path:
    """Train from scratch and write a checkpoint folder to `out`; returns the folder.

    Each step: 1. a fresh batch (x, y); 2. the encoder-decoder takes an Adam step on the CSVAE
    objective (tools/csvae.csvae_loss), the adversary's parameters excluded; 3. the adversary
    takes a step on -log q_delta(y | z) with z detached. Every save first fits W_move and the
    anchors on held-out images.
    """
    from tqdm import tqdm

    if settings.threads:
        torch.set_num_threads(settings.threads)
    if source.size is not None:
        config.anchor_count = min(config.anchor_count, source.size)
    torch.manual_seed(settings.seed)
    data_gen = torch.Generator().manual_seed(settings.seed)
    device = torch.device(settings.device)
    model = CSVAE(config).to(device).to(memory_format=torch.channels_last)  # faster convolutions on CPU
    adversary_params = list(model.adversary.parameters())
    adversary_ids = {id(p) for p in adversary_params}
    optimiser = torch.optim.Adam([p for p in model.parameters() if id(p) not in adversary_ids], lr=settings.lr)
    adversary_optimiser = torch.optim.Adam(adversary_params, lr=settings.adversary_lr)

    start = last_save = time.monotonic()
    record: dict = {"settings": vars(settings).copy(), "dataset": source.name, "steps_done": 0, "images_seen": 0}
    bar = tqdm(total=settings.steps, disable=not progress, desc="train csvae", unit="step")
    for step in range(1, settings.steps + 1):
        x, y = source.sample(settings.batch_size, data_gen)
        x, y = x.to(device).contiguous(memory_format=torch.channels_last), y.to(device)
        result = model(x, y)
        terms = csvae_loss(model, x, y, result)
        optimiser.zero_grad(set_to_none=True)
        terms.loss.backward()
        optimiser.step()
        adversary_optimiser.zero_grad(set_to_none=True)
        fit_y = adversary_loss(model, result.z, y)
        fit_y.backward()
        adversary_optimiser.step()

        record.update(steps_done=step, images_seen=step * settings.batch_size)
        if step % 20 == 0 or step == settings.steps:
            record["last_terms"] = {
                "loss": round(terms.loss.item(), 3), "reconstruction": round(terms.reconstruction.item(), 3),
                "kl_w": round(terms.kl_w.item(), 3), "kl_z": round(terms.kl_z.item(), 3),
                "adversary_negentropy": round(terms.adversary_negentropy.item(), 4),
                "adversary_nll": round(fit_y.item(), 4),
            }
            bar.set_postfix({k: record["last_terms"][k] for k in ("reconstruction", "kl_w", "kl_z", "adversary_nll")},
                            refresh=False)
        bar.update(1)
        elapsed = time.monotonic() - start
        if time.monotonic() - last_save > settings.save_every_minutes * 60:
            record["minutes"] = round(elapsed / 60, 2)
            _fit_and_save(model, source, settings, out, record)
            last_save = time.monotonic()
        if elapsed > settings.max_minutes * 60:
            break
    bar.close()
    record["minutes"] = round((time.monotonic() - start) / 60, 2)
    return _fit_and_save(model, source, settings, out, record)
