"""Names of 3DShapes' solids (cube, cylinder, sphere, capsule) from the object's silhouette.

tools/describe/measurements.py names dSprites' flat shapes (square, ellipse, heart) and the disc; an
object standing in a room (tools/describe/scene_layout.py) is a solid seen from above and in front, and
its outline is none of those. The describer names the solid instead in frames that show a room.

Steps (`name_solids`), per frame with an object, from measurements already taken
(FrameMeasurements: the form vector, the bounding box and the extent):
1. Silhouette features SOLID_FEATURES: the log aspect ratio of the bounding box (width over
   height, signed: an upright cylinder is taller than wide, a lying capsule wider than tall),
   the log elongation of the second moments, the strength of four-fold symmetry (a cube's
   hexagonal outline and a capsule's rounded rectangle have it, a sphere's disc does not), the
   extent (mask area over bounding-box area: a disc fills pi / 4 of its box, a cylinder's
   rounded rectangle more) and the compactness (1 for a disc).
2. Per solid, the scaled distance to its prototype: the Euclidean norm of (features -
   SOLID_PROTOTYPES[solid]) / SOLID_SPREADS[solid], the spread being the solid's own (so
   about 1 per feature is typical of that solid).
3. The nearest solid names the frame when its distance is at most SOLID_MATCH_RADIUS and the
   second nearest is at least SOLID_MARGIN farther; otherwise "unknown" (a wrong name is worse
   than none: an object whose hue matches the floor's or the wall's loses part of its outline
   and matches no solid). A frame without an object is "none".

The prototypes and spreads come from `fit_solid_prototypes()` (2,000 clean renders of
tools/data/shapes3d.py, `sample_batch(2000, torch.Generator().manual_seed(1))`, all frames with an
object; per solid the median and the interquartile range / 1.349 of each feature):

    OMP_NUM_THREADS=1 .venv/bin/python -c \\
        "from tools.describe.solid_shapes import fit_solid_prototypes; print(fit_solid_prototypes())"

On 2,000 other clean renders (seed 2) and on 512 reconstructions by the built-in 3DShapes
CSVAE, about three quarters of the frames are named right and a few percent wrong; nearly all
of the rest are objects of the floor's or wall's hue (module docstring of tools/describe/describer.py,
which uses the names).
"""

from __future__ import annotations

import numpy as np

from tools.describe.vocabularies import SHAPES3D_ROOM, Room

# The solids, their prototypes and the match radii are the 3DShapes room pack's
# (tools/describe/vocabularies.py SHAPES3D_ROOM).
SOLID_NAMES: tuple[str, ...] = SHAPES3D_ROOM.solid_names  # tools/data/shapes3d.py's SHAPE_NAMES
SOLID_FEATURES: tuple[str, ...] = ("log_aspect", "log_elongation", "symmetry_4", "extent", "compactness")
# Medians and robust spreads (IQR / 1.349) of SOLID_FEATURES per solid (fit_solid_prototypes()).
SOLID_PROTOTYPES: dict[str, np.ndarray] = SHAPES3D_ROOM.solid_prototypes
SOLID_SPREADS: dict[str, np.ndarray] = SHAPES3D_ROOM.solid_spreads
SOLID_MATCH_RADIUS = SHAPES3D_ROOM.solid_match_radius  # scaled distance (step 2) within which the nearest solid names the frame
SOLID_MARGIN = SHAPES3D_ROOM.solid_margin  # ... when the second nearest is at least this much farther


def solid_features(form: np.ndarray, bbox: np.ndarray, extent: np.ndarray) -> np.ndarray:
    """Silhouette features (step 1) of N frames: form (N, 6) form vectors
    (tools.describe.measurements.FORM_FEATURES), bbox (N, 4) boxes (x0, y0, x1, y1) as fractions of the
    width / height, extent (N,) in [0, 1] -> (N, 5) in SOLID_FEATURES order, NaN rows where no
    object is present."""
    with np.errstate(invalid="ignore", divide="ignore"):
        log_aspect = np.log((bbox[:, 2] - bbox[:, 0]) / (bbox[:, 3] - bbox[:, 1]))
    return np.stack([log_aspect, form[:, 0], form[:, 5], extent, form[:, 2]], axis=1).astype(np.float32)


def name_solids(features: np.ndarray, room: Room = SHAPES3D_ROOM) -> np.ndarray:
    """features: (N, 5) from solid_features -> (N,) names: one of the room's solids (SOLID_NAMES
    by default; steps 2-3), "unknown" when no solid matches clearly, "none" for a NaN row (no
    object)."""
    prototypes = np.stack([room.solid_prototypes[name] for name in room.solid_names])  # (S, 5)
    spreads = np.stack([room.solid_spreads[name] for name in room.solid_names])
    distances = np.sqrt((((features[:, None, :] - prototypes[None]) / spreads[None]) ** 2).sum(axis=2))  # (N, S)
    missing = np.isnan(distances).any(axis=1)
    filled = np.where(missing[:, None], 0.0, distances)
    ordered = np.sort(filled, axis=1)
    nearest = np.argmin(filled, axis=1)
    clear = (ordered[:, 0] <= room.solid_match_radius) & (ordered[:, 1] - ordered[:, 0] >= room.solid_margin)
    names = np.where(clear, np.array(room.solid_names, dtype=object)[nearest], "unknown")
    return np.where(missing, "none", names).astype(object)


def fit_solid_prototypes(n_images: int = 2000, seed: int = 1) -> dict[str, dict[str, list[float]]]:
    """Refit SOLID_PROTOTYPES and SOLID_SPREADS from n_images random clean renders of
    tools/data/shapes3d.py (generator seed `seed`): per solid, over its frames with an object, the
    median and the interquartile range / 1.349 of each feature -> {"prototypes": {solid: (5,)},
    "spreads": {solid: (5,)}} as lists (rounded to 3 decimals). Takes about 20 s on one core."""
    import torch

    from tools.data import shapes3d
    from tools.describe.measurements import measure_batch

    batch = shapes3d.sample_batch(n_images, torch.Generator().manual_seed(seed))
    measured = measure_batch(batch.images.numpy())
    features = solid_features(measured.form, measured.bbox, measured.extent)
    shapes = batch.factors[:, 4].numpy()
    fitted: dict[str, dict[str, list[float]]] = {"prototypes": {}, "spreads": {}}
    for index, name in enumerate(SOLID_NAMES):
        rows = features[(shapes == index) & ~np.isnan(features).any(axis=1)]
        quartiles = np.percentile(rows, [25, 50, 75], axis=0)
        fitted["prototypes"][name] = np.round(quartiles[1], 3).tolist()
        fitted["spreads"][name] = np.round((quartiles[2] - quartiles[0]) / 1.349, 3).tolist()
    return fitted
