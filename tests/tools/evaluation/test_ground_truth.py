"""Tests for tools/evaluation/ground_truth.py: the count-based MI estimator against hand-computable
cases, the orientation folding against the renderer, the whole measurement with an oracle
encoder (a lookup table from rendered image to its true factors) and a mixing one, and the same
estimator on 3DShapes codes, with the aggregate-posterior reference of a CSVAE's w."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agent.errors import UserError
from tools.data.dsprites import FACTOR_NAMES, SHAPE_NAMES, render
from tools.evaluation.ground_truth import (
    ORIENTATION_PERIOD,
    conditional_mutual_information,
    controlled_factors,
    dsprites_ground_truth,
    encode_labelled_sample,
    entropy,
    equal_frequency_bins,
    folded_orientation,
    ground_truth_from_codes,
    labelled_factors,
    mean_gaussian_kl,
    mutual_information,
    mutual_information_gap,
)

N_IMAGES = 2000


def test_entropy_of_uniform_labels_is_log_k():
    labels = np.repeat(np.arange(4), 25)
    assert entropy(labels, bias_correction=False) == pytest.approx(math.log(4))
    assert entropy(labels) == pytest.approx(math.log(4) + 3 / 200)


def test_mutual_information_of_identical_variables_is_their_entropy():
    labels = np.random.default_rng(0).integers(0, 7, 500)
    assert mutual_information(labels, labels) == pytest.approx(entropy(labels))
    assert mutual_information(labels, labels, bias_correction=False) == pytest.approx(entropy(labels, False))


def test_mutual_information_of_a_coarsened_copy_is_one_bit():
    a = np.repeat(np.arange(4), 100)
    assert mutual_information(a, a // 2, bias_correction=False) == pytest.approx(math.log(2))


def test_mutual_information_of_independent_variables_is_zero():
    a, b = np.repeat(np.arange(4), 5), np.tile(np.arange(5), 4)  # the full product grid
    assert mutual_information(a, b, bias_correction=False) == pytest.approx(0.0, abs=1e-12)


def test_miller_madow_removes_the_bias_of_many_cells():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 20, 10_000), rng.integers(0, 40, 10_000)
    assert mutual_information(a, b, bias_correction=False) > 0.03  # plug-in bias ~ 19*39/(2N)
    assert mutual_information(a, b) < 0.01


def test_conditional_mutual_information_of_xor():
    a, b = np.repeat([0, 1], 50), np.tile([0, 1], 50)  # independent bits
    assert mutual_information(a, b, bias_correction=False) == pytest.approx(0.0, abs=1e-12)
    info, cond_entropy = conditional_mutual_information(a, b, a ^ b, bias_correction=False)
    assert info == pytest.approx(math.log(2))
    assert cond_entropy == pytest.approx(math.log(2))


def test_equal_frequency_bins():
    values = np.random.default_rng(2).random(1000)
    assert np.bincount(equal_frequency_bins(values, 20)).tolist() == [50] * 20
    assert set(equal_frequency_bins(np.full(100, 3.0), 20).tolist()) == {0}
    assert len(set(equal_frequency_bins(np.repeat([1.0, 2.0, 5.0], 10), 20).tolist())) == 3


@pytest.mark.parametrize("shape", SHAPE_NAMES)
def test_orientation_period_is_the_renderers_symmetry(shape):
    period, s = ORIENTATION_PERIOD[shape], SHAPE_NAMES.index(shape)
    factors = torch.tensor([[s, 3, o, 10, 20] for o in range(40)])
    images = render(factors)
    shifted = [(o + period) % 40 for o in range(40)]
    half = [(o + period // 2) % 40 for o in range(40)]
    assert torch.equal(images, images[shifted])
    assert not torch.equal(images, images[half])  # the period is the smallest one
    assert folded_orientation(factors.numpy()).tolist() == [o % period for o in range(40)]


def test_mean_gaussian_kl():
    means = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    logvars = np.array([[0.0, 0.0, math.log(0.01)]] * 2)
    expected = [0.0, 0.5, 0.5 * (0.01 - math.log(0.01) - 1)]
    assert mean_gaussian_kl(means, logvars) == pytest.approx(expected)


def test_mutual_information_gap():
    assert mutual_information_gap(np.array([[0.9, 0.1], [0.2, 0.6]])) == pytest.approx(0.6)
    assert mutual_information_gap(np.array([[0.4, 0.2]])) == pytest.approx(0.3)


def test_controlled_factors_rules():
    row = {"posX": 0.6, "posY": 0.35, "scale": 0.25, "shape": 0.05}
    assert controlled_factors(row, active=True) == ["posX", "posY"]  # scale < half of 0.6
    assert controlled_factors(row, active=False) == []
    assert controlled_factors({"shape": 0.08, "scale": 0.02}, active=True) == []  # below 0.1


def _factor_features(factors: np.ndarray) -> np.ndarray:
    """(N, 5) standardised true factor values; orientation as its phase within the shape's
    symmetry period, which is all an image shows."""
    periods = np.array([ORIENTATION_PERIOD[name] for name in SHAPE_NAMES])
    phase = folded_orientation(factors) / periods[factors[:, 0]]
    values = np.column_stack([factors[:, 0], factors[:, 1], phase, factors[:, 3], factors[:, 4]]).astype(float)
    return (values - values.mean(0)) / values.std(0)


@pytest.fixture(scope="module")
def image_table() -> tuple[dict[bytes, int], np.ndarray]:
    """Packed image bits -> row of the labelled sample, and that sample's features."""
    factors = labelled_factors(N_IMAGES, seed=0)
    bits = np.packbits(render(factors).numpy().reshape(N_IMAGES, -1).astype(bool), axis=1)
    return {row.tobytes(): i for i, row in enumerate(bits)}, _factor_features(factors.numpy())


def _lookup_encoder(table: dict[bytes, int], features: np.ndarray, mixing: np.ndarray):
    """An encoder that recognises each image by its pixels and returns its true factor
    features mixed by `mixing` (5, 5) plus noise, then one collapsed latent (mean 0, logvar 0)."""
    rng = np.random.default_rng(3)

    def encode(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        bits = np.packbits(images.cpu().numpy().reshape(images.shape[0], -1).astype(bool), axis=1)
        rows = [table[row.tobytes()] for row in bits]
        informative = features[rows] @ mixing + 0.05 * rng.standard_normal((len(rows), 5))
        mean = np.column_stack([informative, np.zeros(len(rows))])
        logvar = np.full_like(mean, math.log(0.01))
        logvar[:, -1] = 0.0
        return torch.tensor(mean, dtype=torch.float32), torch.tensor(logvar, dtype=torch.float32)

    return encode


def test_oracle_encoder_maps_each_latent_to_its_factor(image_table):
    table, features = image_table
    truth = dsprites_ground_truth(_lookup_encoder(table, features, np.eye(5)), 6, n_images=N_IMAGES, batch_size=512)
    assert truth.factor_names == list(FACTOR_NAMES)
    assert [latent.factors for latent in truth.latents[:5]] == [[name] for name in FACTOR_NAMES]
    assert all(latent.active for latent in truth.latents[:5])
    collapsed = truth.latents[5]
    assert not collapsed.active and collapsed.factors == [] and collapsed.kl == pytest.approx(0.0)
    assert truth.mig > 0.6
    assert np.array(truth.mi_matrix).shape == (6, 5)


def test_mixing_encoder_has_low_mig(image_table):
    table, features = image_table
    mixing = np.random.default_rng(0).standard_normal((5, 5))
    truth = dsprites_ground_truth(_lookup_encoder(table, features, mixing), 6, n_images=N_IMAGES, batch_size=512)
    assert truth.mig < 0.15
    assert all(latent.active for latent in truth.latents[:5])


def test_a_latent_with_tiny_kl_is_inactive_even_when_its_mean_tracks_a_factor():
    factors = labelled_factors(1000, seed=1).numpy()
    means = 0.01 * factors[:, 3:4].astype(float)  # posX, scaled far below the posterior noise
    truth = ground_truth_from_codes(means, np.zeros_like(means), factors)
    latent = truth.latents[0]
    assert latent.normalized_mi["posX"] > 0.5
    assert not latent.active and latent.factors == []


def test_folding_credits_a_phase_code_that_raw_orientation_underrates():
    factors = labelled_factors(2000, seed=2).numpy()
    phase = _factor_features(factors)[:, 2:3]
    logvars = np.full_like(phase, math.log(0.01))
    folded = ground_truth_from_codes(phase, logvars, factors).latents[0].normalized_mi
    raw = ground_truth_from_codes(phase, logvars, factors, fold_orientation=False).latents[0].normalized_mi
    assert folded["orientation"] > 0.7
    assert raw["orientation"] < folded["orientation"] - 0.2
    assert folded["shape"] < 0.1  # the phase code says little about which shape it is


def test_user_errors():
    def encode(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = torch.zeros(images.shape[0], 3)
        return zeros, zeros

    with pytest.raises(UserError, match="n_images=10"):
        dsprites_ground_truth(encode, 3, n_images=10)
    with pytest.raises(UserError, match="latent_dim=4"):
        dsprites_ground_truth(encode, 4, n_images=200)
    factors = labelled_factors(200).numpy()
    with pytest.raises(UserError, match="non-finite"):
        ground_truth_from_codes(np.full((200, 2), np.nan), np.zeros((200, 2)), factors)


# --- any labelled dataset: 3DShapes, and coordinates whose prior is not N(0, 1) ---------------


def test_shapes3d_codes_that_copy_a_factor_control_it():
    """A planted relation on the 3DShapes factors: coordinate k is factor k plus a little noise,
    the last coordinate carries nothing; no fold applies."""
    factors = labelled_factors(2000, seed=4, dataset="shapes3d").numpy()
    noise = np.random.default_rng(5).standard_normal((2000, 7))
    means = np.column_stack([factors, np.zeros(2000)]).astype(float) + 0.01 * noise
    logvars = np.full_like(means, math.log(0.01))
    logvars[:, -1] = 0.0
    truth = ground_truth_from_codes(means, logvars, factors, dataset="shapes3d")
    names = ["floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation"]
    assert truth.factor_names == names and truth.dataset == "shapes3d" and not truth.orientation_folded
    assert [latent.factors for latent in truth.latents] == [[name] for name in names] + [[]]
    assert truth.mig > 0.9  # every factor has fewer than 20 values: the bins resolve it fully


def test_aggregate_reference_measures_what_a_coordinate_carries():
    """w-like coordinates: one constant N(0, 0.1^2) for every image (carries nothing, yet 1.8
    nats from N(0, 1)), one at N(1, 0.5^2) or N(0, 0.1^2) by an attribute (carries it)."""
    factors = labelled_factors(2000, seed=6, dataset="shapes3d").numpy()
    present = (factors[:, 4] == 2).astype(float)  # sphere
    means = np.column_stack([np.zeros(2000), present])
    logvars = np.column_stack([np.full(2000, 2 * math.log(0.1)), np.where(present > 0, 2 * math.log(0.5),
                                                                             2 * math.log(0.1))])
    against_prior = ground_truth_from_codes(means, logvars, factors, dataset="shapes3d")
    assert against_prior.latents[0].active and against_prior.latents[0].kl == pytest.approx(1.80, abs=0.01)
    truth = ground_truth_from_codes(means, logvars, factors, dataset="shapes3d", aggregate_reference=[True, True])
    constant, attribute = truth.latents
    assert constant.kl == pytest.approx(0.0, abs=1e-9) and not constant.active
    assert attribute.active and attribute.factors == ["shape"]
    assert attribute.kl_reference == "aggregate posterior (moment-matched Gaussian)"


def test_encode_labelled_sample_hands_the_factors_to_an_encoder_that_reads_labels():
    def encode(images: torch.Tensor, factors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert images.shape == (factors.shape[0], 3, 64, 64)
        mean = factors[:, [0, 3]].float()  # floor hue and scale, read off the labels
        return mean, torch.zeros_like(mean)

    means, _, factors = encode_labelled_sample(encode, 2, n_images=150, seed=1, batch_size=64, dataset="shapes3d",
                                               with_factors=True)
    assert np.array_equal(means, factors[:, [0, 3]]) and factors.shape == (150, 6)
    assert np.array_equal(factors, labelled_factors(150, seed=1, dataset="shapes3d").numpy())


def test_an_unknown_dataset_is_a_user_error():
    with pytest.raises(UserError, match="no labelled dataset 'faces'; ground truth exists for dsprites, shapes3d"):
        labelled_factors(200, dataset="faces")
