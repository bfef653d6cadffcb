"""The noise floor of outline measurements (tools/describe/noise.py) on dSprites renders:
clean and blurred renders have none, grainy ones have one that grows with the grain."""

from __future__ import annotations

import numpy as np

from tests.tools.describe.test_measurements import gaussian_blur, grey_with_grain, sprites
from tools.describe.measurements import measure_batch
from tools.describe.noise import QUANTITIES, noise_spread

ROWS = [[0, 3, 5, 10, 12], [1, 4, 9, 20, 18], [2, 5, 0, 15, 25]]


def spread_of(frames: np.ndarray) -> dict[str, np.ndarray]:
    return noise_spread(frames, measure_batch(frames))


def test_clean_and_blurred_renders_have_no_noise_floor():
    frames = sprites(ROWS)
    for clean in (frames, gaussian_blur(frames), grey_with_grain(gaussian_blur(frames), 0.0)):
        spread = spread_of(clean)
        assert set(spread) == set(QUANTITIES)
        assert spread["rotation"].shape == (3, 4)
        assert all(not values.any() for values in spread.values())


def test_the_floor_grows_with_the_grain_and_is_reproducible():
    frames = gaussian_blur(sprites(ROWS))
    weak, strong = spread_of(grey_with_grain(frames, 0.02)), spread_of(grey_with_grain(frames, 0.08))
    for quantity in ("position_x", "position_y", "size", "shape"):
        assert np.all(np.isfinite(weak[quantity])) and np.all(weak[quantity] > 0)
        assert np.median(strong[quantity]) > np.median(weak[quantity])
    again = spread_of(grey_with_grain(frames, 0.08))
    assert all(np.array_equal(strong[quantity], again[quantity]) for quantity in QUANTITIES)
