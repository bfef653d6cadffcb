"""Tests for tools/evaluation/probe_ground_truth.py: the traversal bookkeeping, the spread and its floors on
hand-made measurements, scoring by tools/evaluation/scoring.py unchanged, and the whole measurement on a
synthetic decoder (posX on coordinate 0, scale on 1, coordinate 2 ignored) read by the shipped
32x32 dSprites probe."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agent.errors import UserError
from tools.evaluation.factor_probe.model import builtin_probe_folder, load_probe
from tools.evaluation.probe_ground_truth import (
    MIN_SPREAD,
    TraversalSpread,
    consistency,
    decode_distinct,
    ground_truth_from_spread,
    measure_traversal_spread,
    probe_ground_truth,
    traversal_codes,
    traversal_values,
    within_anchor_variance,
)
from tools.evaluation.scoring import evaluate_results

NAMES = ["shape", "scale", "orientation", "posX", "posY"]


class SyntheticDecoder:
    """A 3-coordinate decoder of 32x32 dSprites squares: coordinate 0 in [-3, 3] sets posX over
    its 32 values, coordinate 1 sets scale over its 6, coordinate 2 is ignored; posY is fixed at
    the centre, orientation at 0."""

    latent_dim = 3
    metadata = {"dataset": "dsprites", "traversal_range": 3.0}

    def __init__(self):
        self.batch_sizes: list[int] = []

    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.rand(n, 3, generator=generator) * 6 - 3

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        from tools.data.dsprites import render

        self.batch_sizes.append(len(z))
        fraction = ((z[:, :2].clamp(-3, 3) + 3) / 6)
        factors = torch.zeros(len(z), 5, dtype=torch.long)
        factors[:, 3] = (fraction[:, 0] * 31).round().long()
        factors[:, 1] = (fraction[:, 1] * 5).round().long()
        factors[:, 4] = 16
        return torch.nn.functional.avg_pool2d(render(factors), 2)


@pytest.fixture(scope="module")
def shipped_probe():
    folder = builtin_probe_folder("dsprites", 32)
    if not (folder / "config.json").is_file():
        pytest.skip("the shipped dsprites_32 probe is not there")
    torch.set_num_threads(1)
    return load_probe(folder)


def spread_of(rows: list[list[float]], traversed: list[int], floors: list[float] | None = None) -> TraversalSpread:
    spread = np.array(rows, dtype=float)
    return TraversalSpread(spread=spread, floors=np.array(floors or [MIN_SPREAD] * len(NAMES)),
                           image_change=np.zeros(len(rows)), traversed=traversed, values=[-1.0, 0.0, 1.0],
                           n_anchors=2, factor_names=NAMES, n_codes=0, n_decoded=0, decode_seconds=0.0,
                           probe_seconds=0.0)


def test_traversal_codes_set_one_coordinate_per_anchor():
    anchors = torch.tensor([[1.0, 2.0, 7.0], [3.0, 4.0, 8.0]])
    codes = traversal_codes(anchors, 1, torch.tensor([-1.0, 0.0, 1.0]))
    assert codes.tolist() == [[1, -1, 7], [1, 0, 7], [1, 1, 7], [3, -1, 8], [3, 0, 8], [3, 1, 8]]


def test_traversal_values_are_symmetric_with_an_exact_zero():
    values = traversal_values(1.0, 7)
    assert values[3].item() == 0.0 and torch.equal(values, -values.flip(0))
    assert values[0].item() == -1.0 and values[-1].item() == 1.0


def test_anchor_codes_are_decoded_once_for_all_coordinates():
    decoder = SyntheticDecoder()
    decoder.sample_latents = lambda n, generator=None: torch.zeros(n, 3)  # anchors at 0, like a DDPM's
    measured = measure_traversal_spread(decoder, None, n_anchors=2, n_values=3, batch_size=100)
    assert measured.n_codes == 18 and measured.n_decoded == 7  # (0, 0, 0) once, not six times


def test_decode_distinct_decodes_each_code_once_in_batches():
    decoder = SyntheticDecoder()
    codes = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    images, n_decoded = decode_distinct(decoder.decode, codes, batch_size=2)
    assert n_decoded == 3 and decoder.batch_sizes == [2, 1]
    assert images.shape == (5, 1, 32, 32)
    assert torch.equal(images[0], images[2]) and torch.equal(images[1], images[4])
    assert not torch.equal(images[0], images[1])


def test_within_anchor_variance_ignores_differences_between_anchors():
    steady = torch.tensor([[[0.0], [0.0]], [[5.0], [5.0]]])  # (A=2, V=2, d=1)
    assert within_anchor_variance(steady) == 0.0
    moving = torch.tensor([[[0.0, 0.0], [1.0, 1.0]], [[5.0, 5.0], [6.0, 6.0]]])
    assert within_anchor_variance(moving) == pytest.approx(0.5)  # 0.25 per dimension, two dimensions


def test_ground_truth_applies_floors_and_keeps_raw_spreads():
    rows = [[0.0, 0.05, 0.6, 0.9, 0.5], [0.0, 0.0, 0.0, 0.0, 0.0], [0.3, 0.0, 0.0, 0.0, 0.0]]
    truth = ground_truth_from_spread(spread_of(rows, traversed=[0, 2], floors=[0.1, 0.1, 0.8, 0.1, 0.1]))
    z0, z1, z2 = truth.latents
    assert z0.active and z0.factors == ["posX", "posY"]  # orientation 0.6 is under its floor 0.8
    assert z0.normalized_mi["orientation"] == 0.6  # the raw spread is kept
    assert not z1.active and z1.factors == []  # not traversed (a DDPM's seed)
    assert z2.factors == ["shape"]
    assert math.isnan(z0.kl) and truth.factor_names == NAMES and truth.orientation_folded
    assert truth.mig == pytest.approx(np.mean([0.3, 0.05, 0.6, 0.9, 0.5]))


def test_a_factor_moved_on_a_few_anchors_only_is_not_controlled():
    rows = [[0.0, 0.0, 0.0, 0.5, 0.0], [0.0, 0.0, 0.0, 0.5, 0.0]]
    measured = spread_of(rows, traversed=[0, 1])
    measured.anchor_spread = np.zeros((2, 4, 5))
    measured.anchor_spread[0, :, 3] = [0.9, 0.3, 0.3, 0.05]  # moves posX past 0.1 on 3 of 4 anchors
    measured.anchor_spread[1, :, 3] = [1.0, 0.0, 0.0, 0.0]  # one scene rearranged, the rest still
    assert consistency(measured)[:, 3].tolist() == [0.75, 0.25]
    truth = ground_truth_from_spread(measured)
    assert truth.latents[0].factors == ["posX"]
    assert not truth.latents[1].active and truth.latents[1].normalized_mi["posX"] == 0.5


def test_evaluation_scores_a_probe_ground_truth_unchanged():
    rows = [[0.0, 0.0, 0.0, 0.9, 0.0], [0.0, 0.8, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]]
    truth = ground_truth_from_spread(spread_of(rows, traversed=[0, 1, 2]))
    results = {"latents": [
        {"id": "z0", "indices": [0], "status": "explained", "certainty": 0.9, "explanation": "moves from left to right"},
        {"id": "z1", "indices": [1], "status": "explained", "certainty": 0.8, "explanation": "the shape gets bigger"},
        {"id": "z2", "indices": [2], "status": "unclear", "certainty": 0.1, "explanation": None},
    ]}
    evaluation = evaluate_results(results, truth)
    assert [row.truth_label for row in evaluation.rows] == ["posX", "scale", "inactive"]
    assert evaluation.factor_accuracy == 1.0 and evaluation.gating_auc == 1.0


def test_synthetic_decoder_truth_from_the_shipped_probe(shipped_probe):
    decoder = SyntheticDecoder()
    measured = measure_traversal_spread(decoder, shipped_probe, n_anchors=8, n_values=7, batch_size=32)
    truth = ground_truth_from_spread(measured)
    assert measured.traversed == [0, 1, 2] and measured.n_codes == 3 * 8 * 7
    assert max(decoder.batch_sizes) <= 32
    assert truth.latents[0].factors[:1] == ["posX"] and "scale" not in truth.latents[0].factors
    assert truth.latents[1].factors[:1] == ["scale"] and "posX" not in truth.latents[1].factors
    assert not truth.latents[2].active and measured.image_change[2] == 0.0
    assert np.all(measured.spread[2] == 0.0)  # identical images, identical readings
    assert measured.spread[0, NAMES.index("posX")] > 0.8  # the whole range is swept
    moved = consistency(measured)
    assert moved[0, NAMES.index("posX")] == 1.0 and moved[1, NAMES.index("scale")] == 1.0  # on every anchor
    assert np.all(moved[2] == 0.0)


def test_probe_ground_truth_uses_the_metadata_and_the_shipped_probe(shipped_probe):
    decoder = SyntheticDecoder()
    decoder.metadata = {"dataset": "dsprites", "traversable": [0, 2], "traversal_range": 3.0}
    truth = probe_ground_truth(decoder, n_anchors=4, n_values=5)
    assert len(truth.latents) == 3
    assert truth.latents[0].factors[:1] == ["posX"]
    assert not truth.latents[1].active  # not traversable
    assert not truth.latents[2].active


def test_mismatched_probe_and_bad_arguments_are_user_errors(shipped_probe):
    class Large(SyntheticDecoder):
        def decode(self, z):
            return torch.zeros(len(z), 1, 64, 64)

    with pytest.raises(UserError, match="probe reads"):
        measure_traversal_spread(Large(), shipped_probe, n_anchors=2, n_values=2)
    with pytest.raises(UserError, match="at least 2"):
        measure_traversal_spread(SyntheticDecoder(), shipped_probe, n_anchors=1)
    with pytest.raises(UserError, match="cannot be traversed"):
        measure_traversal_spread(SyntheticDecoder(), shipped_probe, indices=[5])
    anonymous = SyntheticDecoder()
    anonymous.metadata = {}
    with pytest.raises(UserError, match="metadata 'dataset'"):
        probe_ground_truth(anonymous)
