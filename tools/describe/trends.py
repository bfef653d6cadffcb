"""Trend finding along a traversal: how a per-frame quantity changes from the first frame to the last.

`find_trend` reduces a sequence (scalars or vectors, NaN frames skipped) to its span, net
change, strength in just-noticeable differences (discounted by jitter and by the span the
frames' own noise can make) and direction; `direction_word` picks the words for that
direction; `rotation_trend` builds the cumulative rotation of an object from the phases of its
strongest symmetry (tools/describe/measurements.py step 3) and finds its trend. The describer
(tools/describe/describer.py, step 3 of its module docstring) calls them per anchor and quantity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tools.describe.measurements import FrameMeasurements, form_distance

NOISE_SPAN = 2.5  # multiple of a frame's noise spread (tools/describe/noise.py) that grain alone can span
MONOTONIC_SHARE = 0.9  # |net| / span from which a change counts as monotonic
ROTATION_SHAPE_LIMIT = 3.0  # form distance between neighbouring frames above which a rotation step is not measured
MIN_ROTATION_SYMMETRY = 0.08  # median symmetry strength an object needs for its rotation to be measured


@dataclass(frozen=True)
class Trend:
    """A sequence's change: span (>= 0), net (signed for scalars, a distance for vectors),
    strength and direction (+1, -1, or 0 for back and forth)."""

    span: float
    net: float
    strength: float
    monotonic: bool
    direction: int


def find_trend(sequence: np.ndarray, jnd: float, noise_floor: float = 0.0) -> Trend | None:
    """Change of a sequence (K,) or (K, D) along the traversal, NaN frames skipped; None with
    fewer than two defined frames. Vectors are compared by Euclidean distance. noise_floor:
    the span the frames' own noise can make (same unit), taken off the span for the strength.
    One grainy frame can also stand out alone: the frame that widens the span most may do so
    by up to noise_floor before it counts (a change must show in two frames to beat the grain;
    with a floor of 0, as on clean frames, the span is the span)."""
    sequence = np.asarray(sequence, dtype=np.float64)
    vectors = sequence.reshape(len(sequence), -1)
    vectors = vectors[~np.isnan(vectors).any(axis=1)]
    if len(vectors) < 2:
        return None
    distances = np.sqrt(((vectors[:, None] - vectors[None]) ** 2).sum(axis=2))  # (K, K)
    span = float(distances.max())
    if vectors.shape[1] == 1:
        net = float(vectors[-1, 0] - vectors[0, 0])
        net_size = abs(net)
    else:
        net = net_size = float(distances[0, -1])
    jitter = 0.0
    if len(vectors) >= 4:
        second = np.sqrt((np.diff(vectors, n=2, axis=0) ** 2).sum(axis=1))
        jitter = float(np.median(second)) / np.sqrt(6.0)  # a second difference of white noise has sqrt(6) x its spread
    counted = span
    if noise_floor > 0 and len(vectors) >= 3:
        others = ~np.eye(len(vectors), dtype=bool)
        without_one = min(float(distances[others[k]][:, others[k]].max()) for k in range(len(vectors)))
        counted = max(without_one, span - noise_floor)
    strength = max(counted - noise_floor, 0.0) / max(jnd, jitter)
    direction = 0
    if span > 0 and net_size >= 0.5 * span:
        direction = 1 if net >= 0 else -1
    monotonic = span > 0 and net_size >= MONOTONIC_SHARE * span
    return Trend(span=span, net=net, strength=float(strength), monotonic=bool(monotonic), direction=direction)


def direction_word(trend: Trend, words: tuple[str, str, str]) -> str:
    """words = (increasing, decreasing, back and forth) -> the one the trend shows."""
    return words[0] if trend.direction > 0 else words[1] if trend.direction < 0 else words[2]


def rotation_trend(
    batch: FrameMeasurements, index: np.ndarray, jnd: float, noise: np.ndarray | None = None
) -> Trend | None:
    """Cumulative rotation (degrees, counterclockwise) along one anchor's traversal.

    1. Keep frames with an object; pick the symmetry order n with the largest median strength
       (none when it is under MIN_ROTATION_SYMMETRY: a disc has no visible rotation).
    2. A step between neighbouring kept frames is measured when both show that symmetry
       (strength >= half the median) and the form barely changes (a shape change is not a
       rotation): the phase difference of c_n wrapped to (-pi, pi], divided by n.
    3. The cumulative sum of the steps is the rotation sequence; its noise floor is NOISE_SPAN x
       the median over the kept frames of how far pixel noise moves the angle of order n
       (noise: (N, 4) over the batch, tools/describe/noise.py); jnd: the rotation's JND in degrees."""
    present = batch.present[index]
    kept = index[present]
    if len(kept) < 2:
        return None
    symmetry = batch.symmetry[kept]
    medians = np.median(symmetry, axis=0)
    order_index = int(np.argmax(medians))
    if medians[order_index] < MIN_ROTATION_SYMMETRY:
        return None
    order = order_index + 1
    strong = symmetry[:, order_index] >= 0.5 * medians[order_index]
    phase = batch.symmetry_phase[kept, order_index].astype(np.float64)
    step = np.mod(np.diff(phase) + np.pi, 2 * np.pi) - np.pi
    same_form = form_distance(batch.form[kept[1:]], batch.form[kept[:-1]]) <= ROTATION_SHAPE_LIMIT
    usable = strong[1:] & strong[:-1] & same_form
    angles = np.concatenate([[0.0], np.cumsum(np.where(usable, np.degrees(step) / order, 0.0))])
    noise_floor = 0.0
    if noise is not None:
        spread = noise[kept, order_index]
        spread = spread[~np.isnan(spread)]
        noise_floor = NOISE_SPAN * float(np.median(spread)) if len(spread) else 0.0
    return find_trend(angles, jnd, noise_floor)
