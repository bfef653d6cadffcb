"""The describer's claims: one per named change, the same meaning the text has (read back by
the free-text claim reader), none for "no clear change"."""

import numpy as np

from tests.tools.describe.test_describer import VALUES, K, traversal
from tools.certainty.claim_parser import parse_claims
from tools.certainty.claims import Claim
from tools.certainty.semantic_groups import compatible
from tools.describe.describer import Change, change_claim, describe_traversal


def test_moving_right_claims_position_x_left_to_right():
    description = describe_traversal(traversal("posX", list(np.linspace(2, 29, K).round().astype(int))), VALUES)
    for sample in description.samples:
        assert Claim("position_x", "left_to_right") in sample.claims
        assert 1 <= len(sample.claims) <= 2  # the one or two changes the text names


def test_still_frames_claim_nothing():
    description = describe_traversal(traversal(None), VALUES)
    assert all(sample.claims == [] for sample in description.samples)


def test_the_text_means_what_the_claims_say():
    """Every template the describer words reads back as the claim it emits."""
    cases = [
        ("position_x", "moves from right to left", ""), ("position_y", "moves upward", ""),
        ("size", "gets smaller", ""), ("rotation", "rotates counterclockwise", ""),
        ("shape", "changes shape from a square to an ellipse and then to a heart", ""),
        ("bottom_colour", "turns from red to blue", "the floor"), ("top_colour", "gets lighter", "the wall"),
        ("visibility", "disappears", ""), ("brightness", "gets darker", ""),
    ]
    for quantity, phrase, subject in cases:
        claim = change_claim(Change(quantity, phrase, 2.0, True, subject))
        text = f"{subject or 'The object'} {phrase}."
        read = [c for c in parse_claims(text) if c.property == claim.property]
        assert read and compatible(read[0].change, claim.change), (text, claim, parse_claims(text))
