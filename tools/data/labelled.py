"""The labelled procedural datasets whose factors the ground truth is measured against, as data.

A `LabelledDataset` says what the estimator in tools/evaluation/ground_truth.py needs to know about a
dataset: its factor names and cardinalities, how to draw and render a seeded labelled sample,
which factors are categories (SAP scores them by classification), and which factors must be
folded by a symmetry of the renderer before their information can be measured.

| dataset  | factors (cardinality)                                             | folds           |
|----------|-------------------------------------------------------------------|-----------------|
| dsprites | shape 3, scale 6, orientation 40, posX 32, posY 32                | orientation by  |
|          | (Matthey et al. 2017; tools/data/dsprites.py)                          | shape symmetry  |
| shapes3d | floor_hue 10, wall_hue 10, object_hue 10, scale 8, shape 4,       | none            |
|          | orientation 15 (Burgess & Kim 2018; tools/data/shapes3d.py)            |                 |

dSprites' orientation is folded because a square at angle a and a + 90 degrees (an ellipse at
a and a + 180 degrees) render to the same image (ORIENTATION_PERIOD). 3DShapes needs no fold:
its orientation turns the camera around the whole room within [-30, 30] degrees, so even a
sphere or an upright cylinder shows it in the slant of the floor-wall edge, and a cube's
90-degree symmetry lies outside that range.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tools.errors import UserError

if TYPE_CHECKING:  # torch is imported when a sample is drawn, so the CLI can read the names cheaply
    import torch

# Orientation steps after which each dSprites shape renders the same image again (40 steps =
# 360 deg): square 90 deg, ellipse 180 deg, heart only 360 deg.
ORIENTATION_PERIOD: dict[str, int] = {"square": 10, "ellipse": 20, "heart": 40}


@dataclass(frozen=True)
class FactorFold:
    """Factor `factor` is identifiable only modulo a period that depends on factor `given`:
    periods[v] for given value index v. The estimator measures I(z; factor mod period | given)."""

    factor: str
    given: str
    periods: tuple[int, ...]


@dataclass(frozen=True)
class LabelledDataset:
    """A labelled dataset as the ground-truth estimator sees it.

    name: as in a checkpoint's config ("dsprites"). factor_names / factor_sizes: the factors,
    in the column order of factor-index arrays (N, F), and how many values each takes.
    categorical: factors without an order (scored by classification in SAP). folds: symmetry
    folds (FactorFold). sample_factors(n, generator) -> (n, F) int64 uniform factor indices;
    render(factors (B, F)) -> images (B, C, 64, 64) in [0, 1] on the factors' device.
    image_channels: C."""

    name: str
    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]
    categorical: tuple[str, ...]
    sample_factors: Callable[[int, torch.Generator | None], torch.Tensor]
    render: Callable[[torch.Tensor], torch.Tensor]
    image_channels: int
    folds: tuple[FactorFold, ...] = field(default=())

    def __post_init__(self) -> None:
        if len(self.factor_names) != len(self.factor_sizes):
            raise ValueError(f"{self.name}: {len(self.factor_names)} factor names for {len(self.factor_sizes)} sizes")
        for fold in self.folds:
            given = self.factor_names.index(fold.given)
            if len(fold.periods) != self.factor_sizes[given]:
                raise ValueError(f"{self.name}: fold of {fold.factor} needs one period per value of {fold.given}")


def _dsprites() -> LabelledDataset:
    from tools.data import dsprites

    periods = tuple(ORIENTATION_PERIOD[name] for name in dsprites.SHAPE_NAMES)
    return LabelledDataset(
        name="dsprites",
        factor_names=dsprites.FACTOR_NAMES,
        factor_sizes=dsprites.FACTOR_SIZES,
        categorical=("shape",),
        sample_factors=dsprites.sample_factors,
        render=dsprites.render,
        image_channels=1,
        folds=(FactorFold(factor="orientation", given="shape", periods=periods),),
    )


def _shapes3d() -> LabelledDataset:
    from tools.data import shapes3d

    return LabelledDataset(
        name="shapes3d",
        factor_names=shapes3d.FACTOR_NAMES,
        factor_sizes=shapes3d.FACTOR_SIZES,
        categorical=("shape",),
        sample_factors=shapes3d.sample_factors,
        render=shapes3d.render,
        image_channels=3,
    )


_BUILDERS: dict[str, Callable[[], LabelledDataset]] = {"dsprites": _dsprites, "shapes3d": _shapes3d}
LABELLED_DATASETS: tuple[str, ...] = tuple(_BUILDERS)


def labelled_dataset(name: str) -> LabelledDataset:
    """The LabelledDataset called `name`; UserError naming the known ones otherwise."""
    if name not in _BUILDERS:
        raise UserError(f"no labelled dataset {name!r}; ground truth exists for {', '.join(LABELLED_DATASETS)}")
    return _BUILDERS[name]()


def seeded_factors(dataset: LabelledDataset, n_images: int, seed: int = 0) -> torch.Tensor:
    """The seeded labelled sample: (n_images, F) uniform factor indices from
    torch.Generator().manual_seed(seed), on the CPU."""
    import torch

    return dataset.sample_factors(n_images, torch.Generator().manual_seed(seed))
