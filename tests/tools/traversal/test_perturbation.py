import numpy as np
import pytest
import torch

from tools.bias_formula.plans import TraversalPlan
from tools.traversal.check import check_traversal, load_traversal
from tools.traversal.perturbation import decode_in_batches, save_traversal, traverse


class _Decoder:
    latent_dim = 4

    def __init__(self):
        self.calls = 0

    def decode(self, z):
        self.calls += 1
        return torch.sigmoid(z[:, :3, None, None].repeat(1, 1, 8, 8))


def test_traverse_sets_only_the_named_latents():
    anchors = torch.randn(3, 4)
    values = torch.tensor([-1.0, 0.0, 1.0])
    z = traverse(anchors, [1, 2], values)
    assert z.shape == (3, 3, 4)
    assert torch.equal(z[:, :, 1], values.expand(3, 3)) and torch.equal(z[:, :, 2], values.expand(3, 3))
    assert torch.equal(z[:, :, 0], anchors[:, :1].expand(3, 3))
    with pytest.raises(IndexError):
        traverse(anchors, [4], values)


def test_offset_mode_moves_along_a_direction():
    z = traverse(torch.zeros(1, 3), [0, 1], torch.tensor([0.0, 2.0]), mode="offset", direction=torch.tensor([1.0, 0.5, 0]))
    assert torch.allclose(z[0, 1], torch.tensor([2.0, 1.0, 0.0]))


def test_decoding_is_batched():
    model = _Decoder()
    frames = decode_in_batches(model, torch.randn(5, 7, 4), batch_size=16)
    assert frames.shape == (5, 7, 3, 8, 8)
    assert model.calls == 3  # 35 codes in batches of 16


def _saved(tmp_path, z, frames, values):
    save_traversal(tmp_path, z=z, frames=frames, values=values)
    return load_traversal(tmp_path / "traversal.npz")


def test_host_check_accepts_a_correct_traversal(tmp_path):
    values = torch.tensor([-1.0, 0.0, 1.0])
    z = traverse(torch.randn(2, 4), [3], values)
    traversal = _saved(tmp_path, z, decode_in_batches(_Decoder(), z), values)
    plan = TraversalPlan(id="z3", indices=[3], values=[-1.0, 0.0, 1.0])
    assert check_traversal(traversal, plan, n_anchors=2, latent_dim=4) == []


def test_host_check_rejects_held_latents_that_moved(tmp_path):
    values = torch.tensor([-1.0, 0.0, 1.0])
    z = traverse(torch.randn(2, 4), [3], values)
    z[:, :, 0] += torch.linspace(0, 1, 3)  # a "held" latent drifts along the traversal
    traversal = _saved(tmp_path, z, decode_in_batches(_Decoder(), z), values)
    problems = check_traversal(traversal, TraversalPlan(id="z3", indices=[3], values=[-1.0, 0.0, 1.0]), 2, 4)
    assert any("held latents moved" in p and "[0]" in p for p in problems)


def test_host_check_rejects_wrong_shapes_values_and_ranges(tmp_path):
    values = torch.tensor([-1.0, 0.0, 1.0])
    z = traverse(torch.randn(2, 4), [3], values)
    frames = decode_in_batches(_Decoder(), z)
    plan = TraversalPlan(id="z3", indices=[3], values=[-1.0, 0.0, 1.0])
    assert check_traversal(_saved(tmp_path, z, frames, values), plan, n_anchors=3, latent_dim=4)
    t = _saved(tmp_path, z, frames, values)
    t.frames = t.frames * 3
    assert any("[0, 1]" in p for p in check_traversal(t, plan, 2, 4))
    t = _saved(tmp_path, z, frames, values)
    t.z[:, :, 3] = np.array([0.0, 0.5, 2.0])
    assert any("do not take the plan's values" in p for p in check_traversal(t, plan, 2, 4))


class _ModelWithAttributeAnchors:
    """Anchors 0..n-1 from sample_latents; -1 for anchors lacking an attribute."""

    latent_dim = 2

    def sample_latents(self, n, generator=None):
        return torch.arange(2 * n, dtype=torch.float32).reshape(n, 2)

    def anchors_without(self, name, n, generator=None):
        return -torch.ones(n, 2)


def test_conditional_anchors_come_from_images_without_the_attribute():
    from tools.traversal.perturbation import make_anchors

    model = _ModelWithAttributeAnchors()
    condition = {"role": "attribute", "attribute": "red_object"}
    assert torch.equal(make_anchors(model, 3, seed=0, condition=condition), -torch.ones(3, 2))
    assert torch.equal(make_anchors(model, 3, seed=0), model.sample_latents(3))
    assert torch.equal(make_anchors(model, 3, seed=0, condition={"role": "prompt", "text": "a cat"}), model.sample_latents(3))
