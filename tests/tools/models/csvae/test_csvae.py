import json
import math

import pytest
import torch
from PIL import Image

from agent.cli import main
from agent.errors import UserError
from tools.models.csvae.model import (
    CSVAE,
    CSVAEConfig,
    adversary_loss,
    csvae_loss,
    gaussian_kl,
    is_csvae_checkpoint,
    load_csvae,
    save_csvae,
)
from tools.models.csvae.training import (
    CSVAETrainSettings,
    dsprites_attributes,
    labelled_source,
    shapes3d_attributes,
    train_csvae,
)
from tools.models.loading import check_model, load_model


def _tiny(**changes) -> CSVAEConfig:
    base = dict(attributes=["a", "b", "c"], z_dim=4, w_dim=2, image_channels=3, image_size=32,
                hidden_channels=8, hidden_dim=32, adversary_hidden=16, anchor_count=8, dataset="test")
    return CSVAEConfig(**(base | changes))


@pytest.fixture
def restore_threads():
    """Training runs with one torch thread (fast on a busy 2-core machine); put it back after."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _data(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 32, 32, generator=g), torch.randint(0, 2, (n, 3), generator=g).float()


def test_forward_shapes_and_latent_layout():
    model = CSVAE(_tiny())
    x, y = _data(5)
    out = model(x, y)
    assert out.logits.shape == (5, 3, 32, 32)
    assert out.z.shape == out.z_mean.shape == (5, 4) and out.w.shape == out.w_logvar.shape == (5, 6)
    assert model.latent_dim == 10
    assert model.groups == {"a": [4, 5], "b": [6, 7], "c": [8, 9]}
    meta = model.metadata
    assert meta["family"] == "csvae" and meta["attributes"] == ["a", "b", "c"] and meta["traversable"] == list(range(10))
    assert meta["conditional_max_alpha"] == 2.0  # 2 sigma past the present class: (1 + 2 * 0.5) / 1
    json.dumps(meta)
    with torch.no_grad():
        images = model.decode(torch.randn(2, 10))
    assert images.shape == (2, 3, 32, 32) and 0 <= images.min() and images.max() <= 1
    assert CSVAE(_tiny(image_size=64)).decode(torch.randn(1, 10)).shape == (1, 3, 64, 64)


def test_prior_depends_on_each_attribute():
    model = CSVAE(_tiny())
    mean, logvar = model.prior_w(torch.tensor([[1.0, 0.0, 1.0]]))
    assert mean.tolist() == [[1.0, 1.0, 0.0, 0.0, 1.0, 1.0]]
    present, absent = 2 * math.log(0.5), 2 * math.log(0.1)
    assert torch.allclose(logvar, torch.tensor([[present, present, absent, absent, present, present]]))


def test_gaussian_kl_matches_torch_distributions():
    mq, lq, mp, lp = torch.randn(4), torch.randn(4), torch.randn(4), torch.randn(4)
    expected = torch.distributions.kl_divergence(
        torch.distributions.Normal(mq, (0.5 * lq).exp()), torch.distributions.Normal(mp, (0.5 * lp).exp()))
    assert torch.allclose(gaussian_kl(mq, lq, mp, lp), expected, atol=1e-5)
    assert torch.allclose(gaussian_kl(mq, lq, mq, lq), torch.zeros(4))


def test_objective_and_adversary_update_separate_parameters():
    model = CSVAE(_tiny())
    x, y = _data()
    out = model(x, y)
    terms = csvae_loss(model, x, y, out)
    assert torch.isfinite(terms.loss)
    assert -3 * math.log(2) - 1e-5 <= terms.adversary_negentropy <= 0
    expected = 20 * terms.reconstruction + terms.kl_w + 0.2 * terms.kl_z + 10 * terms.adversary_negentropy
    assert torch.allclose(terms.loss, expected)
    terms.loss.backward()
    for part in (model.z_encoder, model.w_features, model.w_head, model.decoder):
        assert all(p.grad is not None for p in part.parameters())
    model.zero_grad(set_to_none=True)
    adversary_loss(model, out.z, y).backward()
    assert all(p.grad is not None for p in model.adversary.parameters())
    assert all(p.grad is None for p in model.z_encoder.parameters())  # z is detached for the adversary


def test_entropy_term_pushes_z_towards_uninformative():
    """A step on z against the b4 term raises the adversary's entropy about y."""
    model = CSVAE(_tiny())
    x, y = _data()
    out = model(x, y)
    z = out.z.detach().requires_grad_(True)
    out.z = z
    before = csvae_loss(model, x, y, out)
    (model.config.beta_adversary * before.adversary_negentropy).backward()
    out.z = (z - 0.5 * z.grad).detach()
    after = csvae_loss(model, x, y, out)
    assert after.adversary_negentropy < before.adversary_negentropy


def test_w_move_and_anchors_come_from_encoded_data():
    model = CSVAE(_tiny()).eval()
    x, y = _data(32)
    y[:, 2] = (torch.arange(32) % 2).float()
    model.fit_directions_and_anchors(x, y, batch_size=5)
    with torch.no_grad():
        w = model.encode_w(x, y)[0]
        z = model.encode_z(x)[0]
    positive = y[:, 1] > 0.5
    expected = w[positive, 2:4].mean(0) - w[~positive, 2:4].mean(0)
    direction = model.attribute_direction("b")
    assert torch.allclose(direction[6:8], expected, atol=1e-5)
    assert direction[:6].abs().sum() == 0 and direction[8:].abs().sum() == 0
    assert torch.allclose(model.anchors, torch.cat([z, w], 1)[:8], atol=1e-5)
    anchors = model.sample_latents(5, torch.Generator().manual_seed(2))
    assert all(any(torch.equal(row, anchor) for anchor in model.anchors) for row in anchors)
    assert len({tuple(row.tolist()) for row in anchors}) == 5  # drawn without replacement
    assert model.sample_latents(20, torch.Generator().manual_seed(2)).shape == (20, 10)
    with pytest.raises(ValueError, match="unknown attribute 'd'"):
        model.attribute_direction("d")
    y[:, 0] = 1.0
    with pytest.raises(ValueError, match="attribute 'a' needs images with and without it"):
        model.fit_directions_and_anchors(x, y)


def test_conditional_anchors_lack_the_attribute():
    model = CSVAE(_tiny()).eval()
    x, y = _data(32)
    y[:, 1] = (torch.arange(32) % 3 == 0).float()  # the first 8 images (the anchors): 3 with "b"
    model.fit_directions_and_anchors(x, y)
    lacking = [anchor for anchor, attrs in zip(model.anchors, model.anchor_attributes, strict=True) if attrs[1] < 0.5]
    drawn = model.anchors_without("b", 7, torch.Generator().manual_seed(0))
    assert drawn.shape == (7, 10) and len(lacking) == 5
    assert all(any(torch.equal(row, anchor) for anchor in lacking) for row in drawn)
    assert len({tuple(row.tolist()) for row in drawn[:5]}) == 5  # without replacement while they last
    with pytest.raises(ValueError, match="unknown attribute 'd'"):
        model.anchors_without("d", 1)


def test_unfitted_model_draws_anchors_from_the_prior():
    model = CSVAE(_tiny())
    a = model.sample_latents(500, torch.Generator().manual_seed(0))
    assert a.shape == (500, 10) and torch.equal(a, model.sample_latents(500, torch.Generator().manual_seed(0)))
    w = a[:, 4:6]
    assert (w.mean(1) > 0.5).float().mean().item() == pytest.approx(0.5, abs=0.1)  # half present (mean 1), half absent


def test_checkpoint_round_trip_and_sandbox_loader(tmp_path):
    model = CSVAE(_tiny())
    x, y = _data(16)
    model.fit_directions_and_anchors(x, y)
    folder = save_csvae(model, tmp_path / "ck", {"seed": 3})
    assert is_csvae_checkpoint(folder)
    loaded = load_csvae(folder)
    z = torch.randn(3, 10)
    with torch.no_grad():
        assert torch.allclose(model.decode(z), loaded.decode(z))
    assert torch.equal(loaded.w_move, model.w_move) and loaded.training_record == {"seed": 3}
    assert loaded.name == "ck"
    sandbox_model = load_model(str(folder), device="cpu")
    info = check_model(sandbox_model)
    assert info["latent_dim"] == 10 and info["image_shape"] == [3, 32, 32]
    assert info["metadata"]["groups"]["c"] == [8, 9]


def test_attributes_from_factors():
    dsprites = dsprites_attributes(torch.tensor([[0, 5, 0, 3, 20], [2, 1, 9, 31, 2]]))
    assert dsprites.tolist() == [[1, 0, 0, 1, 1, 0], [0, 0, 1, 0, 0, 1]]
    shapes = shapes3d_attributes(torch.tensor([[3, 6, 0, 4, 2, 8], [0, 0, 5, 3, 0, 7]]))
    assert shapes.tolist() == [[1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0]]


def test_labelled_sources(tmp_path):
    source = labelled_source("shapes3d")
    images, attributes = source.sample(3, torch.Generator().manual_seed(0))
    assert images.shape == (3, 3, 64, 64) and attributes.shape == (3, 6) and source.size is None
    for name, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        (tmp_path / "classes" / name).mkdir(parents=True)
        Image.new("RGB", (8, 8), colour).save(tmp_path / "classes" / name / "x.png")
    folder = labelled_source(str(tmp_path / "classes"), image_size=32)
    images, attributes = folder.sample(2, torch.Generator().manual_seed(0))
    assert folder.attributes == ("blue", "red") and folder.size == 2
    assert torch.equal(attributes[:, 1], (images[:, 0].mean((1, 2)) > 0.5).float())  # red images carry "red"
    (tmp_path / "flat").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "flat" / "x.png")
    with pytest.raises(UserError, match="two class sub-folders"):
        labelled_source(str(tmp_path / "flat"))
    with pytest.raises(UserError, match="not a folder"):
        labelled_source("mnist")
    with pytest.raises(UserError, match="--image-size 64"):
        labelled_source("dsprites", image_size=32)


def test_training_lowers_the_objective(tmp_path, restore_threads):
    source = labelled_source("digits", image_size=32)
    config = _tiny(attributes=list(source.attributes), image_channels=1, w_dim=1, anchor_count=16)
    x, y = source.sample(64, torch.Generator().manual_seed(9))

    def objective(model):
        torch.manual_seed(0)
        with torch.no_grad():
            return csvae_loss(model, x, y, model(x, y)).reconstruction.item()

    torch.manual_seed(0)
    start = objective(CSVAE(config))  # train_csvae initialises with the same seed
    folder = train_csvae(source, config, CSVAETrainSettings(steps=20, batch_size=16, lr=1e-2, fit_images=64, threads=1),
                         tmp_path / "digits", progress=False)
    trained = load_csvae(folder)
    assert objective(trained) < 0.85 * start
    assert trained.training_record["steps_done"] == 20


def test_train_command_writes_a_csvae_checkpoint(tmp_path, capsys, restore_threads):
    out = tmp_path / "ck"
    args = ["train", "--family", "csvae", "--dataset", "digits", "--image-size", "32", "--steps", "2",
            "--batch-size", "4", "--seed", "5", "--z-dim", "3", "--w-dim", "1", "--threads", "1", "--out", str(out)]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"checkpoint": str(out)}
    record = json.loads((out / "config.json").read_text())
    assert record["family"] == "csvae" and record["model"]["attributes"][0] == "digit_0"
    assert record["training"]["settings"]["seed"] == 5
    assert "--family csvae" in record["training"]["settings"]["command"]
    assert "--seed 5" in record["training"]["settings"]["command"]
    model = load_csvae(out)
    assert model.latent_dim == 3 + 10 and float(model.fitted) == 1.0


@pytest.mark.parametrize(("args", "message"), [
    (["--family", "vae", "--dataset", "shapes3d"], "--family vae trains on --dataset dsprites only"),
    (["--family", "csvae", "--latent-dim", "4"], "--latent-dim is for --family vae"),
    (["--family", "csvae", "--dataset", "nowhere"], "not a folder of images"),
    (["--family", "csvae", "--z-dim", "0"], "--z-dim and --w-dim must be at least 1"),
])
def test_train_command_errors(tmp_path, capsys, args, message):
    assert main(["train", "--out", str(tmp_path / "x"), "--steps", "1", *args]) == 2
    assert message in capsys.readouterr().err


def test_residual_posterior_starts_at_the_prior():
    x, y = _data(4)
    residual, free = CSVAE(_tiny()), CSVAE(_tiny(w_posterior="free"))
    with torch.no_grad():
        mean, logvar = residual.encode_w(x, y)
        prior_mean, prior_logvar = residual.prior_w(y)
        assert torch.equal(mean, prior_mean) and torch.equal(logvar, prior_logvar)
        assert not torch.allclose(free.encode_w(x, y)[0], prior_mean)


@pytest.mark.parametrize("field", ["prior_present_mean", "prior_present_std", "prior_absent_std"])
def test_the_prior_needs_positive_values(field):
    with pytest.raises(ValueError, match="must be positive"):
        _tiny(**{field: 0.0})
