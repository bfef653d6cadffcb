"""Tests for tools/evaluation/labelled_encoders.py and tools/evaluation/model_ground_truth.py on tiny checkpoints.

The planted relation: a freshly built CSVAE with the residual w posterior has its w head at
zero, so q(w | x, y) is exactly the prior p(w | y): each w_i is y_i (mean 1 with the attribute,
0 without). Ground truth through the real encoder and the real 3DShapes renders must then find
each attribute's w controlling the factor that attribute is read from."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from agent.errors import UserError
from tools.evaluation.labelled_encoders import csvae_encoder, load_labelled_encoder
from tools.evaluation.model_ground_truth import LabelledModel, labelled_model, measure_ground_truth
from tools.models.csvae.model import CSVAE, CSVAEConfig, save_csvae
from tools.models.csvae.training import SHAPES3D_ATTRIBUTES

# The factor each 3DShapes attribute is read from (tools/train_csvae.shapes3d_attributes).
ATTRIBUTE_FACTOR = {"red_object": "object_hue", "blue_wall": "wall_hue", "green_floor": "floor_hue",
                    "large_object": "scale", "sphere": "shape", "orientation_positive": "orientation"}


def tiny_csvae(attributes=SHAPES3D_ATTRIBUTES, dataset: str = "shapes3d") -> CSVAE:
    torch.manual_seed(0)
    return CSVAE(CSVAEConfig(attributes=list(attributes), z_dim=2, w_dim=1, image_channels=3, image_size=64,
                             hidden_channels=4, hidden_dim=16, adversary_hidden=8, anchor_count=8, dataset=dataset))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_csvae(tiny_csvae(), tmp_path_factory.mktemp("models") / "tiny-csvae")


def test_csvae_encoder_uses_the_explain_runs_layout(checkpoint):
    encoder = csvae_encoder(checkpoint, torch.device("cpu"))
    assert encoder.family == "csvae" and encoder.dataset.name == "shapes3d" and encoder.latent_dim == 8
    assert encoder.layout == {"z": [0, 1]} | {f"w:{name}": [2 + i] for i, name in enumerate(SHAPES3D_ATTRIBUTES)}
    assert encoder.aggregate_reference == (False, False) + (True,) * 6
    factors = torch.tensor([[3, 0, 5, 0, 0, 0], [0, 6, 5, 7, 2, 14]])  # green floor; blue wall, large sphere, turned
    images = encoder.dataset.render(factors)
    mean, logvar = encoder.encode(images, factors)
    assert mean.shape == logvar.shape == (2, 8)
    assert mean[:, 2:].tolist() == [[0, 0, 1, 0, 0, 0], [0, 1, 0, 1, 1, 1]]  # w = y at initialisation


def test_ground_truth_of_a_csvae_recovers_each_attributes_factor(checkpoint):
    model = LabelledModel(ref=str(checkpoint), folder=checkpoint, family="csvae", dataset="shapes3d")
    measured = measure_ground_truth(model, n_images=600, seed=0, device="cpu", anchors=24, traversal_range=None)
    truth = measured.truth
    assert truth.dataset == "shapes3d" and len(truth.latents) == 8
    for i, name in enumerate(SHAPES3D_ATTRIBUTES):
        latent = truth.latents[2 + i]
        assert latent.active and latent.factors == [ATTRIBUTE_FACTOR[name]], (name, latent)
        assert latent.kl_reference.startswith("aggregate")
    assert measured.codes.shape == (600, 8) and measured.factors.shape == (600, 6)
    assert np.array_equal(measured.codes[:, 2:], measured.codes[:, 2:].round())  # still exactly y


def test_labelled_model_reads_family_and_dataset(checkpoint, tmp_path):
    assert labelled_model(str(checkpoint)) == LabelledModel(str(checkpoint), checkpoint, "csvae", "shapes3d")
    assert labelled_model("builtin:shapes3d-csvae").family == "csvae"
    assert labelled_model("builtin:dsprites-ddpm").family == "ddpm"
    sd = tmp_path / "sd"
    sd.mkdir()
    (sd / "config.json").write_text(json.dumps({"family": "sd", "model": {"dataset": "dsprites"}}))
    (sd / "model.safetensors").write_bytes(b"")  # never read: the family is refused first
    with pytest.raises(UserError, match=r"no ground truth for sd models yet .*families vae, csvae, ddpm"):
        labelled_model(str(sd))
    digits = save_csvae(tiny_csvae(dataset="digits"), tmp_path / "digits")
    with pytest.raises(UserError, match="trained on dataset 'digits'; eval measures ground truth only for"):
        labelled_model(str(digits))


def test_a_csvae_with_other_attributes_cannot_be_fed_labels(tmp_path):
    folder = save_csvae(tiny_csvae(attributes=["a", "b"]), tmp_path / "ab")
    with pytest.raises(UserError, match=r"attributes \['a', 'b'\] are not the shapes3d attributes"):
        load_labelled_encoder(folder, "csvae", torch.device("cpu"))
    with pytest.raises(UserError, match="no encoder for ddpm models"):
        load_labelled_encoder(folder, "ddpm", torch.device("cpu"))
