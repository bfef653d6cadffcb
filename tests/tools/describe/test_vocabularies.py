"""The describer's dataset packs (tools/describe/vocabularies.py): describe_traversal reads the
flat shapes and the room from the vocabulary it is given; the default holds them all."""

from __future__ import annotations

from dataclasses import replace

from tests.tools.describe.test_describer import VALUES, scene_traversal, spread, texts, traversal
from tests.tools.describe.test_measurements import BLUE, RED, coloured_scene
from tools.describe.describer import describe_traversal
from tools.describe.vocabularies import DEFAULT_VOCABULARY, DSPRITES_FLAT, Vocabulary


def wall_turning_red_to_blue():
    def make(wall, floor, t):
        return coloured_scene(RED if t < 0.5 else BLUE, floor, (0.95, 0.95, 0.95))

    return scene_traversal(make, blurred=False)


def test_without_a_room_pack_the_wall_is_the_upper_background():
    frames = wall_turning_red_to_blue()
    assert set(texts(describe_traversal(frames, VALUES))) == {"The wall turns from red to blue."}
    no_room = Vocabulary(name="flat only", flat=DSPRITES_FLAT, room=None)
    assert set(texts(describe_traversal(frames, VALUES, vocabulary=no_room))) == {
        "The upper background turns from red to blue."
    }


def test_the_flat_pack_gives_the_shape_names_and_their_articles():
    frames = traversal("shape", spread(0, 2), blurred=True)
    default = texts(describe_traversal(frames, VALUES, vocabulary=DEFAULT_VOCABULARY))
    assert set(default) == {"The object changes shape from a square to an ellipse and then to a heart."}
    no_heart = replace(
        DSPRITES_FLAT,
        name="no heart",
        prototypes={name: p for name, p in DSPRITES_FLAT.prototypes.items() if name != "heart"},
        articles={},
    )
    described = texts(describe_traversal(frames, VALUES, vocabulary=replace(DEFAULT_VOCABULARY, flat=no_heart)))
    # no heart prototype: the heart frames go unnamed; no articles: "a ellipse"
    assert set(described) == {"The object changes shape from a square to a ellipse."}
