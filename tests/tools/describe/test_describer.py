"""The offline analytic describer (tools/describe/describer.py) on ground-truth traversals: dSprites with
one factor varied (sharp, and blurred like decoded VAE frames), synthetic coloured scenes, an
object fading out, and traversals that disagree across anchors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agent.errors import UserError
from tests.tools.describe.test_measurements import (
    BLUE,
    GREEN,
    PURPLE,
    RED,
    YELLOW,
    coloured_scene,
    gaussian_blur,
    sprites,
)
from tools.describe.describer import NO_CHANGE_TEXT, describe_traversal

K = 11
VALUES = np.linspace(-3.0, 3.0, K)
# Anchors: (shape, scale, orientation, posX, posY) factor indices, one of each shape.
ANCHORS = [[0, 3, 5, 8, 20], [1, 4, 10, 20, 10], [2, 2, 0, 15, 15], [0, 5, 30, 25, 25], [2, 5, 12, 10, 22]]
COLUMN = {"shape": 0, "scale": 1, "orientation": 2, "posX": 3, "posY": 4}


def traversal(factor: str | None, indices: list[int] | None = None, blurred: bool = False) -> np.ndarray:
    """(A, K, 1, 64, 64) dSprites frames with `factor` set to `indices` along the traversal
    (nothing varied when factor is None)."""
    rows = []
    for anchor in ANCHORS:
        for k in range(K):
            row = list(anchor)
            if factor is not None:
                row[COLUMN[factor]] = indices[k]
            rows.append(row)
    frames = sprites(rows).reshape(len(ANCHORS), K, 1, 64, 64)
    return gaussian_blur(frames) if blurred else frames


def spread(low: int, high: int) -> list[int]:
    return [int(round(v)) for v in np.linspace(low, high, K)]


def texts(description) -> list[str]:
    return [sample.text for sample in description.samples]


CASES = [
    ("posX", spread(0, 31), "The object moves from left to right."),
    ("posX", spread(31, 0), "The object moves from right to left."),
    ("posY", spread(31, 0), "The object moves upward."),
    ("posY", spread(0, 31), "The object moves downward."),
    ("scale", spread(0, 5), "The object gets bigger."),
    ("scale", spread(5, 0), "The object gets smaller."),
    ("orientation", spread(0, 20), "rotates"),
    ("shape", spread(0, 2), "changes shape"),
]


@pytest.mark.parametrize("blurred", [False, True], ids=["sharp", "blurred"])
@pytest.mark.parametrize("factor, indices, expected", CASES, ids=[f"{c[0]}-{c[1][0]}-{c[1][-1]}" for c in CASES])
def test_single_factor_traversals_are_named_by_every_anchor(factor, indices, expected, blurred):
    description = describe_traversal(traversal(factor, indices, blurred), VALUES)
    assert all(sample.visible_change for sample in description.samples)
    for text in texts(description):
        assert expected in text
    assert len(set(texts(description))) == 1  # same change, same words: agreement is certainty
    assert description.measurements["text_agreement"] == 1.0


def test_strongest_change_comes_first_with_its_measurements():
    description = describe_traversal(traversal("posX", spread(0, 31)), VALUES)
    for sample in description.samples:
        first = sample.changes[0]
        assert (first.quantity, first.phrase, first.monotonic) == ("position_x", "moves from left to right", True)
        assert first.strength > 10
        strengths = [c.strength for c in sample.changes]
        assert strengths == sorted(strengths, reverse=True)
    summary = description.measurements["quantities"]["position_x"]
    assert summary["agreement"] == 1.0
    assert summary["mean_change"] == pytest.approx(0.625, abs=0.02)  # 40 of 64 pixels
    assert description.measurements["backend"] == "offline-analytic"
    json.dumps(description.measurements, allow_nan=False)


def test_known_shapes_are_named():
    description = describe_traversal(traversal("shape", spread(0, 2), blurred=True), VALUES)
    for text in texts(description):
        assert text == "The object changes shape from a square to an ellipse and then to a heart."


@pytest.mark.parametrize("blurred", [False, True], ids=["sharp", "blurred"])
def test_nothing_varies_gives_no_clear_change(blurred):
    description = describe_traversal(traversal(None, blurred=blurred), VALUES)
    for sample in description.samples:
        assert (sample.text, sample.changes, sample.visible_change) == (NO_CHANGE_TEXT, [], False)
    assert description.pixel_change == 0.0
    assert description.measurements["visible_fraction"] == 0.0


def test_two_changes_of_equal_size_are_both_named_in_one_sentence():
    frames = []
    for anchor in ANCHORS:
        rows = [[*anchor[:3], x, 31 - x] for x in spread(0, 31)]
        frames.append(sprites(rows))
    description = describe_traversal(gaussian_blur(np.stack(frames)), VALUES)
    assert set(texts(description)) == {"The object moves from left to right and upward."}


def test_anchors_that_disagree_give_different_texts():
    """Half the anchors move right, half left: the quantity is shared but the words differ,
    so the agreement-based certainty downstream is low."""
    frames = []
    for i, anchor in enumerate(ANCHORS):
        xs = spread(0, 31) if i % 2 == 0 else spread(31, 0)
        frames.append(sprites([[*anchor[:3], x, anchor[4]] for x in xs]))
    description = describe_traversal(np.stack(frames), VALUES)
    assert len(set(texts(description))) == 2
    assert description.measurements["text_agreement"] == pytest.approx(0.6)
    assert description.measurements["quantities"]["position_x"]["agreement"] == 1.0


@pytest.mark.parametrize("blurred", [False, True], ids=["sharp", "blurred"])
def test_object_fading_out_disappears(blurred):
    fade = np.linspace(1.0, 0.0, K, dtype=np.float32)[None, :, None, None, None]
    frames = traversal(None, blurred=blurred) * fade
    description = describe_traversal(frames, VALUES)
    assert set(texts(description)) == {"The object disappears."}


def test_background_brightening_on_grey_frames():
    frames = traversal(None) * 0.8 + np.linspace(0.0, 0.2, K, dtype=np.float32)[None, :, None, None, None]
    assert set(texts(describe_traversal(frames, VALUES))) == {"The image gets brighter."}


def grainy(frames: np.ndarray, size: int, sigma: float = 0.04, seed: int = 3) -> np.ndarray:
    """dSprites frames (A, K, 1, 64, 64) as a briefly trained diffusion model draws them: a grey
    object (0.85) on a grey background (0.3), at `size` pixels (32: 2x2 means), with fresh
    Gaussian grain of spread `sigma` in every frame."""
    if size == 32:
        frames = frames.reshape(*frames.shape[:3], 32, 2, 32, 2).mean(axis=(4, 6))
    noise = np.random.default_rng(seed).normal(0.0, sigma, frames.shape)
    return np.clip(0.3 + 0.55 * frames + noise, 0.0, 1.0).astype(np.float32)


@pytest.mark.parametrize("size", [64, 32])
def test_grain_on_one_fixed_render_is_not_a_shape_change(size):
    """Only the grain changes from frame to frame: the ragged outline's form moves by itself,
    and no more than the frame's own noise moves it (tools/describe/noise.py)."""
    description = describe_traversal(grainy(traversal(None, blurred=True), size), VALUES)
    for sample in description.samples:
        assert sample.visible_change
        assert sample.text == "The image changes slightly all over.", [(c.quantity, c.strength) for c in sample.changes]


@pytest.mark.parametrize("size", [64, 32])
def test_square_to_ellipse_under_the_same_grain_is_a_shape_change(size):
    description = describe_traversal(grainy(traversal("shape", [0] * 6 + [1] * 5, blurred=True), size), VALUES)
    named = [text for text in texts(description) if "changes shape" in text]
    assert len(named) >= 4, texts(description)
    assert description.measurements["most_common_text"] == "The object changes shape from a square to an ellipse."


def test_a_second_blob_growing_apart_is_not_a_shape_change():
    """A diffusion sample may hold a second, smaller blob: the object's form is that of its
    largest piece, so the second blob's growth moves the centre of mass but changes no shape."""
    main = sprites([[2, 5, 0, 8, 8]] * K)
    second = sprites([[1, scale, 0, 28, 28] for scale in spread(0, 5)])
    description = describe_traversal(gaussian_blur(np.maximum(main, second))[None], VALUES)
    assert description.samples[0].text == "The object moves from left to right and downward."
    assert "shape" not in {change.quantity for change in description.samples[0].changes}


def scene_traversal(make, blurred: bool) -> np.ndarray:
    """(A, K, 3, 64, 64) coloured scenes: make(anchor, t) -> (3, 64, 64) for t in [0, 1]."""
    backgrounds = [(BLUE, YELLOW), (GREEN, PURPLE), (YELLOW, BLUE), (PURPLE, GREEN)]
    frames = np.stack([np.stack([make(wall, floor, t) for t in np.linspace(0, 1, K)]) for wall, floor in backgrounds])
    return gaussian_blur(frames) if blurred else frames


@pytest.mark.parametrize("blurred", [False, True], ids=["sharp", "blurred"])
def test_object_colour_change_is_named(blurred):
    def make(wall, floor, t):
        return coloured_scene(wall, floor, RED if t < 0.5 else (0.95, 0.95, 0.95))

    description = describe_traversal(scene_traversal(make, blurred), VALUES)
    assert set(texts(description)) == {"The object turns from red to white."}


@pytest.mark.parametrize("blurred", [False, True], ids=["sharp", "blurred"])
def test_wall_colour_change_is_named(blurred):
    def make(wall, floor, t):
        return coloured_scene(RED if t < 0.5 else BLUE, floor, (0.95, 0.95, 0.95))

    description = describe_traversal(scene_traversal(make, blurred), VALUES)
    assert set(texts(description)) == {"The wall turns from red to blue."}  # a wall above a floor: a room


def test_whole_background_colour_change_is_named_once():
    def make(wall, floor, t):
        colour = GREEN if t < 0.5 else PURPLE
        return coloured_scene(colour, colour, (0.95, 0.95, 0.95))

    description = describe_traversal(scene_traversal(make, False), VALUES)
    assert set(texts(description)) == {"The background turns from green to purple."}


@pytest.mark.parametrize("blurred", [False, True], ids=["sharp", "blurred"])
def test_object_moving_on_a_coloured_background_is_movement(blurred):
    def make(wall, floor, t):
        return coloured_scene(wall, floor, RED, cx=0.2 + 0.6 * t)

    description = describe_traversal(scene_traversal(make, blurred), VALUES)
    assert set(texts(description)) == {"The object moves from left to right."}


def portrait(hair, size: int = 64) -> np.ndarray:
    """A face-like RGB picture (3, H, W): grey background, hair over the top of a skin-coloured
    head, dark eyes and mouth."""
    y, x = (np.mgrid[0:size, 0:size] + 0.5) / size
    image = np.ones((size, size, 3)) * np.array([0.6, 0.6, 0.65])
    image[((x - 0.5) / 0.32) ** 2 + ((y - 0.42) / 0.36) ** 2 < 1] = hair
    image[(((x - 0.5) / 0.28) ** 2 + ((y - 0.5) / 0.36) ** 2 < 1) & (y > 0.3)] = (0.9, 0.7, 0.6)
    for eye in (0.4, 0.6):
        image[((x - eye) / 0.04) ** 2 + ((y - 0.45) / 0.025) ** 2 < 1] = (0.2, 0.1, 0.1)
    image[((x - 0.5) / 0.08) ** 2 + ((y - 0.68) / 0.015) ** 2 < 1] = (0.6, 0.2, 0.2)
    return image.transpose(2, 0, 1).astype(np.float32)


def test_hair_colour_of_a_portrait_is_named():
    """Only the top of the object changes colour: that region is named, not the whole object."""
    blond = np.array([0.9, 0.8, 0.3])
    frames = np.stack(
        [
            np.stack([portrait(tuple(np.array(hair) * (1 - t) + blond * t)) for t in np.linspace(0, 1, K)])
            for hair in ((0.35, 0.2, 0.1), (0.45, 0.25, 0.08))
        ]
    )
    description = describe_traversal(gaussian_blur(frames), VALUES)
    assert set(texts(description)) == {"The top of the object turns from brown to yellow."}


def test_pixel_change_without_a_named_quantity_says_where():
    """A small patch in the lower right corner changes inside a big object: no measured
    quantity moves, but the pixels do."""
    frames = np.zeros((2, K, 1, 64, 64), np.float32)
    frames[:, :, :, 8:56, 8:56] = 0.8
    frames[:, :, :, 40:52, 40:52] = np.linspace(0.8, 0.7, K, dtype=np.float32)[None, :, None, None, None]
    description = describe_traversal(frames, VALUES)
    for sample in description.samples:
        assert sample.visible_change
        assert sample.text == "The image changes slightly in the lower right."


@pytest.mark.parametrize(
    "frames, values, message",
    [
        (np.zeros((K, 1, 64, 64)), VALUES, "expected (A, K, C, H, W)"),
        (np.zeros((2, 1, 1, 64, 64)), VALUES[:1], "at least 1 anchor of 2 frames"),
        (np.zeros((2, K, 1, 64, 64)), VALUES[:-1], "one value per frame"),
        (np.zeros((2, K, 1, 64, 64)), VALUES[::-1], "lowest to highest"),
        (np.zeros((2, K, 2, 64, 64)), VALUES, "C = 1 or 3"),
    ],
)
def test_bad_inputs_are_user_errors(frames, values, message):
    with pytest.raises(UserError) as error:
        describe_traversal(frames, values)
    assert message in str(error.value)


@pytest.mark.parametrize("blurred", [False, True], ids=["sharp", "blurred"])
def test_floor_colour_change_is_named_in_a_room(blurred):
    def make(wall, floor, t):
        return coloured_scene(wall, RED if t < 0.5 else BLUE, (0.95, 0.95, 0.95))

    description = describe_traversal(scene_traversal(make, blurred), VALUES)
    assert set(texts(description)) == {"The floor turns from red to blue."}


@pytest.mark.parametrize("factor, subject, other", [(0, "floor", "wall"), (1, "wall", "floor")])
def test_procedural_3dshapes_floor_and_wall_hues_are_told_apart(factor, subject, other):
    """Renders of tools/data/shapes3d.py with one hue swept over its ten values (the colour circle,
    so it comes back): the region is named by what it is, and its change does not become a
    change of the object's outline (its shadow on the floor is floor)."""
    import torch

    from tools.data.shapes3d import render, sample_factors
    from tools.evaluation.factor_naming import named_factors

    anchors = sample_factors(5, torch.Generator().manual_seed(0))
    factors = anchors[:, None, :].repeat(1, 7, 1)
    factors[:, :, factor] = torch.tensor([0, 2, 3, 5, 6, 8, 9])
    description = describe_traversal(render(factors.reshape(-1, 6)).numpy().reshape(5, 7, 3, 64, 64), range(7))
    named = [named_factors(text) for text in texts(description)]
    assert sum(f"{subject}_hue" in n for n in named) >= 4, texts(description)
    assert not any(f"{other}_hue" in n for n in named), texts(description)


def solid_traversal(scene: tuple[int, int, int, int, int], shapes: list[int], scales: list[int]) -> np.ndarray:
    """(1, K, 3, 64, 64) renders of tools/data/shapes3d.py: scene = (floor_hue, wall_hue,
    object_hue, scale, orientation) factor indices, the shape and the scale index per frame
    (scales empty: the scene's)."""
    import torch

    from tools.data.shapes3d import render

    floor, wall, obj, scale, orientation = scene
    scales = scales or [scale] * len(shapes)
    rows = [[floor, wall, obj, s, shape, orientation] for shape, s in zip(shapes, scales, strict=True)]
    return render(torch.tensor(rows)).numpy()[None]


@pytest.mark.parametrize(
    "scene, shapes, expected",
    [
        ((0, 5, 7, 4, 7), [1, 1, 1, 2, 2, 2, 2], "The object changes shape from a cylinder to a sphere."),
        ((2, 8, 5, 3, 3), [3, 3, 3, 2, 2, 2, 2], "The object changes shape from a capsule to a sphere."),
    ],
    ids=["cylinder-sphere", "capsule-sphere"],
)
def test_solids_in_a_room_are_named(scene, shapes, expected):
    """In a room the named forms are 3DShapes' solids, not dSprites' flat shapes; a change
    between named solids is credible on a coloured traversal."""
    description = describe_traversal(solid_traversal(scene, shapes, []), range(len(shapes)))
    assert texts(description) == [expected]


def test_a_growing_solid_in_a_room_gets_bigger():
    """A cylinder's eight scales: a size change, not a change of solid."""
    description = describe_traversal(solid_traversal((0, 5, 7, 0, 7), [1] * 7, [0, 1, 2, 4, 5, 6, 7]), range(7))
    assert texts(description) == ["The object gets bigger."]


def test_the_camera_orbit_is_the_view_turning():
    """Renders of tools/data/shapes3d.py with the orientation swept from -30 to +30 degrees (the
    camera moves to its left around the object): the floor-wall edge comes to rise to the
    right, which is the view turning, whatever the object; swept back, it turns the other way;
    in a room whose edge stays level an object that moves is not a view turning."""
    import torch

    from tools.data.shapes3d import render, sample_factors
    from tools.evaluation.factor_naming import named_factors

    anchors = sample_factors(5, torch.Generator().manual_seed(3))
    factors = anchors[:, None, :].repeat(1, 7, 1)
    factors[:, :, 5] = torch.tensor([0, 2, 5, 7, 9, 12, 14])
    frames = render(factors.reshape(-1, 6)).numpy().reshape(5, 7, 3, 64, 64)
    forward = texts(describe_traversal(frames, range(7)))
    assert set(forward) == {"The view turns around the object from right to left."}, forward
    assert "orientation" in named_factors(forward[0])
    backward = texts(describe_traversal(frames[:, ::-1].copy(), range(7)))
    assert set(backward) == {"The view turns around the object from left to right."}, backward
    moving = np.stack([coloured_scene(RED, BLUE, YELLOW, cx=x) for x in np.linspace(0.3, 0.7, 7)])[None]
    assert texts(describe_traversal(moving, range(7))) == ["The object moves from left to right."]


def test_flat_shapes_drawn_in_a_room_keep_their_flat_names():
    """A dSprites square, ellipse and heart painted yellow over a drawn wall and floor: the
    scene is a room, but the flat names fit these outlines better than the solids do."""
    masks = sprites([[shape, 5, 0, 16, 20] for shape in (0, 0, 0, 1, 1, 2, 2)])[:, 0] > 0.5  # (7, 64, 64)
    room = coloured_scene(RED, BLUE, YELLOW, half=0.0)
    frames = np.stack([np.where(mask[None], np.asarray(YELLOW, dtype=np.float32)[:, None, None], room) for mask in masks])
    assert texts(describe_traversal(frames[None], range(7))) == [
        "The object changes shape from a square to an ellipse and then to a heart."]
