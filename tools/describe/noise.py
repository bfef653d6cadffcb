"""How far a frame's own pixel noise moves its outline measurements: a traversal's noise floor.

A briefly trained diffusion model draws a ragged blob on a grainy background. The measures read
off its outline (form, size, position, rotation) move by several just-noticeable differences
when nothing but the grain changes, so a change of that size along a traversal says nothing
about the latent. The floor is measured on the frames themselves, for any model: a clean render
or a smooth decoded VAE frame has no grain and a floor of 0 (and costs nothing here).

Steps (`noise_spread`):
1. Each frame's pixel noise s: FrameMeasurements.noise_level (tools/describe/measurements.py, step 6).
2. Frames with s >= GRAIN_FLOOR are measured again as two copies, x + n and x - n, with n
   Gaussian of spread s per pixel and channel (a fixed seed: the same frames give the same
   floor). If x = clean + e with grain e of spread s, then e + n and e - n are uncorrelated with
   equal spread: the copies are two independent grainy versions of one clean picture (with
   sqrt(2) x the grain, so the floor errs on the careful side), and the difference of their
   measurements is what the grain alone makes.
3. Per quantity, the root mean square over DRAWS of that difference, in the describer's units
   (tools/describe/describer.py UNITS): |difference| for visibility (foreground contrast), position_x,
   position_y, size (log area) and brightness (luma of background and object mixed in the
   object's area share), the scaled form distance for shape, and for rotation the difference
   of the angle of each symmetry order n = 1..4 (arg(c_n) / n), wrapped to +-180 / n degrees
   ((N, 4): the describer picks the order it tracks). 0 for clean frames; NaN where a copy
   shows no object.
"""

from __future__ import annotations

import numpy as np

from tools.describe.measurements import FrameMeasurements, form_distance, measure_batch

GRAIN_FLOOR = 0.01  # pixel noise (values in [0, 1]) under which a frame counts as clean: floor 0
DRAWS = 3  # pairs of noisy copies per frame
SEED = 7919  # not 0: a frame with noise drawn from seed 0 would meet its own noise again
QUANTITIES: tuple[str, ...] = ("visibility", "position_x", "position_y", "size", "rotation", "shape", "brightness")


def noise_spread(frames: np.ndarray, batch: FrameMeasurements, seed: int = SEED) -> dict[str, np.ndarray]:
    """frames: (N, C, H, W) float in [0, 1], C = 1 or 3, measured as `batch` -> per quantity
    of QUANTITIES how far the frame's own pixel noise moves it (module docstring): (N,) arrays,
    (N, 4) for rotation (one column per symmetry order). Only frames with noise_level >=
    GRAIN_FLOOR are measured again."""
    n = len(frames)
    spread = {quantity: np.zeros((n, 4) if quantity == "rotation" else n) for quantity in QUANTITIES}
    grainy = np.flatnonzero(batch.noise_level >= GRAIN_FLOOR)
    if len(grainy) == 0:
        return spread
    frames = np.asarray(frames, dtype=np.float32)[grainy]
    sigma = batch.noise_level[grainy].astype(np.float32)[:, None, None, None]
    rng = np.random.default_rng(seed)
    squared = {quantity: np.zeros_like(values[grainy]) for quantity, values in spread.items()}
    for _ in range(DRAWS):
        noise = rng.standard_normal(frames.shape).astype(np.float32) * sigma
        plus = measure_batch(np.clip(frames + noise, 0.0, 1.0))
        minus = measure_batch(np.clip(frames - noise, 0.0, 1.0))
        for quantity, difference in _differences(plus, minus).items():
            squared[quantity] += difference.astype(np.float64) ** 2 / DRAWS
    for quantity in QUANTITIES:
        spread[quantity][grainy] = np.sqrt(squared[quantity])
    return spread


def _differences(plus: FrameMeasurements, minus: FrameMeasurements) -> dict[str, np.ndarray]:
    """Per quantity, the differences between two copies' measurements (module docstring,
    step 3): (M,), or (M, 4) for rotation."""
    order = np.arange(1, 5, dtype=np.float64)
    step = np.degrees(plus.symmetry_phase - minus.symmetry_phase)
    period = 360.0 / order
    with np.errstate(divide="ignore"):
        return {
            "visibility": np.abs(plus.foreground_contrast - minus.foreground_contrast),
            "position_x": np.abs(plus.centroid_x - minus.centroid_x),
            "position_y": np.abs(plus.centroid_y - minus.centroid_y),
            "size": np.abs(np.log(plus.area) - np.log(minus.area)),
            "rotation": np.abs(np.mod(step / order + period / 2, period) - period / 2),
            "shape": form_distance(plus.form, minus.form),
            "brightness": np.abs(_brightness(plus) - _brightness(minus)),
        }


def _brightness(batch: FrameMeasurements) -> np.ndarray:
    """The luma of the background and the object mixed in the frame's own area share (N,), as
    the describer's brightness at a fixed area (an absent object counts as background)."""
    background = np.where(np.isnan(batch.background_luminance), batch.object_luminance, batch.background_luminance)
    share = np.nan_to_num(batch.area, nan=0.0)
    return background + share * np.nan_to_num(batch.object_luminance - background, nan=0.0)
