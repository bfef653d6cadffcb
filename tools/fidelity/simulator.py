"""The offline fidelity simulator: predictions from an explanation's claims and the measured
frames, never from the describer's sentence for those frames.

An explanation is judged by what it lets a reader predict about traversals it has not seen
(explain-simulate-score: Bills et al. 2023, "Language models can explain neurons in language
models"; the detection scorer of EleutherAI's delphi, Paulo et al. 2024). Two tasks:

- detection: K candidate traversals (this latent's on a fresh anchor, and distractors: other
  latents' traversals on the same anchor); pick the one whose measured change best matches
  the claims. Chance is 1 / K.
- direction: two frames of a fresh traversal of this latent, in random order; say which one
  has the higher latent value. Chance is 1 / 2.

How the claims are read against measurements (tools/describe/measurements.py, per frame):
each canonical property (tools/certainty/claims.py) has a measured quantity (PROPERTY_READINGS):
position_x -> centroid x, position_y -> centroid y (down is +), size -> log area, rotation ->
rotation angle (counterclockwise +, wrapped to the shape's symmetry period), brightness,
saturation, visibility -> foreground contrast; the colour properties -> a region's RGB
colour; shape -> the form vector. Its change words carry a sign (SIGNS).
- A directed claim ("size", "bigger") scores a candidate by the quantity's net change over
  the traversal (least-squares slope x length), signed, in just-noticeable differences (the
  describer's JND); a pair of frames by the signed difference.
- "from A to B" (or "from A to B to C"; a colour or a shape) places a frame named A at -1, B
  at +1 (C beyond; states between evenly); a candidate scores that place's rise from its
  first to its last frame plus its change's size; two frames are ordered by their places.
- "back_and_forth" scores a candidate by the part of the change that returns (span less net
  change); any other change of a known property ("changes") by the size of the change (its
  span, in JND). Neither can order two frames.
A candidate's score is the sum over the claims, less UNCLAIMED_WEIGHT x the net change of each
of position, size it does not claim (an explanation also says what does not move); the highest
wins. Claims of properties with
no reading (free text) are ignored; with none left the simulator abstains and a seeded coin
decides, so an unreadable explanation scores chance, not zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tools.certainty.claims import Claim
from tools.describe.colour_names import name_colours
from tools.describe.describer import JND
from tools.describe.measurements import FORM_SCALE, FrameMeasurements, measure_batch
from tools.fidelity.scoring import TrialScore, score_trials

SIMULATOR = "offline-measurements"
"""The name this simulator's scores are recorded under in results.json."""

_PROPERTY_QUANTITIES: dict[str, tuple[str, str]] = {
    "position_x": ("position_x", "position_x"), "position_y": ("position_y", "position_y"), "size": ("size", "size"),
    "rotation": ("rotation", "rotation"), "brightness": ("brightness", "brightness"),
    "saturation": ("saturation", "saturation"), "visibility": ("visibility", "visibility"), "shape": ("form", "shape"),
    "object colour": ("object_colour", "object_colour"), "object top colour": ("object_top_colour", "object_top_colour"),
    "background colour": ("background_colour", "background_colour"), "wall colour": ("top_colour", "top_colour"),
    "upper background colour": ("top_colour", "top_colour"), "floor colour": ("bottom_colour", "bottom_colour"),
    "lower background colour": ("bottom_colour", "bottom_colour"),
}
"""property -> (the measured quantity, the describer's quantity whose just-noticeable difference it uses)."""
PROPERTY_READINGS: dict[str, tuple[str, float]] = {prop: (quantity, JND[jnd]) for prop, (quantity, jnd)
                                                   in _PROPERTY_QUANTITIES.items()}
"""property -> (measured quantity, its just-noticeable difference: tools/describe/describer.py JND)."""
SIGNS: dict[str, int] = {
    "left_to_right": 1, "right_to_left": -1, "down": 1, "up": -1, "bigger": 1, "smaller": -1,
    "counterclockwise": 1, "clockwise": -1, "lighter": 1, "darker": -1, "more_saturated": 1,
    "less_saturated": -1, "appears": 1, "disappears": -1,
}
"""Change word -> sign of the measured quantity's change (position_y grows downward; angles
grow counterclockwise)."""
UNCLAIMED_WEIGHT = 0.5
UNCLAIMED: dict[str, float] = {"position_x": 0.04, "position_y": 0.04, "size": 0.15}
"""Detection also counts what the explanation leaves out: a candidate loses UNCLAIMED_WEIGHT x
the net change (in JND) of each of these quantities the claims do not name, so "it moves up"
prefers a traversal that moves up and nothing else over one that also slides sideways."""
_VECTORS = ("form", "object_colour", "object_top_colour", "background_colour", "top_colour", "bottom_colour")


@dataclass(frozen=True)
class Readings:
    """The measured quantities of T traversals of K frames each: scalars (T, K), vectors
    (T, K, d), names (T, K) of colours per region and of the shape, and the rotation period
    (T, K) in degrees (360 / the shape's symmetry order)."""

    values: dict[str, np.ndarray]
    names: dict[str, np.ndarray]
    period: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.period.shape


def read_traversals(frames: np.ndarray) -> Readings:
    """frames: (T, K, C, H, W) in [0, 1] -> their Readings (one measure_batch call)."""
    frames = np.asarray(frames, dtype=np.float32)
    t, k = frames.shape[:2]
    batch = measure_batch(frames.reshape(t * k, *frames.shape[2:]))
    return readings_of(batch, t, k)


def readings_of(batch: FrameMeasurements, t: int, k: int) -> Readings:
    """Readings of a FrameMeasurements of t * k frames, traversal-major."""
    def grid(array: np.ndarray) -> np.ndarray:
        return np.asarray(array, dtype=np.float64).reshape(t, k, *np.shape(array)[1:])

    with np.errstate(divide="ignore", invalid="ignore"):
        size = np.log(np.where(batch.area > 0, batch.area, np.nan))
    values = {
        "position_x": grid(batch.centroid_x), "position_y": grid(batch.centroid_y), "size": grid(size),
        "rotation": grid(batch.rotation_deg), "brightness": grid(batch.brightness),
        "saturation": grid(batch.saturation), "visibility": grid(batch.foreground_contrast),
        "form": grid(batch.form),
    }
    names = {"form": np.asarray(batch.shape_name, dtype=object).reshape(t, k)}
    for region in _VECTORS[1:]:
        rgb = getattr(batch, region)
        values[region] = grid(rgb)
        names[region] = np.asarray(name_colours(rgb), dtype=object).reshape(t, k)
    order = np.asarray(batch.symmetry_order, dtype=np.float64)
    period = np.where(order >= 1, 360.0 / np.maximum(order, 1), 360.0).reshape(t, k)
    return Readings(values=values, names=names, period=period)


def _states(change: str) -> list[str] | None:
    """"from red to green" -> ["red", "green"]; "from heart to circle to ellipse" -> all three, in
    order; "to green" -> ["", "green"] (start unnamed); else None."""
    if change.startswith("from ") and " to " in change:
        return [part.strip() for part in change[5:].split(" to ")]
    if change.startswith("to "):
        return ["", change[3:].strip()]
    return None


def _unwrapped(sequence: np.ndarray, period: np.ndarray) -> np.ndarray:
    """Angles (K,) unwrapped step by step modulo each step's period."""
    steps = np.diff(sequence)
    p = period[1:]
    steps = (steps + p / 2) % p - p / 2
    return np.concatenate([[sequence[0]], sequence[0] + np.cumsum(steps)])


def _net(sequence: np.ndarray) -> float:
    """Least-squares slope x (K - 1) over the finite entries; 0 with fewer than two."""
    k = np.arange(len(sequence), dtype=np.float64)
    ok = np.isfinite(sequence)
    if ok.sum() < 2:
        return 0.0
    slope = np.polyfit(k[ok], sequence[ok], 1)[0]
    return float(slope * (len(sequence) - 1))


def _span(sequence: np.ndarray) -> float:
    """The largest distance of a frame's reading from the first frame's (scalars or vectors)."""
    first = sequence[0]
    distance = np.abs(sequence - first) if sequence.ndim == 1 else np.linalg.norm(sequence - first, axis=-1)
    return float(np.nanmax(distance)) if np.isfinite(distance).any() else 0.0


class MeasuredSimulator:
    """Predicts from an explanation's claims (module docstring). claims: the accepted sample's
    claims (Claim or {"property", "change"} dicts)."""

    name = SIMULATOR

    def __init__(self, claims: Sequence[Claim | dict], unclaimed_weight: float = UNCLAIMED_WEIGHT):
        self.unclaimed_weight = unclaimed_weight
        parsed = [c if isinstance(c, Claim) else Claim.from_dict(c) for c in claims]
        self.claims = [c for c in parsed if c.property in PROPERTY_READINGS]

    @property
    def can_predict(self) -> bool:
        return bool(self.claims)

    @property
    def can_order(self) -> bool:
        return any(c.change in SIGNS or _states(c.change) for c in self.claims)

    def traversal_score(self, readings: Readings, t: int) -> float:
        """How well traversal t of readings matches the claims (higher: better)."""
        total = 0.0
        for claim in self.claims:
            quantity, jnd = PROPERTY_READINGS[claim.property]
            sequence = readings.values[quantity][t]
            if quantity == "rotation":
                sequence = _unwrapped(np.nan_to_num(sequence), readings.period[t])
            sign = SIGNS.get(claim.change)
            if sign is not None and sequence.ndim == 1:
                total += sign * _net(sequence) / jnd
                continue
            if quantity == "form":
                sequence = sequence / FORM_SCALE  # scaled form distance, as form_distance
            if claim.change == "back_and_forth" and sequence.ndim == 1:  # goes and comes back: span less net
                total += (_span(sequence) - abs(_net(sequence))) / jnd
                continue
            total += _span(sequence) / jnd
            states = _states(claim.change)
            if states is not None:
                named = self._state_scores(readings.names.get(quantity), t, states)
                if named is not None:
                    total += float(np.nan_to_num(named[-1]) - np.nan_to_num(named[0]))
        if self.unclaimed_weight:
            claimed = {PROPERTY_READINGS[c.property][0] for c in self.claims}
            for quantity, jnd in UNCLAIMED.items():
                if quantity not in claimed:
                    total -= self.unclaimed_weight * abs(_net(readings.values[quantity][t])) / jnd
        return total

    def order_score(self, readings: Readings, t: int, i: int, j: int) -> float | None:
        """> 0: frame j of traversal t has the higher latent value than frame i; < 0: frame i;
        None: the claims cannot order two frames (no direction, or no difference measured)."""
        total, used = 0.0, False
        for claim in self.claims:
            quantity, jnd = PROPERTY_READINGS[claim.property]
            sign = SIGNS.get(claim.change)
            series = readings.values[quantity][t]
            if sign is not None and series.ndim == 1:
                a, b = series[i], series[j]
                if quantity == "rotation":
                    p = readings.period[t, j]
                    difference = (b - a + p / 2) % p - p / 2
                else:
                    difference = b - a
                if np.isfinite(difference):
                    total += sign * float(difference) / jnd
                    used = True
                continue
            states = _states(claim.change)
            named = self._state_scores(readings.names.get(quantity), t, states) if states else None
            if named is not None and np.isfinite(named[[i, j]]).all():
                total += float(named[j] - named[i])
                used = True
        return total if used and total != 0 else None

    @staticmethod
    def _state_scores(names: np.ndarray | None, t: int, states: list[str]) -> np.ndarray | None:
        """Per frame of traversal t: where its name lies along the claimed states, from -1 (the
        first) to +1 (the last); NaN for a name the claim does not list."""
        if names is None:
            return None
        places = {name: -1.0 + 2.0 * i / (len(states) - 1) for i, name in enumerate(states) if name}
        return np.array([places.get(name, np.nan) for name in names[t]], dtype=np.float64)


def detection_trials(simulator: MeasuredSimulator, target: Readings, distractors: Sequence[Readings],
                     trials: int, rng: np.random.Generator) -> TrialScore:
    """trials detection trials: in trial n, the candidates are traversal n % T of target and of
    each distractor (same anchor), in a random order; right when the simulator picks target's.
    Chance 1 / (1 + len(distractors))."""
    count = 1 + len(distractors)
    outcomes, abstained = [], 0
    for n in range(trials):
        t = n % target.shape[0]
        candidates = [target, *distractors]
        order = rng.permutation(count)
        if simulator.can_predict:
            scores = np.array([simulator.traversal_score(candidates[c], t) for c in order])
            best = np.flatnonzero(scores == scores.max())
            pick = order[best[rng.integers(len(best))]]
        else:
            abstained += 1
            pick = order[rng.integers(count)]
        outcomes.append(pick == 0)
    return score_trials(outcomes, 1 / count, abstained)


def direction_trials(simulator: MeasuredSimulator, target: Readings, trials: int,
                     rng: np.random.Generator) -> TrialScore:
    """trials direction trials: two different frames of traversal n % T (frame order = latent
    value order), shown in a random order; right when the simulator names the higher one.
    Chance 1 / 2."""
    t_count, k = target.shape
    outcomes, abstained = [], 0
    for n in range(trials):
        t = n % t_count
        low, high = sorted(rng.choice(k, size=2, replace=False))
        first, second = (low, high) if rng.random() < 0.5 else (high, low)
        score = simulator.order_score(target, t, first, second)
        if score is None:
            abstained += 1
            says_second = bool(rng.random() < 0.5)
        else:
            says_second = score > 0
        outcomes.append((second if says_second else first) == high)
    return score_trials(outcomes, 0.5, abstained)


def simulate_fidelity(claims: Sequence[Claim | dict], target: Readings, distractors: Sequence[Readings],
                      trials: int, seed: int = 0) -> dict:
    """The fidelity record of one explanation: {detection, direction, chance {detection,
    direction}, trials, simulator, detection_ci, direction_ci, distractors, abstained
    {detection, direction}}. target / distractors: Readings of fresh traversals (same anchors)."""
    rng = np.random.default_rng(seed)
    simulator = MeasuredSimulator(claims)
    detection = detection_trials(simulator, target, distractors, trials, rng)
    direction = direction_trials(simulator, target, trials, rng)
    return {
        "detection": round(detection.accuracy, 4),
        "direction": round(direction.accuracy, 4),
        "chance": {"detection": round(detection.chance, 4), "direction": 0.5},
        "trials": trials,
        "simulator": SIMULATOR,
        "detection_ci": detection.to_dict()["ci"],
        "direction_ci": direction.to_dict()["ci"],
        "distractors": len(distractors),
        "abstained": {"detection": detection.abstained, "direction": direction.abstained},
    }
