"""Scores of prediction trials: accuracy with its chance level and a Wilson 95% interval.

The Wilson score interval (Wilson 1927) keeps its coverage at small trial counts and at
accuracies of 0 or 1, where the normal approximation collapses to a point; with the 8 to 32
trials a fidelity check runs it is the interval to quote (Brown, Cai & DasGupta 2001).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

Z95 = 1.959964


def wilson_interval(correct: float, trials: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion correct / trials; (0, 1) with no trials."""
    if trials <= 0:
        return 0.0, 1.0
    p = correct / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class TrialScore:
    """accuracy: correct / trials; chance: the accuracy of guessing; ci: Wilson 95% interval
    of the accuracy; abstained: trials where the simulator could not predict from the claims
    and guessed (a seeded coin), counted in the accuracy."""

    accuracy: float
    correct: int
    trials: int
    chance: float
    ci: tuple[float, float]
    abstained: int = 0

    @property
    def above_chance(self) -> bool:
        """The interval's lower end lies above chance."""
        return self.ci[0] > self.chance

    def to_dict(self) -> dict:
        record = asdict(self)
        record["accuracy"] = round(self.accuracy, 4)
        record["ci"] = [round(self.ci[0], 4), round(self.ci[1], 4)]
        record["chance"] = round(self.chance, 4)
        return record


def score_trials(outcomes: list[bool], chance: float, abstained: int = 0) -> TrialScore:
    """A TrialScore from per-trial outcomes (True: the prediction was right)."""
    correct = int(sum(bool(o) for o in outcomes))
    trials = len(outcomes)
    accuracy = correct / trials if trials else 0.0
    return TrialScore(accuracy=accuracy, correct=correct, trials=trials, chance=chance,
                      ci=wilson_interval(correct, trials), abstained=abstained)
