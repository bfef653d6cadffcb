"""diffusers: sources (folders, the Hugging Face cache offline), the unconditional pipeline behind
the protocol, the shared-basis cache and the CPU cost warning. Tiny pipelines, CPU, no hub."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from tests.fixtures.tiny_diffusers import save_tiny_ddpm_pipeline, save_tiny_stable_diffusion
from tools.errors import UserError
from tools.models.ddpm.basis_cache import BasisCache, copy_new_bases
from tools.models.diffusers_pipeline.source import locate_pretrained, missing_files

FAST = {"rank": 2, "num_inference_steps": 3, "guidance_steps": 2, "reference_samples": 2, "power_iterations": 4}


@pytest.fixture(scope="module")
def ddpm_folder(tmp_path_factory):
    return save_tiny_ddpm_pipeline(tmp_path_factory.mktemp("d") / "ddpm")


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hub"


def _snapshot(hub_cache, hub_id, folder, commit="c0ffee"):
    repo = hub_cache / f"models--{hub_id.replace('/', '--')}"
    shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return repo / "snapshots" / commit


def test_a_cached_hub_id_resolves_to_its_snapshot_at_its_commit(hub_cache, ddpm_folder):
    snapshot = _snapshot(hub_cache, "someone/tiny", ddpm_folder)
    source = locate_pretrained("someone/tiny", "diffusers:someone/tiny")
    assert source.folder == snapshot and source.hub_id == "someone/tiny" and source.identity == "someone/tiny@c0ffee"


def test_missing_files_name_the_component_and_offline_says_how_to_fetch(hub_cache, ddpm_folder):
    snapshot = _snapshot(hub_cache, "someone/tiny", ddpm_folder)
    assert missing_files(snapshot) == []
    shutil.rmtree(snapshot / "scheduler")
    assert missing_files(snapshot) == ["scheduler/"]
    with pytest.raises(UserError) as error:
        locate_pretrained("someone/tiny", "diffusers:someone/tiny", download=True)  # offline: no fetch is tried
    message = str(error.value)
    assert "\n" not in message and "missing scheduler/" in message and "`hf download someone/tiny`" in message


def test_sources_that_are_neither_folder_nor_hub_id_are_refused(tmp_path, hub_cache):
    for text in ("no-slash", "./rel/ative/x", str(tmp_path / "nope" / "x")):
        with pytest.raises(UserError, match="neither an existing folder nor a hub id"):
            locate_pretrained(text, "diffusers:x")
    (tmp_path / "file.bin").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        locate_pretrained(str(tmp_path / "file.bin"), "diffusers:x")


def test_references_accept_folders_and_check_their_layout(tmp_path, ddpm_folder, hub_cache):
    from tools.models.references import parse_model_ref

    ref = parse_model_ref(f"diffusers:{ddpm_folder}")
    assert ref.kind == "diffusers" and str(ref) == f"diffusers:{ddpm_folder}"
    with pytest.raises(UserError, match="is not a diffusers pipeline"):
        parse_model_ref(f"diffusers:{tmp_path}")
    with pytest.raises(UserError, match="no model_index.json"):
        parse_model_ref(f"sd:{ddpm_folder / 'unet'}")
    with pytest.raises(UserError, match="names no folder or hub id"):
        parse_model_ref("sd:")


def test_a_hub_id_online_is_left_to_the_run_to_fetch(monkeypatch, tmp_path):
    from tools.models.references import parse_model_ref

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    assert str(parse_model_ref("sd:someone/big-model")) == "sd:someone/big-model"


def test_pipeline_model_follows_the_protocol_and_matches_ddim(ddpm_folder):
    from diffusers import DDIMPipeline

    from tools.models.diffusers_pipeline.model import load_diffusers_model
    from tools.models.loading import check_model

    model = load_diffusers_model(locate_pretrained(str(ddpm_folder), "d"), "d", torch.device("cpu"), **FAST)
    info = check_model(model)
    assert info["latent_dim"] == 3 and info["image_shape"] == [3, 8, 8]
    assert info["metadata"]["family"] == "ddpm" and info["metadata"]["hspace"]["gamma"] == 0.1
    ours = model.decode(torch.tensor([[0.0, 0.0, 7.0]]))
    pipe = DDIMPipeline.from_pretrained(str(ddpm_folder))
    pipe.scheduler = model.scheduler
    noise = torch.randn((1, 3, 8, 8), generator=torch.Generator().manual_seed(7))
    # the pipeline draws its own noise: feed ours through its scheduler loop by hand
    x = noise
    for t in model.timesteps:
        x = pipe.scheduler.step(pipe.unet(x, t).sample, t, x, eta=0.0).prev_sample
    assert torch.allclose(ours, ((x + 1) / 2).clamp(0, 1), atol=1e-5)
    moved = model.decode(torch.tensor([[1.0, 0.0, 7.0]]))
    assert (moved - ours).abs().max() > 1e-5


def test_the_shared_basis_is_cached_per_model_and_reused(tmp_path, ddpm_folder):
    from tools.models.diffusers_pipeline.model import load_diffusers_model

    source = locate_pretrained(str(ddpm_folder), "d")
    run_cache, user_cache = tmp_path / "run", tmp_path / "user"
    lines: list[str] = []
    first = load_diffusers_model(source, "d", torch.device("cpu"), basis_cache=BasisCache((user_cache,), run_cache),
                                 progress=lines.append, **FAST)
    basis = first.directions([0])[0]
    assert len(list(run_cache.glob("hspace-*.safetensors"))) == 1
    assert any("power iteration 4/4" in line for line in lines)
    assert copy_new_bases(run_cache, user_cache) and not copy_new_bases(run_cache, user_cache)

    second = load_diffusers_model(source, "d", torch.device("cpu"), basis_cache=BasisCache((user_cache,), None),
                                  progress=lines.append, **FAST)
    second.compute_shared_basis = None  # must not be called: the cache has it
    assert torch.equal(second.directions([0])[0], basis)
    assert "cached_from" in second.basis_info and any("from the cache" in line for line in lines)

    other = load_diffusers_model(source, "d", torch.device("cpu"), basis_cache=BasisCache((user_cache,), None),
                                 **(FAST | {"rank": 1}))
    assert other.directions([0]).shape[1] == 1  # other settings: another key, computed afresh


def test_a_damaged_cached_basis_is_recomputed(tmp_path):
    cache = BasisCache((), tmp_path)
    cache.path(tmp_path, "k").write_bytes(b"not a safetensors file")
    assert cache.load("k") is None
    cache.save("k", torch.ones(2, 1, 2, 2), {"a": 1})
    directions, info = cache.load("k")
    assert directions.shape == (2, 1, 2, 2) and info["a"] == 1


def test_options_map_to_hspace_settings_and_refuse_float16_on_cpu():
    from tools.models.loading import ModelOptions, ModelProtocolError

    options = ModelOptions(directions=3, inference_steps=20, edit_strength=0.5)
    assert options.hspace_settings() == {"rank": 3, "num_inference_steps": 20, "gamma": 0.5}
    assert ModelOptions().hspace_settings() == {}
    assert ModelOptions().torch_dtype(torch.device("cpu"), "sd") == torch.float32
    assert ModelOptions(dtype="bfloat16").torch_dtype(torch.device("cpu"), "ddpm") == torch.bfloat16
    with pytest.raises(ModelProtocolError, match="float16 needs a CUDA device"):
        ModelOptions(dtype="float16").torch_dtype(torch.device("cpu"), "sd")


def test_bfloat16_weights_compute_a_basis_and_give_float32_images(ddpm_folder):
    from tools.models.diffusers_pipeline.model import load_diffusers_model

    model = load_diffusers_model(locate_pretrained(str(ddpm_folder), "d"), "d", torch.device("cpu"), torch.bfloat16,
                                 **FAST)
    assert model.denoiser.unet.dtype == torch.bfloat16
    images = model.decode(torch.tensor([[1.0, 0.0, 3.0]]))
    assert images.dtype == torch.float32 and torch.isfinite(images).all()


def test_a_512_pixel_stable_diffusion_on_a_cpu_is_warned_about(tmp_path):
    from tools.models.ddpm.hspace_model import HSpaceSettings
    from tools.models.diffusers_pipeline.cost import cpu_time_warning, image_side, unet_passes

    folder = tmp_path / "sd"
    (folder / "unet").mkdir(parents=True)
    (folder / "vae").mkdir()
    (folder / "unet" / "config.json").write_text(json.dumps({"sample_size": 64}))
    (folder / "vae" / "config.json").write_text(json.dumps({"block_out_channels": [128, 256, 512, 512]}))
    assert image_side(folder) == 512
    settings = HSpaceSettings(reference_samples=2)
    assert unet_passes(settings, rows=1, guidance_scale=7.5) == 2 * (80 * 2 + 3 * 5 * 30) + 100 * 2 + 32
    warning = cpu_time_warning(folder, "sd:x", settings, rows=175, guidance_scale=7.5)
    assert warning.startswith("warning: sd:x makes 512x512 images on a CPU") and "\n" not in warning
    tiny = save_tiny_stable_diffusion(tmp_path / "tiny")
    assert cpu_time_warning(tiny, "sd:tiny", settings, rows=175, guidance_scale=7.5) is None


def test_a_batch_that_runs_out_of_device_memory_is_halved_until_it_fits(ddpm_folder, monkeypatch):
    from tools.models.diffusers_pipeline.model import load_diffusers_model

    model = load_diffusers_model(locate_pretrained(str(ddpm_folder), "d"), "d", torch.device("cpu"),
                                 **(FAST | {"batch_size": 8}))
    z = torch.zeros(6, 3)
    z[:, -1] = torch.arange(6).float()
    expected = model.decode(z)
    real, sizes = model._decode_rows, []

    def small_device(rows):
        sizes.append(len(rows))
        if len(rows) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(rows)

    monkeypatch.setattr(model, "_decode_rows", small_device)
    assert torch.allclose(model.decode(z), expected, atol=1e-4)  # batch sizes change float sums slightly
    assert sizes == [6, 3, 2, 2, 2] and model.batch_rows == 2


def test_a_missing_path_is_called_hidden_only_outside_what_the_sandbox_shows():
    from tools.models import loading

    try:
        loading.configure_models(hidden_paths=["/root", "/home"], visible_paths=["/root/proj", "/tmp/run"])
        assert loading._hidden_path("/root/ckpt/model.pt") == "/root"
        assert loading._hidden_path("/tmp/elsewhere/model.pt") == "/tmp"
        assert loading._hidden_path("/root/proj/missing.pt") is None  # shown: really missing
        assert loading._hidden_path("/tmp/run/x") is None
        assert loading._hidden_path("relative/model.pt") is None and loading._hidden_path(None) is None
    finally:
        loading.configure_models()
