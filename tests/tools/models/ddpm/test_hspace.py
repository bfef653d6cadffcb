"""h-space: mid-block features, the pullback power method against an explicit Jacobian SVD, and
the x-space guidance edit. Tiny UNets built from configs, CPU."""

from __future__ import annotations

import pytest
import torch

from tools.models.ddpm.hspace import differentiable_attention, mid_block_features, pullback_basis, x_space_guidance


def _tiny_unet(size: int = 8):
    from diffusers import UNet2DModel

    return UNet2DModel(
        sample_size=size, in_channels=1, out_channels=1, block_out_channels=(4, 8), layers_per_block=1,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=4, attention_head_dim=4,
    ).eval().requires_grad_(False)


@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    return _tiny_unet()


def _features(unet):
    def fn(x):
        return mid_block_features(unet, x, torch.tensor(500))

    return fn


def _explicit_jacobians(unet, x):
    """(B, m, n) Jacobians of the mid-block output, one sample at a time."""
    fn = _features(unet)
    return torch.stack([
        torch.autograd.functional.jacobian(lambda s: fn(s)[0].flatten(), xi[None]).reshape(-1, xi.numel())
        for xi in x
    ])


def test_mid_block_features_are_the_mid_block_output_and_skip_the_decoder(unet):
    x = torch.randn(2, 1, 8, 8)
    seen, up_calls = [], []
    h1 = unet.mid_block.register_forward_hook(lambda m, i, o: seen.append(o))
    h2 = unet.up_blocks[0].register_forward_hook(lambda m, i, o: up_calls.append(1))
    try:
        with torch.no_grad():
            unet(x, 500)
            assert len(up_calls) == 1
            h = mid_block_features(unet, x, torch.tensor(500))
    finally:
        h1.remove()
        h2.remove()
    assert h.shape == (2, 8, 4, 4)
    assert torch.allclose(h, seen[0])
    assert len(up_calls) == 1  # the second pass stopped at the mid-block


def test_differentiable_attention_keeps_outputs_and_restores_processors(unet):
    x = torch.randn(2, 1, 8, 8)
    before = {name: type(p) for name, p in unet.attn_processors.items()} if hasattr(unet, "attn_processors") else None
    with torch.no_grad():
        fused = unet(x, 10).sample
        with differentiable_attention(unet):
            plain = unet(x, 10).sample
    assert torch.allclose(fused, plain, atol=1e-5)
    if before is not None:
        assert {name: type(p) for name, p in unet.attn_processors.items()} == before


def test_local_basis_matches_the_svd_of_the_explicit_jacobian(unet):
    x = torch.randn(2, 1, 4, 4)
    jac = _explicit_jacobians(unet, x)  # (2, m, 16)
    with differentiable_attention(unet):
        basis = pullback_basis(_features(unet), x, rank=3, iterations=500, tolerance=1e-5,
                               generator=torch.Generator().manual_seed(0))
    assert basis.converged
    assert basis.directions.shape == (2, 3, 1, 4, 4) and basis.singular_values.shape == (2, 3)
    assert basis.features.shape == (2, 3, 8, 2, 2)
    for b in range(2):
        u, s, vh = torch.linalg.svd(jac[b], full_matrices=False)
        assert torch.allclose(basis.singular_values[b], s[:3], rtol=1e-3)
        cosines = (basis.directions[b].flatten(1) @ vh[:3].T).diagonal().abs()
        assert bool((cosines > 0.99).all()), cosines
        jv = basis.directions[b].flatten(1) @ jac[b].T  # (3, m)
        assert torch.allclose(basis.features[b].flatten(1), (jv / jv.norm(dim=1, keepdim=True)), atol=1e-4)
    gram = basis.directions.flatten(2) @ basis.directions.flatten(2).transpose(1, 2)
    assert torch.allclose(gram, torch.eye(3).expand(2, 3, 3), atol=1e-5)


def test_shared_basis_is_the_top_eigenbasis_of_the_summed_metric(unet):
    x = torch.randn(3, 1, 4, 4)
    jac = _explicit_jacobians(unet, x)
    metric = sum(j.T @ j for j in jac)
    eigenvalues, eigenvectors = torch.linalg.eigh(metric)
    with differentiable_attention(unet):
        basis = pullback_basis(_features(unet), x, rank=2, iterations=500, tolerance=1e-5, shared=True,
                               generator=torch.Generator().manual_seed(1))
    assert basis.converged
    assert basis.directions.shape == (2, 1, 4, 4)
    assert torch.allclose(basis.singular_values ** 2, eigenvalues.flip(0)[:2], rtol=1e-3)
    cosines = (basis.directions.flatten(1) @ eigenvectors[:, [-1, -2]]).diagonal().abs()
    assert bool((cosines > 0.99).all()), cosines


def test_chunked_inference_mode_and_whole_batch_give_the_same_basis(unet):
    x = torch.randn(2, 1, 8, 8)
    fn = _features(unet)
    with differentiable_attention(unet):
        whole = pullback_basis(fn, x, rank=2, iterations=5, generator=torch.Generator().manual_seed(3))
        with torch.inference_mode():
            chunked = pullback_basis(fn, x, rank=2, iterations=5, generator=torch.Generator().manual_seed(3),
                                     chunk_rows=1)
    assert torch.allclose(whole.directions, chunked.directions, atol=1e-5)
    assert whole.iterations == chunked.iterations == 5


def test_signs_are_canonical(unet):
    x = torch.randn(1, 1, 4, 4)
    with differentiable_attention(unet):
        a = pullback_basis(_features(unet), x, rank=2, iterations=500, tolerance=1e-5,
                           generator=torch.Generator().manual_seed(4))
        b = pullback_basis(_features(unet), x, rank=2, iterations=500, tolerance=1e-5,
                           generator=torch.Generator().manual_seed(5))
    flat = a.directions.flatten(2)[0]
    assert bool((flat.gather(1, flat.abs().argmax(1, keepdim=True)) > 0).all())
    assert torch.allclose(a.directions, b.directions, atol=1e-3)  # same vectors from different starts


def test_bad_rank_is_refused(unet):
    with pytest.raises(ValueError, match="rank"):
        pullback_basis(_features(unet), torch.randn(1, 1, 8, 8), rank=0)


def test_guidance_on_a_linear_predictor_moves_gamma_steps_strength_times_a_d():
    a = torch.randn(16, 16)

    def predict(x):  # eps(x) = A x, so eps(x + s d) - eps(x) = s A d at every update
        return (x.flatten(1) @ a.T).reshape(x.shape)

    x = torch.randn(3, 1, 4, 4)
    d = torch.nn.functional.normalize(torch.randn(3, 16), dim=1).reshape(3, 1, 4, 4)
    strengths = torch.tensor([0.0, 0.5, 1.0])
    out = x_space_guidance(predict, x, d, strengths, gamma=0.1, guidance_steps=16, step_size=2.0)
    expected = x + (0.1 * 16 * 2.0 * strengths).view(3, 1, 1, 1) * predict(d)
    assert torch.equal(out[0], x[0])
    assert torch.allclose(out, expected, atol=1e-5)


def test_guidance_matches_the_repeated_update_and_counts_unet_calls(unet):
    t = torch.tensor(700)
    calls = []

    def predict(x):
        calls.append(x.shape[0])
        return unet(x, t).sample

    x = torch.randn(2, 1, 8, 8)
    d = torch.nn.functional.normalize(torch.randn(2, 64), dim=1).reshape(2, 1, 8, 8)
    with torch.no_grad():
        out = x_space_guidance(predict, x, d, torch.tensor([1.0, 0.25]), gamma=0.1, guidance_steps=4)
        manual = x[:1].clone()
        for _ in range(4):
            manual = manual + 0.1 * (unet(manual + d[:1], t).sample - unet(manual, t).sample)
    assert torch.allclose(out[:1], manual, atol=1e-5)
    assert calls == [4, 2, 2, 2]  # both rows once (strength 0.25 = one update), then only the first


def test_guidance_refuses_negative_strengths():
    with pytest.raises(ValueError, match=">= 0"):
        x_space_guidance(lambda x: x, torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), torch.tensor([-1.0]))
