import torch

from tools.data.shapes3d import FACTOR_SIZES, NUM_IMAGES, factor_values, render, sample_batch

# floor green (hue 0.3), wall blue (0.6), object red (0), scale index 4, cube, orientation 0 degrees
BASE = torch.tensor([3, 6, 0, 4, 0, 7])


def _scene(**changes: int) -> torch.Tensor:
    names = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    factors = BASE.clone()
    for name, value in changes.items():
        factors[names.index(name)] = value
    return factors


def _object_mask(**changes: int) -> torch.Tensor:
    """Pixels that change when only the object's hue changes: the object, (64, 64) bool."""
    a = render(torch.stack([_scene(**changes), _scene(**(changes | {"object_hue": 5}))]))
    return (a[0] - a[1]).abs().sum(0) > 0.05


def test_grid_matches_the_original_dataset():
    assert FACTOR_SIZES == (10, 10, 10, 8, 4, 15)
    assert NUM_IMAGES == 480_000
    values = factor_values(torch.tensor([[9, 0, 0, 7, 3, 0], [0, 0, 0, 0, 0, 14]]))
    assert torch.allclose(values["scale"], torch.tensor([1.25, 0.75]))
    assert torch.allclose(values["orientation"], torch.tensor([-30.0, 30.0]))
    assert torch.allclose(values["floor_hue"], torch.tensor([0.9, 0.0]))


def test_render_is_rgb_deterministic_and_labelled():
    a = sample_batch(6, torch.Generator().manual_seed(3))
    b = sample_batch(6, torch.Generator().manual_seed(3))
    assert a.images.shape == (6, 3, 64, 64) and a.factors.shape == (6, 6)
    assert torch.equal(a.images, b.images) and torch.equal(a.factors, b.factors)
    assert a.images.min() >= 0 and a.images.max() <= 1
    assert render(a.factors[:2]).equal(a.images[:2])  # the same factors, rendered again


def test_colours_land_on_floor_wall_and_object():
    base = render(_scene()[None])[0]
    floor = render(_scene(floor_hue=8)[None])[0]
    wall = render(_scene(wall_hue=1)[None])[0]
    mask = _object_mask()
    assert mask[20:45, 20:45].float().mean() > 0.3 and not mask[:4].any() and not mask[-4:].any()
    floor_change = (floor - base).abs().sum(0) > 0.05
    wall_change = (wall - base).abs().sum(0) > 0.05
    assert floor_change[-8:].all() and not floor_change[:8].any()  # the floor is the bottom of the image
    assert wall_change[:8].all() and not wall_change[-8:].any()  # the wall is the top
    inside = -torch.nn.functional.max_pool2d(-mask[None].float(), 3, 1, 1)[0] > 0.5  # the object less its edge
    assert not (floor_change & inside).any() and not (wall_change & inside).any()
    red = base[:, mask].mean(1)
    assert red[0] > 0.5 and red[0] > 2 * red[1] and red[0] > 2 * red[2]  # hue 0 is red


def test_scale_and_shape_change_the_object():
    small, large = _object_mask(scale=0).sum(), _object_mask(scale=7).sum()
    assert large > 2 * small  # area grows with scale squared: (1.25 / 0.75)^2 = 2.8
    masks = [_object_mask(shape=shape) for shape in range(4)]
    for i in range(4):
        for j in range(i + 1, 4):
            overlap = (masks[i] & masks[j]).sum() / (masks[i] | masks[j]).sum()
            assert overlap < 0.9, (i, j)
    capsule = masks[3].nonzero()
    width = capsule[:, 1].max() - capsule[:, 1].min()
    height = capsule[:, 0].max() - capsule[:, 0].min()
    assert width > 1.5 * height  # the capsule lies on its side


def _edge_rows(image: torch.Tensor) -> tuple[int, int]:
    """First floor row (green over blue) in the leftmost and rightmost columns."""
    floor = image[1] > image[2]
    return int(floor[:, 1].nonzero()[0]), int(floor[:, 62].nonzero()[0])


def test_orientation_turns_the_room_and_the_object():
    left_turn = render(_scene(orientation=0)[None])[0]
    front = render(_scene(orientation=7)[None])[0]
    right_turn = render(_scene(orientation=14)[None])[0]
    rows = [_edge_rows(image) for image in (left_turn, front, right_turn)]
    assert abs(rows[1][0] - rows[1][1]) <= 1  # facing the wall: a level edge
    assert rows[0][0] < rows[0][1] - 4 and rows[2][0] > rows[2][1] + 4  # the edge slants one way, then the other
    assert (_object_mask(orientation=0) != _object_mask(orientation=7)).sum() > 20  # a cube shows another face


def test_object_is_shaded_and_casts_a_shadow():
    image = render(_scene(shape=2)[None])[0]
    mask = _object_mask(shape=2)
    brightness = image.mean(0)
    assert brightness[mask].std() > 0.05  # a lit and a dark side, not a flat disc
    floor = (image[1] > image[2]) & ~mask
    assert brightness[floor].min() < 0.75 * brightness[floor].median()  # the shadow on the floor


def test_supersampling_only_smooths_edges():
    factors = torch.stack([_scene(), _scene(shape=3)])
    sharp, smooth = render(factors, supersample=1), render(factors, supersample=2)
    assert (sharp - smooth).abs().mean() < 0.02
    assert len(torch.unique(smooth)) > len(torch.unique(sharp))
