"""Grouping samples by meaning: opposite directions never agree, paraphrases do."""

import pytest

from tools.certainty.claim_parser import parse_claims
from tools.certainty.claims import Claim
from tools.certainty.semantic_groups import compatible, group_claims, group_samples

RIGHT, LEFT = Claim("position_x", "left_to_right"), Claim("position_x", "right_to_left")
BIGGER = Claim("size", "bigger")


@pytest.mark.parametrize(("text", "claims"), [
    ("The square drifts to the right.", [RIGHT]),
    ("Higher values push the object toward the right edge.", [RIGHT]),
    ("The figure moves from right to left.", [LEFT]),
    ("The image changes slightly at the bottom.", []),  # location words alone are not motion
    ("The object is in the upper left.", []),
    ("It moves to the bottom.", [Claim("position_y", "down")]),
    ("The sprite does not grow.", []),
    ("The object moves right while its size stays the same.", [RIGHT]),
    ("The object twists anticlockwise, without moving.", [Claim("rotation", "counterclockwise")]),
    ("Nothing visible changes.", []),
    ("The sprite grows and slides to the left.", [Claim("size", "bigger"), LEFT]),
    ("The floor turns green, starting from red.", [Claim("floor colour", "from red to green")]),
    ("The square morphs into a heart.", [Claim("shape", "from square to heart")]),
    ("No clear change.", []),
])
def test_free_text_claims(text, claims):
    assert sorted(parse_claims(text), key=str) == sorted(claims, key=str)


def test_opposite_directions_never_agree():
    grouping = group_claims([[RIGHT]] * 3 + [[LEFT]] * 2)
    assert grouping.certainty == pytest.approx(0.6) and grouping.groups == [[0, 1, 2], [3, 4]]
    assert not compatible("left_to_right", "right_to_left") and compatible("changes", "clockwise")


def test_samples_agree_on_a_shared_claim_and_the_plainest_one_is_kept():
    """Samples 0 and 3 disagree about size but agree that it moves right: the group's meaning
    is the shared claim, and the sample saying only that is kept."""
    grouping = group_claims([[RIGHT, BIGGER], [RIGHT], [RIGHT], [RIGHT, Claim("size", "smaller")], []])
    assert grouping.groups == [[0, 1, 2, 3], [4]] and grouping.certainty == pytest.approx(0.8)
    assert grouping.representative == 1 and grouping.meaning == RIGHT
    contradicted = group_claims([[RIGHT], [RIGHT], [LEFT, BIGGER], [BIGGER], [BIGGER]])
    assert contradicted.groups[0] == [2, 3, 4] and contradicted.certainty == pytest.approx(0.6)


def test_a_mix_of_two_properties_is_not_one_meaning():
    grouping = group_claims([[RIGHT], [RIGHT], [BIGGER], [BIGGER], [RIGHT, BIGGER]])
    assert grouping.certainty == pytest.approx(0.6)


def test_end_states_and_free_text_properties():
    assert compatible("to green", "from red to green") and compatible("from blue to green", "from red to green")
    assert not compatible("from green to red", "from red to green") and not compatible("to red", "to green")
    assert compatible("from square to heart", "from square to ellipse to heart")

    def embed(texts):  # a stand-in embedding: floor words together, the rest apart
        import torch

        return torch.stack([torch.tensor([1.0, 0.0]) if "floor" in t else torch.tensor([0.0, 1.0]) for t in texts])

    same = group_claims([[Claim("hue of the floor", "to green")], [Claim("floor tint", "to green")]], embed=embed)
    assert same.certainty == 1.0
    apart = group_claims([[Claim("hue of the floor", "to green")], [Claim("wall tint", "to green")]], embed=embed)
    assert apart.certainty == 0.5


def test_samples_without_claims_agree_with_nothing():
    grouping = group_samples(["No clear change."] * 5)
    assert grouping.certainty == 0.0 and grouping.meaning is None and len(grouping.groups) == 5
    structured = group_samples(["a", "b"], [[RIGHT.to_dict()], [{"property": "position_x", "change": "left_to_right"}]])
    assert structured.certainty == 1.0


def test_free_text_answers_without_claims_are_read_and_unseen_samples_claim_nothing():
    from tools.certainty.measures import measure_certainty

    text = ["The square moves from left to right."] * 3
    assert measure_certainty(text, claims=[[], [], []]).certainty == 1.0  # an MLLM's free-text answers
    assert measure_certainty(text, claims=[[], [], []], visible=[True, False, False]).certainty == pytest.approx(1 / 3)
