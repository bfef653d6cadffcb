"""Tests for tools/evaluation/factor_probe/model.py and tools/evaluation/factor_probe/training.py: the readings' encodings
against hand-made head outputs, the augmentation, the checkpoint folder, and a probe that learns
to read posX from renders on a tiny training budget."""

from __future__ import annotations

import json
import math

import pytest
import torch

from agent.errors import UserError
from tools.evaluation.factor_probe.__main__ import main
from tools.evaluation.factor_probe.model import (
    FactorProbe,
    FactorSpec,
    ProbeConfig,
    folded_angle_reading,
    folded_angle_target,
    labelled_images,
    load_probe,
    ordinal_target,
    probe_dataset,
    save_probe,
)
from tools.evaluation.factor_probe.training import (
    Augmentation,
    ProbeTrainSettings,
    augment,
    gaussian_blur,
    held_out_accuracy,
    probe_loss,
    train_probe,
)

TINY = {"widths": (8, 8, 16, 16), "hidden": 32}


@pytest.fixture(scope="module")
def tiny_probe():
    """A probe trained for a few seconds on 32x32 dSprites, and its training record."""
    torch.set_num_threads(1)
    return train_probe(ProbeConfig(**TINY), ProbeTrainSettings(steps=200, batch_size=64, lr=3e-3, held_out=400),
                       progress=False)


def test_dsprites_heads_match_the_factors():
    config = ProbeConfig()
    assert config.factor_names == ["shape", "scale", "orientation", "posX", "posY"]
    kinds = {f.name: f.kind for f in config.factors}
    assert kinds == {"shape": "categorical", "scale": "ordinal", "orientation": "folded_angle",
                     "posX": "ordinal", "posY": "ordinal"}
    orientation = config.factors[2]
    assert orientation.fold_by == "shape" and orientation.periods == (10, 20, 40)
    assert orientation.n_outputs == 6 and orientation.feature_dim == 2


def test_labelled_images_are_pooled_renders():
    images, factors = labelled_images(probe_dataset("dsprites"), 6, 32, torch.Generator().manual_seed(0))
    assert images.shape == (6, 1, 32, 32) and factors.shape == (6, 5)
    assert 0 <= float(images.min()) and float(images.max()) <= 1
    assert len(torch.unique(images)) > 2  # average pooling anti-aliases the binary edges
    with pytest.raises(UserError, match="divide 64"):
        labelled_images(probe_dataset("dsprites"), 2, 24)


def test_unknown_dataset_is_a_user_error():
    with pytest.raises(UserError, match="known: dsprites, shapes3d"):
        probe_dataset("mnist")


def test_ordinal_target_is_read_back_as_the_label():
    probe = FactorProbe(ProbeConfig(**TINY))
    spec = probe.config.factors[3]  # posX
    labels = torch.arange(32)
    value = (0.5 + math.sqrt(1 / 12) * ordinal_target(spec, labels)).clamp(0, 1)
    assert torch.allclose(value, labels / 31)
    assert torch.equal((value * 31).round().long(), labels)


def test_folded_angle_reading_inverts_its_target():
    spec = FactorSpec("orientation", 40, "folded_angle", "shape", (10, 20, 40))
    labels, shapes = torch.arange(40).repeat(3), torch.arange(3).repeat_interleave(40)
    target = folded_angle_target(spec, labels, shapes)
    outputs = torch.zeros(120, 6)
    outputs[torch.arange(120), 2 * shapes], outputs[torch.arange(120), 2 * shapes + 1] = target[:, 0], target[:, 1]
    reading = folded_angle_reading(spec, outputs, shapes)
    assert torch.equal(reading.labels, labels % torch.tensor([10, 20, 40])[shapes])
    assert torch.allclose(reading.features.norm(dim=1), torch.ones(120))
    # a square at 0 and at 90 degrees (label 10) is the same image, so the same target
    assert torch.allclose(target[0], target[10], atol=1e-6)


def test_gaussian_blur_keeps_sharp_images_at_zero_sigma_and_conserves_mass():
    images = torch.zeros(2, 1, 16, 16)
    images[:, :, 6:10, 6:10] = 1
    assert torch.allclose(gaussian_blur(images, torch.tensor([1e-4, 1e-4])), images, atol=1e-6)
    blurred = gaussian_blur(images, torch.tensor([0.0, 1.0]))
    assert torch.allclose(blurred[0], images[0], atol=1e-6)
    assert float(blurred[1].sum()) == pytest.approx(16.0, rel=1e-4)
    assert 0 < float(blurred[1, 0, 5, 5]) < 1


def test_augment_stays_in_range_and_leaves_unchosen_images_alone():
    images, _ = labelled_images(probe_dataset("dsprites"), 64, 32, torch.Generator().manual_seed(1))
    out = augment(images, Augmentation(), torch.Generator().manual_seed(2))
    assert out.shape == images.shape and 0 <= float(out.min()) and float(out.max()) <= 1
    untouched = augment(images, Augmentation(probability=0.0), torch.Generator().manual_seed(2))
    assert torch.equal(untouched, images)
    changed = (out - images).abs().flatten(1).amax(dim=1) > 0
    assert 0.5 < float(changed.float().mean()) < 1.0  # about 80% chosen


def test_probe_rejects_images_of_another_size():
    probe = FactorProbe(ProbeConfig(**TINY))
    with pytest.raises(ValueError, match=r"\(B, 1, 32, 32\)"):
        probe(torch.zeros(2, 1, 64, 64))


def test_probe_loss_is_finite_and_differentiable():
    probe = FactorProbe(ProbeConfig(**TINY))
    images, factors = labelled_images(probe_dataset("dsprites"), 8, 32, torch.Generator().manual_seed(0))
    loss = probe_loss(probe, images, factors)
    loss.backward()
    assert math.isfinite(loss.item())
    assert all(p.grad is not None for p in probe.parameters())


def test_tiny_training_reads_position_better_than_chance(tiny_probe):
    probe, record = tiny_probe
    clean = record["held_out"]["clean"]
    assert clean["posX"]["within_one"] > 0.5  # chance of landing within one step: about 3/32
    assert clean["posX"]["mae_steps"] < 3  # chance: about 10.7 steps
    assert set(clean) == set(probe.config.factor_names)
    assert set(probe.config.reference_variance) == set(probe.config.factor_names)
    assert probe.config.reference_variance["posX"] > 0.03  # uniform positions: about 1/12
    assert all(value >= 0 for value in probe.config.jitter.values())


def test_held_out_accuracy_is_ordered(tiny_probe):
    probe, _ = tiny_probe
    images, factors = labelled_images(probe_dataset("dsprites"), 50, 32, torch.Generator().manual_seed(3))
    scores = held_out_accuracy(probe, images, factors)
    for name in ("scale", "orientation", "posX", "posY"):
        assert 0 <= scores[name]["accuracy"] <= scores[name]["within_one"] <= 1
    assert set(scores["shape"]) == {"accuracy", "chance"}  # no distance between categories


def test_shapes3d_probe_reads_colour_scenes():
    images, factors = labelled_images(probe_dataset("shapes3d"), 4, 32, torch.Generator().manual_seed(0))
    probe = FactorProbe(ProbeConfig(dataset="shapes3d", channels=3, **TINY))
    assert images.shape == (4, 3, 32, 32)
    assert math.isfinite(probe_loss(probe, images, factors).item())
    readings = probe.read(images)
    assert readings["object_hue"].features.shape == (4, 10) and readings["scale"].features.shape == (4, 1)


def test_saved_probe_reads_the_same(tiny_probe, tmp_path):
    probe, record = tiny_probe
    save_probe(probe, tmp_path, record)
    assert (tmp_path / "model.safetensors").stat().st_mode & 0o777 == 0o644
    loaded = load_probe(tmp_path)
    images, _ = labelled_images(probe_dataset("dsprites"), 10, 32, torch.Generator().manual_seed(4))
    for name, reading in probe.read(images).items():
        assert torch.allclose(loaded.read(images)[name].features, reading.features)
    assert loaded.config.reference_variance == probe.config.reference_variance
    assert loaded.training_record["held_out"] == record["held_out"]


def test_loading_a_folder_without_a_probe_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no model.safetensors"):
        load_probe(tmp_path)


def test_command_line_trains_and_writes_a_probe(tmp_path, capsys):
    out = tmp_path / "probe"
    assert main(["train", "--out", str(out), "--steps", "2", "--batch-size", "8", "--held-out", "20"]) == 0
    record = json.loads((out / "config.json").read_text())
    assert record["family"] == "factor-probe" and record["model"]["image_size"] == 32
    assert record["training"]["command"].startswith("python -m tools.evaluation.factor_probe train --out")
    assert "posX" in capsys.readouterr().out
    assert main([]) == 2
    assert main(["train", "--out", str(out), "--image-size", "24"]) == 2
    assert "image_size" in capsys.readouterr().err
