"""Traversal strips: files in order, frames in order and scaled, a legible value under each."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tools.traversal.strip import format_values, make_grid, make_strip, png_bytes, save_frames

# Solid frame colours that are neither the white background, the grey rule nor black text.
COLOURS = np.array([[1.0, 0.0, 0.0], [0.0, 0.6, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])


def solid_frames(colours: np.ndarray, size: int = 16) -> np.ndarray:
    """(K, 3, size, size) frames, frame k filled with colours[k]."""
    return np.broadcast_to(colours[:, :, None, None], (len(colours), 3, size, size)).copy()


def colour_runs(line: np.ndarray, colours: np.ndarray) -> list[tuple[int, int, int]]:
    """Runs of frame colours along one pixel line (N, 3) uint8: (colour index, start, length)."""
    targets = np.rint(colours * 255).astype(np.uint8)
    runs: list[tuple[int, int, int]] = []
    for x, pixel in enumerate(line):
        match = np.flatnonzero((targets == pixel).all(axis=1))
        if match.size == 0:
            continue
        if runs and runs[-1][0] == match[0] and runs[-1][1] + runs[-1][2] == x:
            runs[-1] = (runs[-1][0], runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((int(match[0]), x, 1))
    return runs


def ink(region: np.ndarray) -> np.ndarray:
    """Mask of dark (text) pixels in an (H, W, 3) uint8 region."""
    return (region < 100).all(axis=-1)


def test_save_frames_writes_one_png_per_frame_in_order(tmp_path):
    grey = np.linspace(0, 1, 5)[:, None, None, None] * np.ones((5, 1, 4, 6))
    paths = save_frames(grey, tmp_path / "frames", "z3")
    assert [p.name for p in paths] == [f"z3_{k:02d}.png" for k in range(5)]
    for k, path in enumerate(paths):
        pixels = np.asarray(Image.open(path))
        assert pixels.shape == (4, 6)
        assert (pixels == round(k / 4 * 255)).all()

    rgb = solid_frames(COLOURS, size=3)
    paths = save_frames(rgb, tmp_path, "rgb")
    for k, path in enumerate(paths):
        assert (np.asarray(Image.open(path)) == np.rint(COLOURS[k] * 255)).all()


def test_save_frames_names_sort_in_traversal_order_beyond_100(tmp_path):
    frames = np.linspace(0, 1, 101)[:, None, None, None] * np.ones((101, 1, 1, 1))
    paths = save_frames(frames, tmp_path, "a")
    assert sorted(paths) == paths
    assert paths[0].name == "a_000.png" and paths[-1].name == "a_100.png"


def test_strip_keeps_frame_order_and_scale():
    scale = 4
    image = make_strip(solid_frames(COLOURS), [-3, -1, 1, 3], "z3", scale=scale)
    pixels = np.asarray(image)
    runs = colour_runs(pixels[16 * scale // 2 + 6], COLOURS)
    assert [c for c, _, _ in runs] == [0, 1, 2, 3]
    assert all(length == 16 * scale for _, _, length in runs)
    assert image.width >= 4 * 16 * scale
    assert image.height > 16 * scale


def test_strip_draws_a_different_legible_value_under_each_frame():
    scale = 4
    image = make_strip(solid_frames(COLOURS), [-3.0, -1.5, 0.0, 1.5], "z3", scale=scale)
    pixels = np.asarray(image)
    runs = colour_runs(pixels[40], COLOURS)
    frame_bottom = max(y for y in range(pixels.shape[0]) if colour_runs(pixels[y], COLOURS))
    assert not ink(pixels[: frame_bottom + 1]).any(), "no text above or between frames"
    pitch = runs[1][1] - runs[0][1]
    labels = []
    for _, start, length in runs:
        centre = start + length // 2
        region = ink(pixels[frame_bottom + 1 :, centre - pitch // 2 : centre + pitch // 2])
        rows = np.flatnonzero(region.any(axis=1))
        assert rows.size, "a value is drawn under every frame"
        assert rows[-1] - rows[0] + 1 >= 9, "text tall enough to read"
        labels.append(region)
    for a in range(len(labels)):
        for b in range(a + 1, len(labels)):
            assert (labels[a] != labels[b]).any(), f"labels {a} and {b} look the same"


def test_strip_widens_columns_for_labels_wider_than_frames():
    tiny = solid_frames(COLOURS[:3], size=4)
    image = make_strip(tiny, [0.25, 0.5, 0.75], "alpha", scale=1)
    pixels = np.asarray(image)
    columns = np.flatnonzero(ink(pixels).any(axis=0))
    assert image.width > 3 * 4
    assert columns[0] > 0 and columns[-1] < image.width - 1, "labels are not clipped"
    assert [c for c, _, _ in colour_runs(pixels[8], COLOURS)] == [0, 1, 2]


def test_format_values_uses_one_style_per_traversal():
    assert format_values([-3, -1.5, 0, 1.5, 3]) == ["-3.0", "-1.5", "0.0", "1.5", "3.0"]
    assert format_values([0, 1, 2]) == ["0", "1", "2"]
    assert format_values(np.arange(2)) == ["0", "1"]
    assert format_values([0.25, -0.0]) == ["0.25", "0.00"]
    assert format_values(list(np.linspace(-3, 3, 11)))[4] == "-0.6"


def test_grid_rows_in_order_with_names():
    scale = 2
    rows = np.stack([solid_frames(COLOURS[:3]), solid_frames(COLOURS[1:])])
    image = make_grid(rows, [-1.0, 0.0, 1.0], ["anchor 1", "anchor 2"], "z0", scale=scale)
    pixels = np.asarray(image)
    first_column_x = colour_runs(pixels[10], COLOURS)[0][1] + 2
    assert [c for c, _, _ in colour_runs(pixels[:, first_column_x], COLOURS)] == [0, 1]
    row_tops = [start for _, start, _ in colour_runs(pixels[:, first_column_x], COLOURS)]
    for r, top in enumerate(row_tops):
        assert [c for c, _, _ in colour_runs(pixels[top + 2], COLOURS)] == [r, r + 1, r + 2]
    names = [ink(pixels[top : top + 16 * scale, :first_column_x]) for top in row_tops]
    assert names[0].any() and names[1].any()
    assert (names[0] != names[1]).any()


@pytest.mark.parametrize(
    ("frames", "values", "message"),
    [
        (np.zeros((3, 2, 4, 4)), [0, 1, 2], "C in"),
        (np.zeros((4, 4)), [0], "shape"),
        (np.full((2, 1, 4, 4), 3.0), [0, 1], r"\[0, 1\]"),
        (np.full((2, 1, 4, 4), np.nan), [0, 1], "NaN"),
        (np.zeros((3, 1, 4, 4)), [0, 1], "one value per frame"),
    ],
)
def test_bad_input_raises_a_clear_error(frames, values, message):
    with pytest.raises(ValueError, match=message):
        make_strip(frames, values, "z0")


def test_png_bytes_round_trips():
    image = make_strip(solid_frames(COLOURS[:2]), [0, 1], None)
    data = png_bytes(image)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    decoded = Image.open(io.BytesIO(data))
    assert decoded.size == image.size
    assert (np.asarray(decoded.convert("RGB")) == np.asarray(image)).all()
