"""Common colour names for RGB colours, and the RGB -> HSV conversion they are read from.

The names are the twelve a person uses without thinking: red, orange, yellow, green, cyan,
blue, purple, pink, white, grey, black, brown. The rules work in HSV (hue in degrees):

1. value < 0.18 -> black (too dark for a hue to be seen).
2. saturation < 0.25 -> white when value > 0.8, else grey.
3. Otherwise the hue band names it: red [345, 15), orange [15, 40), yellow [40, 70),
   green [70, 165), cyan [165, 195), blue [195, 260), purple [260, 295), pink [295, 345).
4. Dark warm colours (hue in [10, 45), value < 0.6) are brown; light, weakly saturated reds
   (saturation < 0.5, value > 0.8) are pink.

With 3DShapes' ten hues (0, 36, ..., 324 degrees) this gives red, orange, green (72), green,
green, cyan, blue, blue, purple, pink.
"""

from __future__ import annotations

import numpy as np

COLOUR_NAMES: tuple[str, ...] = (
    "red",
    "orange",
    "yellow",
    "green",
    "cyan",
    "blue",
    "purple",
    "pink",
    "white",
    "grey",
    "black",
    "brown",
)

# Hue bands: (upper edge in degrees, name), read in order; red wraps around 360.
_HUE_BANDS: tuple[tuple[float, str], ...] = (
    (15.0, "red"),
    (40.0, "orange"),
    (70.0, "yellow"),
    (165.0, "green"),
    (195.0, "cyan"),
    (260.0, "blue"),
    (295.0, "purple"),
    (345.0, "pink"),
    (360.0, "red"),
)
_BLACK_VALUE = 0.18
_GREY_SATURATION = 0.25
_WHITE_VALUE = 0.8


def rgb_to_hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """rgb: (..., 3), values in [0, 1] -> (hue in degrees [0, 360), saturation [0, 1],
    value [0, 1]), each of shape (...). Hue is 0 where the colour is grey."""
    rgb = np.asarray(rgb, dtype=np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    value = rgb.max(axis=-1)
    chroma = value - rgb.min(axis=-1)
    safe = np.where(chroma > 0, chroma, 1.0)
    hue = np.where(
        value == r,
        ((g - b) / safe) % 6.0,
        np.where(value == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0),
    )
    hue = np.where(chroma > 0, hue * 60.0, 0.0) % 360.0
    saturation = np.where(value > 0, chroma / np.where(value > 0, value, 1.0), 0.0)
    return hue.astype(np.float32), saturation.astype(np.float32), value.astype(np.float32)


def name_colours(rgb: np.ndarray) -> np.ndarray:
    """rgb: (..., 3), values in [0, 1] -> (...) array of colour names from COLOUR_NAMES.
    NaN colours (an absent region) are named "none"."""
    rgb = np.asarray(rgb, dtype=np.float32)
    missing = np.isnan(rgb).any(axis=-1)
    hue, saturation, value = rgb_to_hsv(np.nan_to_num(rgb))
    edges = np.array([edge for edge, _ in _HUE_BANDS], dtype=np.float32)
    band_names = np.array([name for _, name in _HUE_BANDS])
    names = band_names[np.searchsorted(edges, hue, side="right").clip(0, len(edges) - 1)]
    names = np.where((hue >= 10.0) & (hue < 45.0) & (value < 0.6), "brown", names)
    is_reddish = (hue < 15.0) | (hue >= 345.0)
    names = np.where(is_reddish & (saturation < 0.5) & (value > 0.8), "pink", names)
    achromatic = np.where(value > _WHITE_VALUE, "white", "grey")
    names = np.where(saturation < _GREY_SATURATION, achromatic, names)
    names = np.where(value < _BLACK_VALUE, "black", names)
    return np.where(missing, "none", names).astype(object)


def name_colour(rgb: np.ndarray | tuple[float, float, float]) -> str:
    """One colour (3,), values in [0, 1] -> its common name."""
    return str(name_colours(np.asarray(rgb, dtype=np.float32).reshape(3))[()])
