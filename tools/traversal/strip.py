"""Traversal strips: the decoded frames of one traversal side by side, each labelled with its
perturbation value, as one image.

A strip is what a multimodal LLM sees in one request, so the layout puts legibility first:
frames in traversal order (lowest value on the left), each upscaled with nearest-neighbour so
pixels stay sharp, a white gutter between frames, a thin grey rule under the frames and under
each frame its value ("z3 = -3.0") in a font sized to the frame. A grid stacks several anchors,
one strip per row, with the row's name on its left and the values once, under the last row.

Layout of a grid (a strip is a grid with one row and no row names)::

    +--------+-------+---+-------+---+-------+
    |        | frame |gap| frame |gap| frame |    row 1
    | name 1 |       |   |       |   |       |
    +--------+-------+---+-------+---+-------+
    | name 2 | frame |   | frame |   | frame |    row 2 ...
    +--------+-------------------------------+
    |        |------------ rule -------------|
    |        |z3 = -3 |   | z3 = 0|   |z3 = 3 |    values
    +--------+-------------------------------+

Every column is as wide as the wider of its frame and its value text, so labels never overlap.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (255, 255, 255)
TEXT_COLOUR = (0, 0, 0)
RULE_COLOUR = (150, 150, 150)
GAP = 6  # pixels of white between frames, between rows and around the image
RULE = 2  # thickness of the rule between the frames and the value labels, pixels


def save_frames(frames: np.ndarray, folder: Path, prefix: str) -> list[Path]:
    """Write each frame as a PNG named prefix_00.png, prefix_01.png, ... in traversal order.

    frames: (K, C, H, W) float in [0, 1], C in {1, 3} (grey or RGB).
    Returns the K paths in the same order. The folder is created if missing; the index is
    zero-padded to at least two digits (more when K > 100) so names sort in order."""
    pixels = _to_uint8(frames)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    width = max(2, len(str(len(pixels) - 1)))
    paths = []
    for k, frame in enumerate(pixels):
        path = folder / f"{prefix}_{k:0{width}d}.png"
        image = Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame)
        image.save(path, format="PNG")
        paths.append(path)
    return paths


def make_strip(
    frames: np.ndarray, values: Sequence[float], label: str | None = None, scale: int = 2
) -> Image.Image:
    """One labelled strip: the K frames side by side in order, each upscaled `scale` times with
    nearest-neighbour, a thin rule, and under each frame its value as "<label> = <value>"
    (just the value when label is None; values written by `format_values`).

    frames: (K, C, H, W) float in [0, 1], C in {1, 3}; values: K numbers, frame k's value.
    Returns an RGB image at least K * W * scale pixels wide."""
    pixels = _to_uint8(frames)
    return _compose([pixels], _value_texts(values, label, len(pixels)), None, scale)


def make_grid(
    frames: np.ndarray, values: Sequence[float], row_labels: list[str], label: str, scale: int = 2
) -> Image.Image:
    """Several anchors of one traversal, one strip per row, each row named on its left
    (e.g. "anchor 1"), the values once under the last row.

    frames: (A, K, C, H, W) float in [0, 1], C in {1, 3}; values: K numbers shared by all rows;
    row_labels: A names. Returns an RGB image."""
    frames = np.asarray(frames)
    if frames.ndim != 5:
        raise ValueError(f"grid frames must be (A, K, C, H, W), got shape {frames.shape}")
    if len(row_labels) != frames.shape[0]:
        raise ValueError(f"{len(row_labels)} row labels for {frames.shape[0]} rows of frames")
    rows = [_to_uint8(row) for row in frames]
    return _compose(rows, _value_texts(values, label, frames.shape[1]), list(row_labels), scale)


def png_bytes(image: Image.Image) -> bytes:
    """The image encoded as PNG (lossless), e.g. for a data URL or an MLLM request."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def format_values(values: Sequence[float]) -> list[str]:
    """Perturbation values as a person writes them, in one style for the whole traversal:
    all-integer input (Python or NumPy ints) as "0", "1", "2"; otherwise the fewest decimals
    (one or two) that show every value, the same for all ("-3.0", "-1.5", "0.0"); values of
    magnitude 1e4 or more, or non-zero below 1e-2, in 3 significant digits."""
    values = list(values)
    if all(isinstance(v, int | np.integer) for v in values):
        return [str(int(v)) for v in values]
    floats = [float(v) for v in values]
    finite = [v for v in floats if math.isfinite(v)]
    decimals = 1 if all(abs(round(v, 1) - v) < 1e-9 for v in finite) else 2
    texts = []
    for v in floats:
        if not math.isfinite(v) or (v != 0 and not 1e-2 <= abs(v) < 1e4):
            texts.append(f"{v:.3g}")
        else:
            text = f"{v:.{decimals}f}"
            texts.append(text[1:] if text.startswith("-") and float(text) == 0 else text)
    return texts


def _value_texts(values: Sequence[float], label: str | None, count: int) -> list[str]:
    """The K label texts; checks there is one value per frame."""
    values = list(values)
    if len(values) != count:
        raise ValueError(f"{len(values)} values for {count} frames; give one value per frame")
    return [text if label is None else f"{label} = {text}" for text in format_values(values)]


def _to_uint8(frames: np.ndarray) -> np.ndarray:
    """(K, C, H, W) float in [0, 1] -> (K, H, W, C) uint8. Values outside [0, 1] by more than
    rounding error, NaNs, or a wrong shape raise ValueError: they mean the decoder's output was
    not turned into an image (e.g. logits), which clipping would hide."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[1] not in (1, 3) or frames.shape[0] == 0:
        raise ValueError(f"frames must be (K, C, H, W) with K >= 1 and C in {{1, 3}}, got shape {frames.shape}")
    frames = frames.astype(np.float64)
    if not np.isfinite(frames).all():
        raise ValueError("frames contain NaN or infinite values")
    low, high = float(frames.min()), float(frames.max())
    if low < -1e-4 or high > 1 + 1e-4:
        raise ValueError(f"frames must lie in [0, 1], got values in [{low:.3g}, {high:.3g}]")
    pixels = np.rint(np.clip(frames, 0.0, 1.0) * 255).astype(np.uint8)
    return pixels.transpose(0, 2, 3, 1)


def _font(frame_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """PIL's built-in font (no font files), sized to about a sixth of a frame's width, 12 to
    28 px; the fixed-size bitmap font when Pillow was built without FreeType."""
    size = min(28, max(12, frame_px // 6))
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError):
        return ImageFont.load_default()


def _compose(rows: list[np.ndarray], texts: list[str], row_labels: list[str] | None, scale: int) -> Image.Image:
    """Lay out rows of frames, each (K, H, W, C) uint8, with value texts under the last row and
    optional row names on the left. See the module docstring for the layout."""
    if not isinstance(scale, int | np.integer) or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    _, height, width, _ = rows[0].shape
    frame_w, frame_h = width * scale, height * scale
    font = _font(frame_w)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def text_size(text: str) -> tuple[int, int]:
        left, top, right, bottom = measure.textbbox((0, 0), text, font=font)
        return right - left, bottom - top

    def put_text(x: int, y: int, text: str) -> None:
        """Draw text with its ink's top-left corner at (x, y) (bitmap fonts have no anchors)."""
        left, top, _, _ = measure.textbbox((0, 0), text, font=font)
        draw.text((x - left, y - top), text, fill=TEXT_COLOUR, font=font)

    text_h = max(text_size(t)[1] for t in [*texts, "Ag"])
    column_w = max(frame_w, *(text_size(t)[0] + GAP for t in texts))
    name_w = 0 if not row_labels else max(text_size(name)[0] for name in row_labels) + 2 * GAP
    count = len(texts)
    total_w = GAP + name_w + count * column_w + (count - 1) * GAP + GAP
    values_top = GAP + len(rows) * (frame_h + GAP) + RULE + GAP
    total_h = values_top + text_h + 2 * GAP

    canvas = Image.new("RGB", (total_w, total_h), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    column_left = [GAP + name_w + k * (column_w + GAP) for k in range(count)]
    for r, row in enumerate(rows):
        top = GAP + r * (frame_h + GAP)
        for k, frame in enumerate(row):
            tile = Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame).convert("RGB")
            tile = tile.resize((frame_w, frame_h), Image.Resampling.NEAREST)
            canvas.paste(tile, (column_left[k] + (column_w - frame_w) // 2, top))
        if row_labels:
            put_text(GAP, top + (frame_h - text_size(row_labels[r])[1]) // 2, row_labels[r])
    rule_top = GAP + len(rows) * (frame_h + GAP)
    draw.rectangle((column_left[0], rule_top, column_left[-1] + column_w - 1, rule_top + RULE - 1), fill=RULE_COLOUR)
    for k, text in enumerate(texts):
        put_text(column_left[k] + (column_w - text_size(text)[0]) // 2, values_top, text)
    return canvas
