import math

import pytest
import torch

from tools.models.vae.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tools.models.vae.losses import _log_importance_weights, beta_tcvae_terms, vae_loss
from tools.models.vae.model import BurgessVAE, VAEConfig


def test_shapes_and_range():
    model = BurgessVAE(VAEConfig(latent_dim=4))
    x = torch.rand(3, 1, 64, 64).round()
    mean, logvar = model.encode(x)
    assert mean.shape == logvar.shape == (3, 4)
    images = model.decode(torch.randn(3, 4))
    assert images.shape == (3, 1, 64, 64) and 0 <= images.min() and images.max() <= 1


@pytest.mark.parametrize("loss", ["vae", "beta_vae", "beta_tcvae"])
def test_losses_are_finite_and_train(loss):
    torch.manual_seed(0)
    model = BurgessVAE(VAEConfig(latent_dim=3, loss=loss))
    x = (torch.rand(8, 1, 64, 64) > 0.9).float()
    logits, z, mean, logvar = model(x)
    terms = vae_loss(logits, x, z, mean, logvar, loss=loss, beta=4.0, dataset_size=1000)
    assert torch.isfinite(terms.loss)
    terms.loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_stratified_weights_sum_to_one():
    weights = _log_importance_weights(16, 1000).exp()
    assert torch.allclose(weights.sum(1), torch.ones(16), atol=1e-6)


def test_tc_is_large_for_dependent_codes():
    """Codes with z_1 = z_0 have large total correlation; independent ones have about none."""
    torch.manual_seed(0)
    n = 512
    independent = torch.randn(n, 2)
    dependent = independent[:, :1].repeat(1, 2)
    logvar = torch.full((n, 2), math.log(0.01))
    for estimator in ("mws", "mss"):
        _, tc_ind, _ = beta_tcvae_terms(independent, independent, logvar, n, estimator)
        _, tc_dep, _ = beta_tcvae_terms(dependent, dependent, logvar, n, estimator)
        assert tc_dep.mean() > tc_ind.mean() + 1.0


def test_checkpoint_round_trip(tmp_path):
    model = BurgessVAE(VAEConfig(latent_dim=5, beta=3.0))
    save_checkpoint(model, tmp_path / "ckpt", {"seed": 7})
    loaded = load_checkpoint(tmp_path / "ckpt")
    z = torch.randn(2, 5)
    assert torch.allclose(model.decode(z), loaded.decode(z))
    assert loaded.config.beta == 3.0 and loaded.training_record == {"seed": 7}
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        load_checkpoint(tmp_path)


def test_builtin_checkpoint_loads():
    from tools.models.builtin import BUILTIN_MODELS

    model = load_checkpoint(BUILTIN_MODELS["dsprites-btcvae"].folder)
    assert model.latent_dim == 10 and model.config.loss == "beta_tcvae"


def test_capacity_control_pulls_the_kl_towards_capacity():
    """Burgess et al. 2018 eq. 8: gamma |KL - C|; a few steps on the codes alone move KL to C."""
    torch.manual_seed(0)
    x = (torch.rand(16, 1, 8, 8) > 0.8).float()
    logits = torch.zeros_like(x)
    mean = (0.1 * torch.randn(16, 3)).requires_grad_()
    logvar = torch.zeros(16, 3, requires_grad=True)
    optimiser = torch.optim.Adam([mean, logvar], lr=0.05)
    for _ in range(200):
        terms = vae_loss(logits, x, mean, mean, logvar, loss="beta_vae", beta=4.0, dataset_size=1000,
                         capacity=2.0, capacity_gamma=10.0)
        optimiser.zero_grad()
        terms.loss.backward()
        optimiser.step()
    assert abs(terms.kl.item() - 2.0) < 0.1


def test_capacity_keeps_the_extra_tc_weight_of_beta_tcvae():
    torch.manual_seed(0)
    z = torch.randn(8, 3) @ torch.tensor([[1.0, 0.9, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 1.0]])
    args = (torch.zeros(8, 1, 4, 4), torch.ones(8, 1, 4, 4), z, z, torch.zeros(8, 3))
    one = vae_loss(*args, loss="beta_tcvae", beta=1.0, dataset_size=100, capacity=1.0)
    four = vae_loss(*args, loss="beta_tcvae", beta=4.0, dataset_size=100, capacity=1.0)
    assert torch.isclose(four.loss - one.loss, 3 * four.total_correlation, atol=1e-3)
    assert torch.isclose(one.loss, one.reconstruction + 1000 * (one.kl - 1.0).abs(), atol=1e-3)


def test_beta_tcvae_weights_each_term_of_the_decomposition():
    from tools.models.vae.losses import beta_tcvae_terms

    torch.manual_seed(0)
    z = torch.randn(8, 3) @ torch.tensor([[1.0, 0.9, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 1.0]])
    logvar = torch.full((8, 3), -1.0)
    args = (torch.zeros(8, 1, 4, 4), torch.ones(8, 1, 4, 4), z, z + 0.1, logvar)
    terms = vae_loss(*args, loss="beta_tcvae", beta=3.0, dataset_size=100, mi_weight=0.2, dim_kl_weight=0.5)
    mi, tc, dim_kl = (t.mean() for t in beta_tcvae_terms(z, z + 0.1, logvar, 100, "mss"))
    expected = terms.reconstruction + 0.2 * mi + 3.0 * tc + 0.5 * dim_kl
    assert torch.isclose(terms.loss, expected, atol=1e-4)
    assert torch.isclose(terms.total_correlation, tc)


def test_capacity_schedule_is_linear_then_flat():
    from tools.models.vae.training import TrainSettings, capacity_at

    settings = TrainSettings(capacity_start=10.0, capacity_max=20.0, capacity_steps=100)
    assert capacity_at(settings, 50) == 15.0 and capacity_at(settings, 500) == 20.0
    assert capacity_at(TrainSettings(), 50) is None
