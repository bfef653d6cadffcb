import pytest
import torch

from agent.errors import UserError
from tools.data.digits import NUM_IMAGES, load_digits_images, sample_batch


@pytest.mark.parametrize("size", [32, 64])
def test_all_digits_load_labelled_and_upsampled(size):
    data = load_digits_images(size)
    assert data.images.shape == (NUM_IMAGES, 1, size, size) and data.images.dtype == torch.float32
    assert 0 <= data.images.min() and data.images.max() <= 1
    assert sorted(data.labels.unique().tolist()) == list(range(10))


def test_upsampling_keeps_the_8x8_digit():
    from sklearn.datasets import load_digits

    raw = torch.as_tensor(load_digits().images, dtype=torch.float32) / 16
    back = torch.nn.functional.avg_pool2d(load_digits_images(64).images, 8)[:, 0]
    assert (back - raw).abs().mean() < 0.08
    assert (back - raw.roll(1, 0)).abs().mean() > 0.15  # another digit is far away


def test_classes_look_different():
    data = load_digits_images(32)
    zero = data.images[data.labels == 0].mean(0)
    one = data.images[data.labels == 1].mean(0)
    assert zero[0, 14:18, 14:18].mean() < 0.3  # a zero is hollow in the middle
    assert one[0, 14:18, 14:18].mean() > zero[0, 14:18, 14:18].mean() + 0.2


def test_sampling_is_deterministic():
    a = sample_batch(8, torch.Generator().manual_seed(5), size=32)
    b = sample_batch(8, torch.Generator().manual_seed(5), size=32)
    assert a.images.shape == (8, 1, 32, 32)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)


def test_unsupported_size_is_a_user_error():
    with pytest.raises(UserError, match="48"):
        load_digits_images(48)
