"""Names of 3DShapes' solids from the silhouette (tools/describe/solid_shapes.py), on clean renders of
tools/data/shapes3d.py with fixed factors."""

from __future__ import annotations

import numpy as np
import torch

from tools.data.shapes3d import render
from tools.describe.measurements import measure_batch
from tools.describe.solid_shapes import SOLID_NAMES, SOLID_PROTOTYPES, SOLID_SPREADS, name_solids, solid_features

# (floor_hue, wall_hue, object_hue, scale, orientation): the object's hue far from both backgrounds.
SCENES = [(0, 5, 7, 4, 7), (6, 1, 3, 7, 14), (2, 8, 5, 3, 3)]


def solid_names(rows: list[list[int]]) -> np.ndarray:
    """3DShapes factor rows (N, 6) -> (N,) solid names of their renders, rendered on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        frames = render(torch.tensor(rows)).numpy()
    finally:
        torch.set_num_threads(threads)
    measured = measure_batch(frames)
    return name_solids(solid_features(measured.form, measured.bbox, measured.extent))


def test_each_solid_is_named_on_clean_renders():
    rows = [
        [floor, wall, obj, scale, shape, orientation]
        for floor, wall, obj, scale, orientation in SCENES
        for shape in range(4)
    ]
    assert solid_names(rows).reshape(len(SCENES), 4).tolist() == [list(SOLID_NAMES)] * len(SCENES)


def test_an_object_of_the_floors_hue_is_not_named_wrong():
    """Its lower outline merges with the floor: "unknown" (or right), never another solid."""
    names = solid_names([[3, 7, 3, 4, shape, 7] for shape in range(4)])
    for shape, name in enumerate(names):
        assert name in (SOLID_NAMES[shape], "unknown", "none")


def test_no_object_is_none_and_prototypes_name_themselves():
    prototypes = np.stack([SOLID_PROTOTYPES[name] for name in SOLID_NAMES])
    features = np.concatenate([prototypes, np.full((1, prototypes.shape[1]), np.nan, dtype=np.float32)])
    assert name_solids(features).tolist() == [*SOLID_NAMES, "none"]
    assert all((SOLID_SPREADS[name] > 0).all() for name in SOLID_NAMES)
