"""Stable Diffusion: loading a pipeline folder, prompt embeddings, and the conditional h-space
model. Tiny components built from configs, as diffusers' own tests do; CPU; no hub."""

from __future__ import annotations

import json

import pytest
import torch

from agent.errors import UserError

PROMPT = "a red square"


@pytest.fixture(scope="module")
def pipeline_folder(tmp_path_factory):
    from tests.fixtures.tiny_diffusers import save_tiny_stable_diffusion

    return save_tiny_stable_diffusion(tmp_path_factory.mktemp("sd") / "pipeline")


@pytest.fixture(scope="module")
def pipe(pipeline_folder):
    from tools.models.stable_diffusion.pipeline import load_stable_diffusion_pipeline

    return load_stable_diffusion_pipeline(pipeline_folder, "cpu")


FAST = {"rank": 2, "num_inference_steps": 4, "guidance_steps": 2, "reference_samples": 1, "power_iterations": 3,
        "edit_t": 0.6}


def test_folder_loads_with_a_ddim_scheduler_and_no_safety_checker(pipe):
    from diffusers import DDIMScheduler

    assert isinstance(pipe.scheduler, DDIMScheduler) and pipe.safety_checker is None
    assert pipe.device.type == "cpu"


def test_bad_sources_are_one_line_user_errors(tmp_path):
    from tools.models.stable_diffusion.pipeline import load_stable_diffusion_pipeline

    with pytest.raises(UserError, match="no model_index.json"):
        load_stable_diffusion_pipeline(tmp_path, "cpu")
    with pytest.raises(UserError, match="neither an existing folder nor a hub id"):
        load_stable_diffusion_pipeline(str(tmp_path / "missing" / "sd"), "cpu")
    with pytest.raises(UserError, match="nobody/no-such-model is not in the Hugging Face cache") as error:
        load_stable_diffusion_pipeline("nobody/no-such-model", "cpu")  # HF_HUB_OFFLINE=1 in conftest
    assert "\n" not in str(error.value)


def test_prompt_embeddings_depend_on_the_prompt(pipe):
    from tools.models.stable_diffusion.pipeline import encode_prompt

    a, empty = encode_prompt(pipe, PROMPT)
    b, _ = encode_prompt(pipe, "a blue heart")
    assert a.shape == (1, 16, 8) and empty.shape == a.shape
    assert not torch.allclose(a, b) and not torch.allclose(a, empty)
    with pytest.raises(UserError, match="prompt"):
        encode_prompt(pipe, "  ")


def test_model_follows_the_protocol_with_conditional_metadata(pipe):
    from tools.models.loading import check_model
    from tools.models.stable_diffusion.model import stable_diffusion_hspace_model

    model = stable_diffusion_hspace_model(pipe, PROMPT, guidance_scale=1.0, **FAST)
    info = check_model(model)
    assert info["latent_dim"] == 3 and info["image_shape"] == [3, 16, 16]
    meta = info["metadata"]
    assert meta["family"] == "sd" and meta["default_bias"] == "conditional" and meta["prompt"] == PROMPT
    assert meta["traversable"] == [0, 1] and meta["hspace"]["gamma"] == 1.0
    json.dumps(meta)


@pytest.mark.parametrize("guidance_scale", [1.0, 3.0])
def test_unedited_rows_match_the_diffusers_pipeline(pipe, guidance_scale):
    from tools.models.stable_diffusion.model import stable_diffusion_hspace_model

    model = stable_diffusion_hspace_model(pipe, PROMPT, guidance_scale=guidance_scale, **FAST)
    ours = model.decode(torch.tensor([[0.0, 0.0, 5.0]]))
    noise = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(5))
    reference = pipe(PROMPT, latents=noise, num_inference_steps=4, guidance_scale=guidance_scale, height=16, width=16,
                     output_type="pt").images
    assert torch.allclose(ours, reference, atol=1e-4)


def test_directions_are_computed_under_the_prompt(pipe):
    from tools.models.stable_diffusion.model import stable_diffusion_hspace_model

    red = stable_diffusion_hspace_model(pipe, PROMPT, guidance_scale=1.0, **FAST)
    blue = stable_diffusion_hspace_model(pipe, "a blue heart", guidance_scale=1.0, **FAST)
    v_red, v_blue = red.directions([0])[0], blue.directions([0])[0]
    assert v_red.shape == (2, 4, 8, 8)
    assert not torch.allclose(v_red, v_blue, atol=1e-3)
    frames = red.decode(torch.tensor([[-1.0, 0.0, 5.0], [0.0, 0.0, 5.0], [1.0, 0.0, 5.0]]))
    assert frames.shape == (3, 3, 16, 16)
    assert (frames[2] - frames[1]).abs().max() > 1e-4 and (frames[0] - frames[2]).abs().max() > 1e-4


def test_loader_wraps_a_folder(pipeline_folder):
    from tools.models.stable_diffusion.model import load_stable_diffusion_model

    model = load_stable_diffusion_model(pipeline_folder, PROMPT, device="cpu", guidance_scale=1.0, **FAST)
    assert model.name == "pipeline" and model.latent_dim == 3
