"""Tests for tools/describe/scene_layout.py: which frames show a wall above a floor."""

from __future__ import annotations

import numpy as np
import torch

from tests.tools.describe.test_describer import portrait
from tests.tools.describe.test_measurements import BLUE, GREEN, RED, YELLOW, coloured_scene, gaussian_blur, sprites
from tools.data.shapes3d import render, sample_factors
from tools.describe.scene_layout import horizon_tilt, room_frames

NO_OBJECT = np.array([np.nan])


def test_procedural_3dshapes_scenes_are_rooms_even_with_one_hue_for_floor_and_wall():
    factors = sample_factors(60, torch.Generator().manual_seed(0))
    factors[:20, 1] = factors[:20, 0]  # the wall takes the floor's hue: the shading still tells them apart
    factors[20:40, 5] = torch.tensor([0, 14] * 10)  # the camera at either end of its orbit: a slanted edge
    assert room_frames(render(factors).numpy(), np.full(60, 0.8)).all()


def test_a_drawn_room_sharp_and_blurred():
    frames = np.stack([coloured_scene(RED, BLUE, YELLOW), coloured_scene(GREEN, YELLOW, RED)])
    assert room_frames(frames, np.full(2, 0.82)).all()
    assert room_frames(gaussian_blur(frames[None])[0], np.full(2, 0.82)).all()


def test_plain_backdrops_and_portraits_are_not_rooms():
    sprite = sprites([[0, 3, 5, 16, 16]])
    assert not room_frames(sprite, np.array([0.6])).any()
    assert not room_frames(np.stack([coloured_scene(RED, RED, YELLOW)]), np.array([0.82])).any()  # one colour
    assert not room_frames(portrait((0.35, 0.2, 0.1))[None], NO_OBJECT).any()
    grey_top = coloured_scene((0.5, 0.5, 0.5), BLUE, RED)
    assert not room_frames(grey_top[None], np.array([0.99])).any()  # the object reaches the bottom edge


def test_horizon_tilt_follows_the_camera_orbit():
    """The floor-wall edge rises to the right as the camera orbits right, about 8 degrees at
    either end, level in the middle, whatever the object and its hues."""
    from tools.describe.measurements import measure_batch

    factors = torch.tensor([[3, 6, 1, 7, shape, orientation] for shape in (0, 3) for orientation in (0, 7, 14)])
    frames = render(factors).numpy()
    tilt = horizon_tilt(frames, measure_batch(frames).bbox).reshape(2, 3)
    assert (np.abs(tilt[:, 0] + 8.3) < 1.0).all() and (np.abs(tilt[:, 1]) < 0.5).all()
    assert (np.abs(tilt[:, 2] - 8.3) < 1.0).all()
    assert np.abs(horizon_tilt(gaussian_blur(frames[None])[0], measure_batch(frames).bbox) - tilt.ravel()).max() < 1.0


def test_no_tilt_without_a_visible_edge():
    sprite = sprites([[0, 3, 5, 16, 16]])
    assert np.isnan(horizon_tilt(sprite, np.full((1, 4), np.nan))).all()
