"""The offline simulator on rendered dSprites traversals: a true explanation predicts fresh
traversals; a swapped or flipped one does not."""

from __future__ import annotations

import pytest

from tests.tools.fidelity.synthetic import FACTORS, factor_traversals
from tools.certainty.claims import Claim, opposite
from tools.certainty.semantic_groups import group_claims
from tools.describe.describer import describe_traversal
from tools.fidelity.scoring import score_trials, wilson_interval
from tools.fidelity.simulator import SIMULATOR, read_traversals, simulate_fidelity

STEPS = 7


@pytest.fixture(scope="module")
def explained():
    """Per factor: the describer's kept claims on anchors of seed 1, and Readings of fresh
    traversals (seed 1001) of every factor."""
    claims = {}
    for factor in FACTORS:
        description = describe_traversal(factor_traversals(factor, 5, STEPS, seed=1), list(range(STEPS)))
        grouping = group_claims([s.claims for s in description.samples])
        claims[factor] = description.samples[grouping.representative].claims
    fresh = {factor: read_traversals(factor_traversals(factor, 8, STEPS, seed=1001)) for factor in FACTORS}
    return claims, fresh


def _fidelity(claims, fresh, factor, trials=16):
    return simulate_fidelity(claims, fresh[factor], [fresh[o] for o in FACTORS if o != factor], trials, seed=3)


def test_true_explanations_predict_fresh_traversals(explained):
    claims, fresh = explained
    assert claims["pos_x"] == [Claim("position_x", "left_to_right")]
    for factor in FACTORS:
        record = _fidelity(claims[factor], fresh, factor)
        assert record["simulator"] == SIMULATOR and record["chance"] == {"detection": 0.25, "direction": 0.5}
        assert record["detection"] >= 0.9, (factor, record)
        # two frames of a square 60+ degrees apart read as a small turn the other way (90-degree symmetry)
        assert record["direction"] >= (0.8 if factor == "orientation" else 0.9), (factor, record)
        assert record["detection_ci"][0] > 0.25 and record["abstained"] == {"detection": 0, "direction": 0}


def test_swapped_explanation_is_not_above_chance(explained):
    claims, fresh = explained
    for factor, other in (("pos_x", "scale"), ("scale", "pos_y"), ("pos_y", "orientation")):
        record = _fidelity(claims[other], fresh, factor)
        assert record["detection_ci"][0] <= record["chance"]["detection"], (factor, other, record)


def test_flipped_direction_is_not_above_chance(explained):
    claims, fresh = explained
    for factor in FACTORS:
        flipped = [Claim(c.property, opposite(c.change) or c.change) for c in claims[factor]]
        record = _fidelity(flipped, fresh, factor)
        assert record["direction_ci"][0] <= 0.5, (factor, record)
        assert record["detection_ci"][0] <= record["chance"]["detection"], (factor, record)


def test_unreadable_claims_abstain_and_guess(explained):
    _, fresh = explained
    record = _fidelity([Claim("mood", "happier")], fresh, "pos_x", trials=12)
    assert record["abstained"] == {"detection": 12, "direction": 12}
    assert record["detection_ci"][0] <= 0.25 <= record["detection_ci"][1]


def test_from_to_claims_order_frames_by_named_state():
    frames = factor_traversals("scale", 4, STEPS, seed=5)  # no colour change: a named colour cannot order
    record = simulate_fidelity([Claim("object colour", "from red to blue")], read_traversals(frames), [], 8)
    assert record["abstained"]["direction"] == 8 and record["chance"]["detection"] == 1.0


def test_wilson_interval():
    low, high = wilson_interval(8, 8)
    assert low == pytest.approx(0.6756, abs=1e-3) and high == 1.0
    low, high = wilson_interval(4, 8)
    assert low == pytest.approx(0.2152, abs=1e-3) and high == pytest.approx(0.7848, abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    score = score_trials([True, False, True, True], chance=0.5)
    assert score.accuracy == 0.75 and score.correct == 3 and score.trials == 4 and not score.above_chance
