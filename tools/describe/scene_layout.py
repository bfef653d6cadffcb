"""Is a frame a room: an object in front of a wall, standing on a floor (3DShapes' scenes)?

The describer calls the upper and lower background "the wall" and "the floor" when the frame
shows that layout, as a person would, and "the upper / lower background" otherwise (a plain
backdrop, a portrait).

Steps (`room_frames`), per frame (C, H, W), values in [0, 1]:
1. Side profiles: the mean colour of each row over the SIDE_SHARE of the width at the left
   edge, and the same at the right edge, (H, 3) each: background in a room, where the object
   stands in the middle.
2. Two-band fit per side: for every split row s between MIN_SPLIT and 1 - MIN_SPLIT of the
   height, rows above s take their mean colour, rows below theirs; the split with the least
   squared error wins. fit = 1 - that error / the profile's total squared deviation (the share
   of the profile's variation a wall-above-floor step explains); step = the distance between
   the two band colours (RGB Euclidean / sqrt(3)).
3. A room: on both sides fit >= MIN_FIT and step >= MIN_STEP (a visible horizon that is the
   main change down the frame's edges), the two splits within MAX_SPLIT_GAP of the height of
   each other (the floor-wall edge may slant, as when 3DShapes' camera orbits), and the object,
   when there is one, clear of the bottom edge (it stands on the floor; a portrait's
   shoulders reach the bottom).

`horizon_tilt` measures how the floor-wall edge slants, which is how 3DShapes' orbiting camera
shows (tools/data/shapes3d.py: the edge runs level at orientation 0 and slants about 8 degrees either
way at +-30): the frame is cut into TILT_STRIPS column strips; each strip clear of the object
(its bounding box widened by TILT_OBJECT_MARGIN) whose two-band fit is a visible horizon gives
one point (strip centre, split row); a least-squares line through at least TILT_MIN_STRIPS
points spanning TILT_MIN_SPAN of the width gives the tilt.
"""

from __future__ import annotations

import numpy as np

SIDE_SHARE = 1 / 16  # width share of each side strip
MIN_SPLIT = 0.2  # the horizon lies within [0.2, 0.8] of the height
MIN_FIT = 0.75  # share of the side profile's variation the two-band step explains
MIN_STEP = 0.06  # colour distance between wall and floor
MAX_SPLIT_GAP = 0.35  # height share by which the left and right horizon may differ
BOTTOM_CLEARANCE = 0.97  # the object's lowest point must lie above this height share
TILT_STRIPS = 16  # column strips the horizon is fitted in
TILT_OBJECT_MARGIN = 0.05  # width share added on each side of the object's box (its shadow)
TILT_MIN_STRIPS = 4  # horizon points a tilt needs
TILT_MIN_SPAN = 0.5  # width share the points must span


def _two_band_fit(profile: np.ndarray) -> tuple[float, float, int]:
    """(fit, step, split row) of the best two-band model of a side profile (H, 3) (step 2)."""
    height = profile.shape[0]
    total = float(((profile - profile.mean(axis=0)) ** 2).sum())
    cumulative = np.cumsum(profile, axis=0)
    cumulative_sq = np.cumsum((profile**2).sum(axis=1))
    best = (np.inf, 0.0, 0)
    for split in range(max(1, int(MIN_SPLIT * height)), min(height - 1, int((1 - MIN_SPLIT) * height)) + 1):
        upper_sum, lower_sum = cumulative[split - 1], cumulative[-1] - cumulative[split - 1]
        upper_n, lower_n = split, height - split
        error = (cumulative_sq[-1] - (upper_sum**2).sum() / upper_n - (lower_sum**2).sum() / lower_n)
        if error < best[0]:
            step = float(np.linalg.norm(upper_sum / upper_n - lower_sum / lower_n) / np.sqrt(3.0))
            best = (error, step, split)
    error, step, split = best
    fit = 1.0 - max(float(error), 0.0) / total if total > 1e-12 else 0.0
    return fit, step, split


def room_frames(frames: np.ndarray, object_bottom: np.ndarray) -> np.ndarray:
    """frames (N, C, H, W) in [0, 1], C = 1 or 3; object_bottom (N,): the object's lowest point
    as a share of the height (NaN without an object) -> (N,) bool, True for a room (steps 1-3)."""
    frames = np.asarray(frames, dtype=np.float32)
    if frames.shape[1] == 1:
        frames = np.repeat(frames, 3, axis=1)
    n, _, height, width = frames.shape
    side = max(1, round(width * SIDE_SHARE))
    rooms = np.zeros(n, dtype=bool)
    for i in range(n):
        fits = [_two_band_fit(strip.mean(axis=2).T) for strip in (frames[i, :, :, :side], frames[i, :, :, -side:])]
        visible_horizon = all(fit >= MIN_FIT and step >= MIN_STEP for fit, step, _ in fits)
        aligned = abs(fits[0][2] - fits[1][2]) <= MAX_SPLIT_GAP * height
        standing = not (object_bottom[i] >= BOTTOM_CLEARANCE)  # NaN (no object) counts as clear
        rooms[i] = visible_horizon and aligned and standing
    return rooms


def horizon_tilt(frames: np.ndarray, object_bbox: np.ndarray) -> np.ndarray:
    """frames (N, C, H, W) in [0, 1], C = 1 or 3; object_bbox (N, 4): (x0, y0, x1, y1) as
    fractions of the width / height, NaN without an object -> (N,) float32: the floor-wall
    edge's angle in degrees, counterclockwise positive (0 = level; positive = the edge rises to
    the right), NaN when too little of the edge is visible (module docstring)."""
    frames = np.asarray(frames, dtype=np.float32)
    if frames.shape[1] == 1:
        frames = np.repeat(frames, 3, axis=1)
    n, _, height, width = frames.shape
    bounds = np.linspace(0, width, TILT_STRIPS + 1).round().astype(int)
    tilt = np.full(n, np.nan, dtype=np.float32)
    for i in range(n):
        x0, _, x1, _ = object_bbox[i]
        xs, ys = [], []
        for left, right in zip(bounds[:-1], bounds[1:], strict=True):
            if right <= left:
                continue
            near_object = not np.isnan(x0) and (right / width > x0 - TILT_OBJECT_MARGIN
                                                and left / width < x1 + TILT_OBJECT_MARGIN)
            if near_object:
                continue
            fit, step, split = _two_band_fit(frames[i, :, :, left:right].mean(axis=2).T)
            if fit >= MIN_FIT and step >= MIN_STEP:
                xs.append((left + right) / 2)
                ys.append(split)
        if len(xs) < TILT_MIN_STRIPS or (max(xs) - min(xs)) < TILT_MIN_SPAN * width:
            continue
        slope = np.polyfit(np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64), 1)[0]
        tilt[i] = np.degrees(np.arctan(-slope))  # rows grow downwards: a rising edge has a negative slope
    return tilt
