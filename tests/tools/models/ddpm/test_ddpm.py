"""The DDPM (config, loss, DDIM sampling, checkpoint, training loop) and its protocol wrapper over
h-space directions. Tiny UNets from configs (block_out_channels=(4, 8)), few steps, CPU."""

from __future__ import annotations

import json

import pytest
import torch

from tools.models.ddpm.hspace_model import DiffusionHSpaceModel, HSpaceSettings, UNetDenoiser, load_ddpm_model
from tools.models.ddpm.model import (
    DDPMConfig,
    build_scheduler,
    build_unet,
    ddim_denoise,
    ddim_timesteps,
    diffusion_loss,
    is_ddpm_checkpoint,
    load_ddpm,
    sample_images,
    save_ddpm,
    to_model_range,
)

TINY = DDPMConfig(image_size=8, block_out_channels=(4, 8), norm_num_groups=4, attention_head_dim=4)
FAST = HSpaceSettings(rank=3, num_inference_steps=4, guidance_steps=2, reference_samples=2, power_iterations=3,
                      edit_t=0.6, gamma=0.5)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("ddpm")
    return save_ddpm(build_unet(TINY).eval(), TINY, folder, {"note": "random weights"})


@pytest.fixture()
def model(checkpoint):
    from dataclasses import asdict

    return load_ddpm_model(checkpoint, "cpu", **asdict(FAST))


def test_config_round_trips_and_refuses_bad_shapes():
    assert DDPMConfig.from_dict(json.loads(json.dumps(TINY.to_dict()))) == TINY
    with pytest.raises(ValueError, match="divisible"):
        DDPMConfig(image_size=6, block_out_channels=(4, 8, 8), norm_num_groups=4)
    with pytest.raises(ValueError, match="norm_num_groups"):
        DDPMConfig(block_out_channels=(4, 6), norm_num_groups=4)


def test_loss_is_the_noise_regression_and_training_lowers_it():
    torch.manual_seed(0)
    unet, scheduler = build_unet(TINY), build_scheduler(TINY)
    x0 = to_model_range((torch.rand(8, 1, 8, 8) > 0.5).float())
    optimiser = torch.optim.Adam(unet.parameters(), lr=3e-3)

    def fixed_loss():
        return diffusion_loss(unet, scheduler, x0, torch.Generator().manual_seed(1))

    first = fixed_loss().item()
    for _ in range(30):
        loss = fixed_loss()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert fixed_loss().item() < 0.8 * first


def test_ddim_with_the_true_noise_recovers_the_clean_image():
    """With an oracle eps(x_t) = (x_t - sqrt(a_t) x0) / sqrt(1 - a_t), deterministic DDIM lands on x0."""
    scheduler = build_scheduler(TINY)
    x0 = torch.rand(2, 1, 8, 8) * 1.6 - 0.8
    alphas = scheduler.alphas_cumprod

    def oracle(x, t):
        a = alphas[int(t)]
        return (x - a.sqrt() * x0) / (1 - a).sqrt()

    timesteps = ddim_timesteps(scheduler, 5)
    assert timesteps[0] == 999 and len(timesteps) == 5
    out = ddim_denoise(oracle, scheduler, torch.randn(2, 1, 8, 8), timesteps)
    assert torch.allclose(out, x0, atol=1e-4)
    halfway = ddim_denoise(oracle, scheduler, torch.randn(2, 1, 8, 8), timesteps[:2])
    assert not torch.allclose(halfway, x0, atol=1e-2)


def test_checkpoint_round_trip(checkpoint, tmp_path):
    unet, config, training = load_ddpm(checkpoint)
    assert config == TINY and training == {"note": "random weights"}
    assert is_ddpm_checkpoint(checkpoint) and not is_ddpm_checkpoint(tmp_path)
    noise = torch.randn(2, 1, 8, 8)
    again, _, _ = load_ddpm(checkpoint)
    images = sample_images(unet, build_scheduler(config), noise, 3)
    assert images.shape == (2, 1, 8, 8) and 0 <= images.min() and images.max() <= 1
    assert torch.equal(images, sample_images(again, build_scheduler(config), noise, 3))
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_ddpm(tmp_path)


def test_wrapper_follows_the_protocol_with_metadata(model):
    from tools.models.loading import check_model

    info = check_model(model)
    assert info["latent_dim"] == 4 and info["image_shape"] == [1, 8, 8]
    meta = info["metadata"]
    assert meta["family"] == "ddpm" and meta["default_bias"] == "disentanglement"
    assert meta["traversable"] == [0, 1, 2] and meta["dataset"] == "dsprites"
    json.dumps(meta)
    z = model.sample_latents(6, torch.Generator().manual_seed(0))
    assert z.shape == (6, 4) and torch.equal(z[:, :3], torch.zeros(6, 3))
    assert len(set(z[:, 3].tolist())) == 6 and torch.equal(z[:, 3], z[:, 3].round())


def test_zero_coefficients_give_the_plain_ddim_sample(model, checkpoint):
    unet, _, _ = load_ddpm(checkpoint)
    z = torch.tensor([[0.0, 0.0, 0.0, 7.0]])
    noise = torch.randn((1, 1, 8, 8), generator=torch.Generator().manual_seed(7))
    plain = sample_images(unet, build_scheduler(TINY), noise, FAST.num_inference_steps)
    assert torch.allclose(model.decode(z), plain, atol=1e-5)


def test_edits_are_deterministic_signed_and_independent_of_batching(model):
    rows = torch.tensor([[0.0, 0, 0, 3], [1.0, 0, 0, 3], [-1.0, 0, 0, 3], [0, 0.5, 0, 4], [1.0, 0, 0, 3]])
    together = model.decode(rows)
    assert together.shape == (5, 1, 8, 8) and 0 <= together.min() and together.max() <= 1
    alone = torch.cat([model.decode(r[None]) for r in rows])
    assert torch.allclose(together, alone, atol=1e-5)
    assert torch.equal(together[1], together[4])  # duplicate rows decode once, identically
    assert (together[1] - together[0]).abs().max() > 1e-4  # +v changes the sample
    assert (together[1] - together[2]).abs().max() > 1e-4  # +v and -v differ


def test_shared_basis_is_orthonormal_stored_and_reloaded(model, checkpoint):
    from dataclasses import asdict

    v = model.directions([1, 2])
    assert v.shape == (2, 3, 1, 8, 8) and torch.equal(v[0], v[1])
    flat = v[0].flatten(1)
    assert torch.allclose(flat @ flat.T, torch.eye(3), atol=1e-5)
    path = model.save_shared_basis(checkpoint)
    try:
        reloaded = load_ddpm_model(checkpoint, "cpu", **asdict(FAST))
        assert reloaded.shared_basis is not None and torch.allclose(reloaded.shared_basis, model.shared_basis)
        other = load_ddpm_model(checkpoint, "cpu", **(asdict(FAST) | {"edit_t": 0.9}))
        assert other.shared_basis is None  # computed with other settings: not used
    finally:
        path.unlink()


def test_local_basis_differs_per_anchor(checkpoint):
    from dataclasses import asdict

    model = load_ddpm_model(checkpoint, "cpu", **(asdict(FAST) | {"basis": "local"}))
    v = model.directions([1, 2])
    assert v.shape == (2, 3, 1, 8, 8) and not torch.allclose(v[0], v[1])
    assert model.decode(torch.tensor([[1.0, 0, 0, 1], [1.0, 0, 0, 2]])).shape == (2, 1, 8, 8)


def test_bad_codes_are_refused(model):
    with pytest.raises(ValueError, match="shape"):
        model.decode(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="integer seeds"):
        model.decode(torch.tensor([[0.0, 0, 0, 1.5]]))
    with pytest.raises(ValueError, match="integer seeds"):
        model.decode(torch.tensor([[0.0, 0, 0, -1.0]]))
    with pytest.raises(ValueError, match="edit_t"):
        HSpaceSettings(edit_t=0.0)


def test_wrapper_builds_from_any_unet():
    unet = build_unet(TINY).eval().requires_grad_(False)
    model = DiffusionHSpaceModel(UNetDenoiser(unet), build_scheduler(TINY), FAST, name="tiny", device=torch.device("cpu"))
    assert model.edit_timestep == model.timesteps[model.edit_index]
    assert abs(int(model.edit_timestep) - 600) <= 250  # nearest of the 4 DDIM timesteps to 0.6 T
    assert model.decode(model.sample_latents(2)).shape == (2, 1, 8, 8)


def test_training_writes_a_loadable_checkpoint_with_its_basis(tmp_path):
    from tools.data.procedural import dataset_batch
    from tools.models.ddpm.training import DDPMTrainSettings, train_ddpm

    images = dataset_batch("dsprites", 4, 8, torch.Generator().manual_seed(0))
    assert images.shape == (4, 1, 8, 8) and 0 <= images.min() and images.max() <= 1
    with pytest.raises(ValueError, match="unknown dataset"):
        dataset_batch("nope", 1, 8)
    settings = DDPMTrainSettings(steps=3, batch_size=4, max_minutes=1.0, store_basis=True)
    folder = train_ddpm(TINY, settings, tmp_path / "out", progress=False)
    record = json.loads((folder / "config.json").read_text())
    assert record["family"] == "ddpm" and record["training"]["steps_done"] == 3
    assert (folder / "hspace_basis.safetensors").is_file()
    loaded = load_ddpm_model(folder, "cpu")
    assert loaded.shared_basis is not None and loaded.shared_basis.shape == (5, 1, 8, 8)


def test_continuing_training_starts_from_the_earlier_weights_and_refuses_another_architecture(tmp_path):
    from tools.models.ddpm.model import load_ddpm
    from tools.models.ddpm.training import DDPMTrainSettings, train_ddpm

    settings = DDPMTrainSettings(steps=1, batch_size=2, max_minutes=1.0, store_basis=False, ema_decay=0.0, lr=1e-9,
                                 warmup_steps=1)
    first = train_ddpm(TINY, settings, tmp_path / "first", progress=False)
    reseeded = DDPMTrainSettings(**{**vars(settings), "seed": 1})  # its own initialisation would differ
    second = train_ddpm(TINY, reseeded, tmp_path / "second", progress=False, init_from=first)
    before, after = load_ddpm(first)[0].state_dict(), load_ddpm(second)[0].state_dict()
    assert max((before[k] - after[k]).abs().max().item() for k in before) < 1e-5  # lr 1e-9: one tiny step
    other = DDPMConfig(image_size=8, block_out_channels=(8, 8), norm_num_groups=4, attention_head_dim=4)
    with pytest.raises(ValueError, match="another architecture"):
        train_ddpm(other, settings, tmp_path / "third", progress=False, init_from=first)


def test_load_model_dispatches_a_ddpm_checkpoint_folder(checkpoint):
    from tools.models.loading import load_model

    model = load_model(str(checkpoint), "cpu")
    assert isinstance(model, DiffusionHSpaceModel) and model.metadata["family"] == "ddpm"


@pytest.mark.parametrize(("dataset", "channels"), [("shapes3d", 3), ("digits", 1)])
def test_other_datasets_give_images_of_their_channels(dataset, channels):
    from tools.data.procedural import DATASET_CHANNELS, dataset_batch, dataset_factor_names

    images = dataset_batch(dataset, 2, 16, torch.Generator().manual_seed(0))
    assert images.shape == (2, channels, 16, 16) and DATASET_CHANNELS[dataset] == channels
    assert 0 <= images.min() and images.max() <= 1 and images.std() > 0
    assert dataset_factor_names(dataset)
