"""Per-frame measurements (tools/describe/measurements.py) and colour names (tools/describe/colour_names.py),
checked against dSprites renders with known factors, their blurred versions (decoded VAE frames
are blurry) and small synthetic coloured scenes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from agent.errors import UserError
from tools.data.dsprites import render
from tools.describe.colour_names import COLOUR_NAMES, name_colour, name_colours, rgb_to_hsv
from tools.describe.measurements import form_distance, measure_batch, measure_frames


def gaussian_blur(frames: np.ndarray, sigma: float = 1.2) -> np.ndarray:
    """Separable Gaussian blur of (..., H, W) frames, edges padded; values stay in [0, 1]."""
    radius = int(3 * sigma) + 1
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    height, width = frames.shape[-2:]
    pad = [(0, 0)] * (frames.ndim - 2) + [(radius, radius), (radius, radius)]
    padded = np.pad(frames, pad, mode="edge")
    rows = sum(k * padded[..., i : i + height, :] for i, k in enumerate(kernel))
    out = sum(k * rows[..., :, i : i + width] for i, k in enumerate(kernel))
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def sprites(rows: list[list[int]]) -> np.ndarray:
    """dSprites factor rows (shape, scale, orientation, posX, posY) -> (N, 1, 64, 64).
    Rendered on one thread: these batches are tiny and the machine may be busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return render(torch.tensor(rows)).numpy()
    finally:
        torch.set_num_threads(threads)


def coloured_scene(wall, floor, obj, cx=0.5, cy=0.7, half=0.12, size=64) -> np.ndarray:
    """A 3DShapes-like RGB scene (3, H, W): a shaded wall above y = 0.55, a shaded floor below,
    and a square object of half-width `half` centred at (cx, cy) (fractions, y down)."""
    y, x = (np.mgrid[0:size, 0:size] + 0.5) / size
    wall_shade = (0.85 + 0.15 * y / 0.55)[..., None]
    floor_shade = (0.8 + 0.2 * (y - 0.55) / 0.45)[..., None]
    image = np.where((y < 0.55)[..., None], np.asarray(wall) * wall_shade, np.asarray(floor) * floor_shade)
    inside = (np.abs(x - cx) < half) & (np.abs(y - cy) < half)
    image = np.where(inside[..., None], np.asarray(obj), image)
    return np.clip(image.transpose(2, 0, 1), 0, 1).astype(np.float32)


RED, GREEN, BLUE, YELLOW, PURPLE = (0.9, 0.1, 0.1), (0.1, 0.8, 0.2), (0.1, 0.3, 0.9), (0.9, 0.85, 0.1), (0.55, 0.1, 0.8)


@pytest.mark.parametrize("blurred", [False, True])
def test_centroid_follows_position_with_y_downward(blurred):
    frames = sprites([[0, 2, 0, x, y] for x, y in [(0, 16), (31, 16), (16, 0), (16, 31)]])
    frames = gaussian_blur(frames) if blurred else frames
    m = measure_batch(frames)
    assert m.centroid_x[1] - m.centroid_x[0] > 0.5
    assert abs(m.centroid_y[1] - m.centroid_y[0]) < 0.02
    assert m.centroid_y[3] - m.centroid_y[2] > 0.5  # posY grows downward, and so does centroid_y
    assert np.allclose(m.centroid_x[2:], 0.5, atol=0.02)


def test_area_and_bbox_of_an_axis_aligned_square():
    frames = sprites([[0, 5, 0, 16, 16]])
    pixels = frames.sum()
    m = measure_batch(frames)
    assert m.area[0] * 64 * 64 == pytest.approx(pixels, rel=1e-4)
    x0, y0, x1, y1 = m.bbox[0] * 64
    assert (x1 - x0) * (y1 - y0) == pytest.approx(pixels)
    assert m.extent[0] == pytest.approx(1.0)
    assert m.solidity[0] == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("blurred", [False, True])
def test_area_grows_with_scale(blurred):
    frames = sprites([[1, s, 7, 16, 16] for s in range(6)])
    frames = gaussian_blur(frames) if blurred else frames
    area = measure_batch(frames).area
    assert np.all(np.diff(area) > 0)
    assert area[-1] / area[0] == pytest.approx(4.0, rel=0.15)  # scale 0.5 -> 1 quadruples the area


@pytest.mark.parametrize("blurred", [False, True])
def test_principal_axis_of_an_ellipse_is_counterclockwise(blurred):
    orientations = [0, 3, 6, 9]  # 0, 27, 54, 81 degrees clockwise in the image (dSprites rotates with y down)
    frames = sprites([[1, 5, o, 16, 16] for o in orientations])
    frames = gaussian_blur(frames) if blurred else frames
    m = measure_batch(frames)
    expected = -np.array(orientations) * 9.0
    assert np.allclose(m.orientation_deg, expected, atol=3.0)
    assert np.all(m.elongation > 1.7)


def test_rotation_of_shapes_without_a_principal_axis():
    """A square's angle comes from its 4-fold moment (mod 90 degrees), a heart's from its
    strongest order; both turn by the rendered angle, counterclockwise being positive."""
    for shape, period in ((0, 90.0), (2, 120.0)):
        frames = sprites([[shape, 5, o, 16, 16] for o in (0, 2)])  # 0 and 18 degrees clockwise
        m = measure_batch(gaussian_blur(frames))
        assert m.symmetry_order[0] == {0: 4, 2: 3}[shape]
        turn = (m.rotation_deg[1] - m.rotation_deg[0] + period / 2) % period - period / 2
        assert turn == pytest.approx(-18.0, abs=3.0)


@pytest.mark.parametrize("blurred", [False, True])
def test_shape_names_of_dsprites_forms(blurred):
    rows = [[shape, scale, orientation, 16, 16] for shape in range(3) for scale in (1, 4) for orientation in (0, 5, 13)]
    frames = sprites(rows)
    frames = gaussian_blur(frames) if blurred else frames
    names = measure_batch(frames).shape_name.reshape(3, -1)
    for shape, expected in enumerate(("square", "ellipse", "heart")):
        assert list(names[shape]).count(expected) >= 5, names[shape]


def test_form_distance_separates_shapes_more_than_rotation_and_scale():
    frames = gaussian_blur(sprites([[0, 5, 0, 16, 16], [0, 4, 5, 16, 16], [1, 5, 0, 16, 16], [2, 5, 0, 16, 16]]))
    form = measure_batch(frames).form
    same = form_distance(form[0], form[1])
    assert same < 2.0
    assert form_distance(form[0], form[2]) > 3 * same
    assert form_distance(form[0], form[3]) > 3 * same


def test_blank_frame_has_no_object_and_still_gives_json():
    frames = np.concatenate([np.zeros((1, 1, 64, 64), np.float32), sprites([[0, 3, 0, 16, 16]])])
    records = measure_frames(frames)
    json.dumps(records, allow_nan=False)
    assert records[0]["object_present"] == 0.0
    assert records[0]["centroid_x"] is None and records[0]["shape_name"] == "none"
    assert records[1]["object_present"] == 1.0
    assert records[1]["centroid_x"] == pytest.approx(0.5, abs=0.02)


def test_faint_ghost_does_not_move_the_mask():
    frame = gaussian_blur(sprites([[0, 3, 0, 8, 16]]))
    ghost = 0.15 * gaussian_blur(sprites([[0, 3, 0, 28, 16]]))
    m = measure_batch(np.clip(frame + ghost, 0, 1))
    clean = measure_batch(frame)
    assert m.centroid_x[0] == pytest.approx(clean.centroid_x[0], abs=0.03)


@pytest.mark.parametrize("blurred", [False, True])
def test_object_on_a_two_coloured_background(blurred):
    """The object straddles the wall / floor boundary and stands out from each by a different
    amount; the boundary itself (a blend when blurred) is not part of the object."""
    frames = np.stack([coloured_scene(BLUE, YELLOW, RED, cx=cx, cy=0.58) for cx in (0.3, 0.7)])
    frames = gaussian_blur(frames) if blurred else frames
    m = measure_batch(frames)
    assert np.allclose(m.centroid_x, [0.3, 0.7], atol=0.03)
    assert np.allclose(m.centroid_y, 0.58, atol=0.03)
    assert np.allclose(m.area, 0.24**2, rtol=0.2)
    records = measure_frames(frames)
    assert records[0]["object_colour_name"] == "red"
    assert records[0]["top_colour_name"] == "blue"
    assert records[0]["bottom_colour_name"] == "yellow"


def test_global_statistics_of_grey_and_coloured_frames():
    grey = np.full((1, 1, 16, 16), 0.5, np.float32)
    red = np.zeros((1, 3, 16, 16), np.float32)
    red[:, 0] = 1.0
    g, r = measure_batch(grey), measure_batch(red)
    assert g.brightness[0] == pytest.approx(0.5) and g.saturation[0] == pytest.approx(0.0)
    assert np.isnan(g.hue_deg[0]) and not g.present[0]
    assert r.saturation[0] == pytest.approx(1.0) and r.hue_deg[0] == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize(
    "frames, message",
    [
        (np.zeros((2, 64, 64)), "expected (N, C, H, W)"),
        (np.zeros((2, 2, 64, 64)), "C = 1 or 3"),
        (np.full((1, 1, 64, 64), 2.0), "expected values in [0, 1]"),
        (np.full((1, 1, 64, 64), np.nan), "NaN"),
        (np.zeros((1, 1, 4, 4)), "too small"),
    ],
)
def test_bad_frames_are_user_errors(frames, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        measure_frames(frames)


@pytest.mark.parametrize(
    "rgb, name",
    [
        ((0.9, 0.1, 0.1), "red"),
        ((1.0, 0.55, 0.0), "orange"),
        ((0.95, 0.9, 0.1), "yellow"),
        ((0.1, 0.8, 0.2), "green"),
        ((0.1, 0.85, 0.85), "cyan"),
        ((0.1, 0.3, 0.9), "blue"),
        ((0.55, 0.1, 0.8), "purple"),
        ((0.95, 0.3, 0.7), "pink"),
        ((1.0, 0.7, 0.7), "pink"),
        ((0.5, 0.3, 0.1), "brown"),
        ((0.95, 0.95, 0.95), "white"),
        ((0.5, 0.5, 0.52), "grey"),
        ((0.05, 0.05, 0.1), "black"),
    ],
)
def test_colour_names(rgb, name):
    assert name_colour(rgb) == name
    assert name in COLOUR_NAMES


def test_colour_names_of_3dshapes_hues_and_missing_regions():
    import colorsys

    hues = [name_colour(colorsys.hsv_to_rgb(h / 10, 1.0, 1.0)) for h in range(10)]
    assert hues == ["red", "orange", "green", "green", "green", "cyan", "blue", "blue", "purple", "pink"]
    assert list(name_colours(np.array([[np.nan, 0, 0], [0, 0, 0]]))) == ["none", "black"]
    hue, saturation, value = rgb_to_hsv(np.array([0.0, 0.0, 1.0]))
    assert (float(hue), float(saturation), float(value)) == (240.0, 1.0, 1.0)


def test_a_shadow_on_a_coloured_floor_is_floor_not_object():
    """The scene's object with a darker patch of floor beside it (a cast shadow, 0.55 of the
    floor's colour): the object's area and centre are the object's alone."""
    plain = coloured_scene(BLUE, YELLOW, RED)
    shadowed = plain.copy()
    y, x = (np.mgrid[0:64, 0:64] + 0.5) / 64
    patch = (x > 0.62) & (x < 0.85) & (y > 0.6) & (y < 0.82)
    shadowed[:, patch] *= 0.55
    m = measure_batch(np.stack([plain, shadowed]))
    assert m.area[1] == pytest.approx(m.area[0], rel=0.05)
    assert m.centroid_x[1] == pytest.approx(m.centroid_x[0], abs=0.01)


def grey_with_grain(frames: np.ndarray, sigma: float, seed: int = 5) -> np.ndarray:
    """Renders (N, 1, H, W) as a grey object (0.85) on a grey background (0.3) with Gaussian
    grain of spread sigma (a briefly trained diffusion model's frames)."""
    noise = np.random.default_rng(seed).normal(0.0, sigma, frames.shape)
    return np.clip(0.3 + 0.55 * frames + noise, 0.0, 1.0).astype(np.float32)


def test_pixel_noise_of_clean_and_grainy_frames():
    frames = sprites([[0, 3, 5, 16, 16], [2, 5, 10, 20, 8]])
    clean = measure_batch(np.concatenate([frames, gaussian_blur(frames), 0.3 + 0.55 * gaussian_blur(frames)]))
    assert np.all(clean.noise_level < 0.002)
    assert measure_batch(coloured_scene(BLUE, YELLOW, RED)[None]).noise_level[0] < 0.002  # shading is not grain
    for sigma in (0.02, 0.05):
        grainy = measure_batch(grey_with_grain(gaussian_blur(frames), sigma))
        assert np.allclose(grainy.noise_level, sigma, rtol=0.2)
    json.dumps(measure_frames(frames), allow_nan=False)


def test_specks_of_grain_are_not_the_object():
    """Grain lifts a few pixels here and there above the object's half-maximum level; those
    specks are background: the object keeps its place and about its form (counted with the
    object, the specks moved its centre by 0.05 and its form by 50 units). Grain also raises
    the local maximum, so the half-maximum outline shrinks a little in every frame alike."""
    frames = gaussian_blur(sprites([[0, 2, 0, 6, 6], [1, 3, 7, 25, 20], [2, 4, 3, 12, 25]]))
    clean = measure_batch(grey_with_grain(frames, 0.0))
    grainy = measure_batch(grey_with_grain(frames, 0.06))
    assert np.allclose(grainy.centroid_x, clean.centroid_x, atol=0.01)
    assert np.allclose(grainy.centroid_y, clean.centroid_y, atol=0.01)
    assert np.allclose(grainy.area, clean.area, rtol=0.25)
    assert np.all(form_distance(grainy.form, clean.form) < 8.0)


def test_form_and_rotation_are_those_of_the_largest_piece():
    """A second, smaller blob apart from the object moves the centre of mass and adds area,
    but the form, the shape's name and the rotation angle are the larger piece's."""
    square = sprites([[0, 5, 3, 8, 8]])
    pair = np.maximum(square, sprites([[1, 0, 0, 28, 28]]))
    m = measure_batch(gaussian_blur(np.concatenate([square, pair])))
    assert form_distance(m.form[0], m.form[1]) < 0.5
    assert m.shape_name[0] == m.shape_name[1] == "square"
    assert m.rotation_deg[1] == pytest.approx(m.rotation_deg[0], abs=1.0)
    assert m.centroid_x[1] > m.centroid_x[0] + 0.05 and m.area[1] > m.area[0]
