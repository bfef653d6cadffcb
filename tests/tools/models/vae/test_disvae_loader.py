"""A randomly initialised model saved in the disentangling-vae format (specs.json + model.pt),
built from the format's documented key names and shapes, not from the loader's modules."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from agent.errors import UserError
from tools.data.dsprites import sample_batch
from tools.models.loading import check_model, load_model
from tools.models.references import parse_model_ref
from tools.models.vae.disvae import load_disvae


def _documented_state(channels: int, size: int, latent: int) -> dict[str, torch.Tensor]:
    """The Burgess model's state dict as the format documents it (32 channels, 4x4 kernels,
    256 hidden units; conv_64 / convT_64 only for 64x64)."""
    shapes = {
        "encoder.conv1": (32, channels, 4, 4), "encoder.conv2": (32, 32, 4, 4), "encoder.conv3": (32, 32, 4, 4),
        "encoder.lin1": (256, 512), "encoder.lin2": (256, 256), "encoder.mu_logvar_gen": (2 * latent, 256),
        "decoder.lin1": (256, latent), "decoder.lin2": (256, 256), "decoder.lin3": (512, 256),
        "decoder.convT1": (32, 32, 4, 4), "decoder.convT2": (32, 32, 4, 4), "decoder.convT3": (32, channels, 4, 4),
    }
    if size == 64:
        shapes |= {"encoder.conv_64": (32, 32, 4, 4), "decoder.convT_64": (32, 32, 4, 4)}
    state = {}
    for name, shape in shapes.items():
        state[f"{name}.weight"] = torch.randn(shape) / math.sqrt(math.prod(shape[1:]))
        bias_size = shape[1] if "convT" in name else shape[0]
        state[f"{name}.bias"] = torch.randn(bias_size) * 0.05
    return state


def _save(folder, channels=1, size=64, latent=10, dataset="dsprites", state=None, **spec_changes):
    folder.mkdir(parents=True, exist_ok=True)
    state = _documented_state(channels, size, latent) if state is None else state
    torch.save(state, folder / "model.pt")
    specs = {"img_size": [channels, size, size], "latent_dim": latent, "model_type": "Burgess",
             "dataset": dataset, "loss": "btcvae"} | spec_changes
    (folder / "specs.json").write_text(json.dumps(specs))
    return state


def _reference_decode(state, z, size):
    """The documented decoder forward, written with functional ops from the state dict."""
    s = {k.removeprefix("decoder."): v for k, v in state.items() if k.startswith("decoder.")}
    h = F.relu(F.linear(z, s["lin1.weight"], s["lin1.bias"]))
    h = F.relu(F.linear(h, s["lin2.weight"], s["lin2.bias"]))
    h = F.relu(F.linear(h, s["lin3.weight"], s["lin3.bias"])).view(-1, 32, 4, 4)
    layers = (["convT_64"] if size == 64 else []) + ["convT1", "convT2"]
    for layer in layers:
        h = F.relu(F.conv_transpose2d(h, s[f"{layer}.weight"], s[f"{layer}.bias"], stride=2, padding=1))
    return torch.sigmoid(F.conv_transpose2d(h, s["convT3.weight"], s["convT3.bias"], stride=2, padding=1))


@pytest.mark.parametrize(("channels", "size"), [(1, 64), (3, 32)])
def test_decoder_matches_the_documented_forward(tmp_path, channels, size):
    state = _save(tmp_path / "m", channels=channels, size=size, latent=6)
    model = load_disvae(tmp_path / "m")
    z = torch.randn(3, 6)
    with torch.no_grad():
        images = model.decode(z)
    assert images.shape == (3, channels, size, size)
    assert torch.allclose(images, _reference_decode(state, z, size), atol=1e-6)


def test_encoder_reads_mean_and_logvar_as_pairs(tmp_path):
    state = _save(tmp_path / "m", latent=4)
    model = load_disvae(tmp_path / "m")
    x = torch.rand(2, 1, 64, 64)
    s = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
    h = x
    for layer in ("conv1", "conv2", "conv3", "conv_64"):
        h = F.relu(F.conv2d(h, s[f"{layer}.weight"], s[f"{layer}.bias"], stride=2, padding=1))
    h = F.relu(F.linear(h.flatten(1), s["lin1.weight"], s["lin1.bias"]))
    h = F.relu(F.linear(h, s["lin2.weight"], s["lin2.bias"]))
    out = F.linear(h, s["mu_logvar_gen.weight"], s["mu_logvar_gen.bias"])
    with torch.no_grad():
        mean, logvar = model.encode(x)
    assert torch.allclose(mean, out[:, 0::2], atol=1e-5) and torch.allclose(logvar, out[:, 1::2], atol=1e-5)


def test_model_ref_and_sandbox_loader(tmp_path):
    _save(tmp_path / "dsprites_model", latent=5)
    ref = parse_model_ref(f"disvae:{tmp_path / 'dsprites_model'}")
    assert ref.kind == "disvae" and str(ref) == f"disvae:{tmp_path / 'dsprites_model'}"
    model = load_model(str(ref), device="cpu")
    info = check_model(model)
    assert info["latent_dim"] == 5 and info["image_shape"] == [1, 64, 64] and info["name"] == "dsprites_model"
    assert info["metadata"]["family"] == "vae" and info["metadata"]["default_bias"] == "disentanglement"
    assert "posX" in info["metadata"]["factor_names"]
    json.dumps(info)
    a = model.sample_latents(4, torch.Generator().manual_seed(1))
    b = model.sample_latents(4, torch.Generator().manual_seed(1))
    assert a.shape == (4, 5) and torch.equal(a, b)
    with torch.no_grad():  # dSprites anchors are posterior means of rendered sprites
        images = sample_batch(4, torch.Generator().manual_seed(1)).images
        assert torch.allclose(a, model.encode(images)[0], atol=1e-5)


def test_bad_folders_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no specs.json"):
        (tmp_path / "empty").mkdir()
        parse_model_ref(f"disvae:{tmp_path / 'empty'}")
    _save(tmp_path / "type", model_type="Higgins")
    with pytest.raises(UserError, match="model_type 'Higgins'"):
        parse_model_ref(f"disvae:{tmp_path / 'type'}")
    _save(tmp_path / "size", size=48)
    with pytest.raises(UserError, match="img_size"):
        parse_model_ref(f"disvae:{tmp_path / 'size'}")
    state = _documented_state(1, 64, 10)
    del state["decoder.convT_64.weight"]
    _save(tmp_path / "missing", state=state)
    with pytest.raises(UserError, match="missing: decoder.convT_64.weight"):
        load_disvae(tmp_path / "missing")
    _save(tmp_path / "latent", state=_documented_state(1, 64, 8), latent=10)
    with pytest.raises(UserError, match="wrong shape"):
        load_disvae(tmp_path / "latent")
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "model.pt").write_bytes(b"no torch here")
    (tmp_path / "garbage" / "specs.json").write_text(json.dumps({"img_size": [1, 64, 64], "latent_dim": 3, "model_type": "Burgess"}))
    with pytest.raises(UserError, match="cannot read"):
        load_disvae(tmp_path / "garbage")
