"""A factor probe: a small CNN that reads every labelled factor of a procedural dataset from an
image, so that the images a decoder-only model draws can be labelled (tools/evaluation/probe_ground_truth.py).

Architecture (`FactorProbe`), for images (B, C, S, S) in [0, 1] with S a multiple of 8:
1. Two coordinate channels (x and y in [-1, 1], CoordConv of Liu et al. 2018) are appended, so
   position is easy to regress: (B, C + 2, S, S).
2. A 3x3 convolution at full resolution, then three stride-2 3x3 convolutions (the four
   `widths`; GroupNorm with 4 groups and ReLU after each; GroupNorm, not BatchNorm, so a
   reading never depends on the rest of the batch): (B, widths[-1], S / 8, S / 8).
3. Adaptive average pooling to 4x4, flatten, one hidden layer of `hidden` units (ReLU).
4. One linear head per factor (`FactorSpec`):
   - categorical (shape, hues): `size` logits, trained with cross-entropy;
   - ordinal (position, scale, 3DShapes orientation): one number, the label index standardised
     as (index / (size - 1) - 1/2) / sqrt(1/12) (unit variance for uniform labels), trained
     with squared error; read back as index / (size - 1), in [0, 1];
   - folded_angle (dSprites orientation): a (cos, sin) pair per value of the factor `fold_by`
     (shape) of the angle 2 pi (index mod P) / P, P the shape's rotational period in label steps
     (a square repeats every 10 of the 40 steps, an ellipse every 20, a heart every 40; see
     tools/data/labelled.py ORIENTATION_PERIOD), trained with squared error on the true shape's
     pair; read with the pair of the predicted shape. No image can tell a square at 0 degrees
     from one at 90, so the unfolded angle is not a readable label.
With the default widths (16, 32, 64, 64) and hidden 128 it has 194k parameters (dSprites heads).
Why this shape: the coordinate channels and the flatten (no global pooling) keep where things
are; four convolutions see the whole 32x32 image; at widths (8, 16, 32, 64) a step costs half as
much but shape and position were read worse in the same CPU time; GroupNorm read orientation
much better for 25% more time per step (both measured on 600-step runs, 2026-11-22).

Readings (`FactorProbe.read`): per factor a feature vector phi (B, d) and a label (B,) int:
softmax probabilities (d = size) and their argmax; the [0, 1] value (d = 1) and its rounded
index; the unit (cos, sin) pair (d = 2) and its folded index. The ground truth measures how
much phi moves along a traversal against `reference_variance`, the total variance of phi over
clean labelled renders (the data's own spread, stored in the probe's config.json).

Training images are rendered at 64x64 and average-pooled to the probe's size, exactly like a
DDPM's training images (tools/data/procedural.py `dataset_batch`). Training and the command line
(`python -m tools.evaluation.factor_probe train ...`) are in tools/evaluation/factor_probe/training.py.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from tools.errors import UserError

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FAMILY = "factor-probe"
PROBES_FOLDER = Path(__file__).resolve().parents[2] / "models" / "builtin" / "probes"
"""Shipped probes live in PROBES_FOLDER / f"{dataset}_{image_size}"."""

FactorKind = Literal["categorical", "ordinal", "folded_angle"]
_UNIFORM_SD = math.sqrt(1 / 12)


@dataclass(frozen=True)
class FactorSpec:
    """One labelled factor: name, size (number of label values 0..size-1), kind (module
    docstring, step 4). folded_angle only: fold_by, the categorical factor whose value sets the
    period, and periods, the period in label steps for each of its values."""

    name: str
    size: int
    kind: FactorKind
    fold_by: str | None = None
    periods: tuple[int, ...] = ()

    @property
    def n_outputs(self) -> int:
        """Head outputs: size logits, 1 value, or a (cos, sin) pair per fold_by value."""
        return {"categorical": self.size, "ordinal": 1, "folded_angle": 2 * len(self.periods)}[self.kind]

    @property
    def feature_dim(self) -> int:
        """Dimension d of the reading phi (module docstring)."""
        return {"categorical": self.size, "ordinal": 1, "folded_angle": 2}[self.kind]

    @classmethod
    def from_dict(cls, data: dict) -> FactorSpec:
        return cls(**{**data, "periods": tuple(data.get("periods", ()))})


@dataclass(frozen=True)
class ProbeDataset:
    """A procedural labelled dataset: channels of its images, its factors (in label-column
    order), and render(factors (B, F) int64) -> images (B, channels, 64, 64) in [0, 1]."""

    name: str
    channels: int
    factors: tuple[FactorSpec, ...]
    sample_factors: Callable[[int, torch.Generator | None], torch.Tensor]
    render: Callable[[torch.Tensor], torch.Tensor]


PROBE_UNORDERED: dict[str, tuple[str, ...]] = {"shapes3d": ("floor_hue", "wall_hue", "object_hue")}
"""Factors the probe reads as classes although the ground truth treats them as ordered: hues,
whose label order wraps around the colour circle."""


def probe_dataset(name: str) -> ProbeDataset:
    """The probe's view of the labelled dataset called name (tools/data/labelled.py): a
    folded factor is read as a folded angle, a categorical (or PROBE_UNORDERED) one as classes,
    the rest as ordinal values; UserError naming the known datasets otherwise."""
    from tools.data.labelled import LABELLED_DATASETS, labelled_dataset

    if name not in LABELLED_DATASETS:
        raise UserError(f"no factor probe for dataset {name!r}; known: {', '.join(LABELLED_DATASETS)}")
    data = labelled_dataset(name)
    folds = {fold.factor: fold for fold in data.folds}
    unordered = set(data.categorical) | set(PROBE_UNORDERED.get(name, ()))

    def spec(factor: str, size: int) -> FactorSpec:
        if factor in folds:
            return FactorSpec(factor, size, "folded_angle", folds[factor].given, folds[factor].periods)
        return FactorSpec(factor, size, "categorical" if factor in unordered else "ordinal")

    factors = tuple(spec(f, size) for f, size in zip(data.factor_names, data.factor_sizes, strict=True))
    return ProbeDataset(name, data.image_channels, factors, data.sample_factors, data.render)


def labelled_images(dataset: ProbeDataset, n: int, image_size: int,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (n, C, image_size, image_size) in [0, 1], factors (n, F) int64): uniform labels,
    rendered at 64x64 and average-pooled by 64 / image_size (as tools/models/ddpm/training.py does)."""
    if image_size < 8 or 64 % image_size:
        raise UserError(f"image_size must divide 64 and be at least 8, got {image_size}")
    factors = dataset.sample_factors(n, generator)
    images = dataset.render(factors)
    return nn.functional.avg_pool2d(images, 64 // image_size), factors


@dataclass
class ProbeConfig:
    """Everything needed to rebuild a probe. dataset: a tools/data/labelled.py name; image_size /
    channels: the H = W and C of the images it reads; widths: the four convolution widths;
    hidden: units of the hidden layer; factors: the heads; reference_variance: per factor, the
    total variance of its reading phi over clean labelled renders (filled after training);
    jitter: per factor, sqrt(variance of phi between two augmented copies of one render / 2 /
    reference_variance), the probe's own noise in units of the data's spread."""

    dataset: str = "dsprites"
    image_size: int = 32
    channels: int = 1
    widths: tuple[int, ...] = (16, 32, 64, 64)
    hidden: int = 128
    factors: tuple[FactorSpec, ...] = ()
    reference_variance: dict[str, float] = field(default_factory=dict)
    jitter: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.widths = tuple(int(w) for w in self.widths)
        self.factors = tuple(f if isinstance(f, FactorSpec) else FactorSpec.from_dict(f) for f in self.factors)
        if len(self.widths) != 4:
            raise ValueError(f"widths needs four convolution widths, got {self.widths}")
        if self.image_size < 8 or self.image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8, got {self.image_size}")
        if not self.factors:
            self.factors = probe_dataset(self.dataset).factors

    @property
    def factor_names(self) -> list[str]:
        return [f.name for f in self.factors]

    def to_dict(self) -> dict:
        data = asdict(self)
        data["widths"] = list(self.widths)
        data["factors"] = [asdict(f) | {"periods": list(f.periods)} for f in self.factors]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ProbeConfig:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class FactorReading:
    """What the probe reads for one factor from B images: features phi (B, d) (module
    docstring) and labels (B,) int64 label indices (folded for folded_angle)."""

    features: torch.Tensor
    labels: torch.Tensor


class FactorProbe(nn.Module):
    """The probe CNN (module docstring): images (B, C, S, S) in [0, 1] -> raw head outputs."""

    def __init__(self, config: ProbeConfig):
        super().__init__()
        self.config = config
        w = config.widths
        layers: list[nn.Module] = [nn.Conv2d(config.channels + 2, w[0], 3, padding=1), nn.GroupNorm(4, w[0]), nn.ReLU()]
        for c_in, c_out in zip(w[:-1], w[1:], strict=True):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.GroupNorm(4, c_out), nn.ReLU()]
        layers += [nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(16 * w[-1], config.hidden), nn.ReLU()]
        self.trunk = nn.Sequential(*layers)
        self.heads = nn.ModuleDict({f.name: nn.Linear(config.hidden, f.n_outputs) for f in config.factors})
        axis = torch.linspace(-1, 1, config.image_size)
        rows, cols = torch.meshgrid(axis, axis, indexing="ij")
        self.register_buffer("coords", torch.stack([cols, rows])[None], persistent=False)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """images (B, C, S, S) in [0, 1] -> {factor name: head output (B, n_outputs)}."""
        expected = (self.config.channels, self.config.image_size, self.config.image_size)
        if images.ndim != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"the probe reads images (B, {', '.join(map(str, expected))}), got {tuple(images.shape)}")
        x = torch.cat([images, self.coords.expand(images.shape[0], -1, -1, -1)], dim=1)
        hidden = self.trunk(x)
        return {name: head(hidden) for name, head in self.heads.items()}

    @torch.no_grad()
    def read(self, images: torch.Tensor, batch_size: int = 512,
             fold_labels: dict[str, torch.Tensor] | None = None) -> dict[str, FactorReading]:
        """Readings per factor (module docstring) of images (N, C, S, S) in [0, 1], in
        batches of batch_size, on the probe's device; results on the CPU. fold_labels: known
        labels (N,) of a fold_by factor (e.g. the true shape) to fold angles with, instead of
        the probe's own reading of it."""
        device = next(self.parameters()).device
        parts = [self(chunk.to(device, torch.float32)) for chunk in images.split(batch_size)]
        outputs = {name: torch.cat([p[name] for p in parts]).float().cpu() for name in self.heads}
        readings: dict[str, FactorReading] = {}
        for spec in sorted(self.config.factors, key=lambda f: f.kind == "folded_angle"):
            out = outputs[spec.name]
            if spec.kind == "categorical":
                readings[spec.name] = FactorReading(out.softmax(dim=1), out.argmax(dim=1))
            elif spec.kind == "ordinal":
                value = (0.5 + _UNIFORM_SD * out).clamp(0, 1)
                readings[spec.name] = FactorReading(value, (value[:, 0] * (spec.size - 1)).round().long())
            else:
                fold = (fold_labels or {}).get(spec.fold_by, readings[spec.fold_by].labels)
                readings[spec.name] = folded_angle_reading(spec, out, fold.long().cpu())
        return {f.name: readings[f.name] for f in self.config.factors}


def folded_angle_reading(spec: FactorSpec, outputs: torch.Tensor, fold_values: torch.Tensor) -> FactorReading:
    """The (cos, sin) pair (B, 2) of each row's fold_by value, normalised to unit length, and its
    folded label round(atan2(sin, cos) P / (2 pi)) mod P (B,), from head outputs (B, 2 * K)."""
    pairs = outputs.reshape(outputs.shape[0], len(spec.periods), 2)
    pair = pairs[torch.arange(outputs.shape[0]), fold_values]
    unit = pair / pair.norm(dim=1, keepdim=True).clamp_min(1e-6)
    periods = torch.tensor(spec.periods)[fold_values]
    angle = torch.atan2(unit[:, 1], unit[:, 0]) % (2 * math.pi)
    return FactorReading(unit, (angle * periods / (2 * math.pi)).round().long() % periods)


def folded_angle_target(spec: FactorSpec, labels: torch.Tensor, fold_values: torch.Tensor) -> torch.Tensor:
    """(cos, sin) (B, 2) of the folded angle 2 pi (label mod P) / P, P the period of each row's
    fold_by value."""
    periods = torch.tensor(spec.periods, device=labels.device)[fold_values]
    angle = 2 * math.pi * (labels % periods) / periods
    return torch.stack([angle.cos(), angle.sin()], dim=1)


def ordinal_target(spec: FactorSpec, labels: torch.Tensor) -> torch.Tensor:
    """The standardised regression target (B,) of ordinal labels (B,): (index / (size - 1) -
    1/2) / sqrt(1/12), unit variance for uniform labels (the inverse is in FactorProbe.read)."""
    return (labels.float() / (spec.size - 1) - 0.5) / _UNIFORM_SD


def save_probe(probe: FactorProbe, folder: str | Path, training: dict | None = None) -> Path:
    """Write model.safetensors and config.json ({family, model: ProbeConfig, training}) into
    folder (created if needed), both readable by everyone (0644; the sandbox reads as another user)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in probe.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE))
    record = {"family": FAMILY, "model": probe.config.to_dict(), "training": training or {}}
    (folder / CONFIG_FILE).write_text(json.dumps(record, indent=2) + "\n")
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        (folder / name).chmod(0o644)
    return folder


def load_probe(folder: str | Path, device: str | torch.device = "cpu") -> FactorProbe:
    """The probe of a folder written by save_probe, in eval mode on device; its config.json's
    training record is kept as probe.training_record. UserError when a file is missing."""
    from safetensors.torch import load_file

    folder = Path(folder)
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        if not (folder / name).is_file():
            raise UserError(f"no {name} in factor probe folder {folder}")
    record = json.loads((folder / CONFIG_FILE).read_text())
    if record.get("family") != FAMILY:
        raise UserError(f"{folder} is not a factor probe (family {record.get('family')!r}, expected {FAMILY!r})")
    probe = FactorProbe(ProbeConfig.from_dict(record["model"]))
    probe.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
    probe.training_record = record.get("training", {})
    return probe.to(device).eval()


def builtin_probe_folder(dataset: str, image_size: int) -> Path:
    """Where the shipped probe for dataset at image_size lives (it may not exist)."""
    return PROBES_FOLDER / f"{dataset}_{image_size}"


def load_builtin_probe(dataset: str, image_size: int, channels: int, device: str | torch.device = "cpu") -> FactorProbe:
    """The shipped probe for a model's dataset and image size (H = W = image_size, C = channels);
    UserError naming the command that trains one when none is shipped or it does not fit."""
    folder = builtin_probe_folder(dataset, image_size)
    command = f"python -m tools.evaluation.factor_probe train --dataset {dataset} --image-size {image_size} --out FOLDER"
    if not (folder / CONFIG_FILE).is_file():
        raise UserError(f"no factor probe is shipped for {dataset} at {image_size}x{image_size}; train one with `{command}`")
    probe = load_probe(folder, device)
    if probe.config.channels != channels:
        raise UserError(f"the shipped {dataset} probe reads {probe.config.channels}-channel images, the model draws "
                        f"{channels}; train one with `{command}`")
    return probe
