import math

import torch

from tools.data.dsprites import FACTOR_SIZES, NUM_IMAGES, factor_values, render, sample_batch


def test_grid_matches_the_original_dataset():
    assert FACTOR_SIZES == (3, 6, 40, 32, 32)
    assert NUM_IMAGES == 737_280


def test_render_is_binary_deterministic_and_labelled():
    a = sample_batch(16, torch.Generator().manual_seed(1))
    b = sample_batch(16, torch.Generator().manual_seed(1))
    assert a.images.shape == (16, 1, 64, 64)
    assert torch.equal(a.images, b.images) and torch.equal(a.factors, b.factors)
    assert set(a.images.unique().tolist()) <= {0.0, 1.0}


def _centroid(image):
    ys, xs = torch.nonzero(image[0], as_tuple=True)
    return xs.float().mean().item(), ys.float().mean().item()


def test_factors_move_the_sprite_as_named():
    base = torch.tensor([[0, 5, 0, 0, 0]])
    right = render(base + torch.tensor([[0, 0, 0, 31, 0]]))[0]
    down = render(base + torch.tensor([[0, 0, 0, 0, 31]]))[0]
    x0, y0 = _centroid(render(base)[0])
    assert _centroid(right)[0] > x0 + 30 and abs(_centroid(right)[1] - y0) < 1
    assert _centroid(down)[1] > y0 + 30  # posY grows downward in the image
    small = render(torch.tensor([[0, 0, 0, 16, 16]]))[0].sum()
    large = render(torch.tensor([[0, 5, 0, 16, 16]]))[0].sum()
    assert large > 3 * small  # area grows with scale squared (0.5 -> 1)


def test_orientation_and_shape_change_the_pixels():
    square = render(torch.tensor([[0, 5, 0, 16, 16]]))
    rotated = render(torch.tensor([[0, 5, 5, 16, 16]]))  # 45 degrees
    heart = render(torch.tensor([[2, 5, 0, 16, 16]]))
    assert (square != rotated).float().sum() > 20
    assert (square != heart).float().sum() > 20
    assert math.isclose(factor_values(torch.tensor([[0, 0, 20, 0, 0]]))["orientation"].item(), math.pi, rel_tol=1e-6)
