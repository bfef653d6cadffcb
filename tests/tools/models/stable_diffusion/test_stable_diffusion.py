"""Stable Diffusion: loading a pipeline folder, prompt embeddings, and the conditional h-space
model. Tiny components built from configs, as diffusers' own tests do; CPU; no hub."""

from __future__ import annotations

import json
import string

import pytest
import torch

from agent.errors import UserError

PROMPT = "a red square"


def _tiny_tokenizer(folder):
    """A CLIPTokenizer over printable characters (no merges), written as vocab.json / merges.txt."""
    from transformers import CLIPTokenizer

    chars = [c for c in string.printable if not c.isspace()]
    vocab = {c: i for i, c in enumerate(chars)} | {c + "</w>": len(chars) + i for i, c in enumerate(chars)}
    vocab |= {"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=16), len(vocab)


@pytest.fixture(scope="module")
def pipeline_folder(tmp_path_factory):
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    root = tmp_path_factory.mktemp("sd")
    torch.manual_seed(0)
    tokenizer, vocab_size = _tiny_tokenizer(root)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=8, norm_num_groups=4, attention_head_dim=2,
    )
    vae = AutoencoderKL(
        block_out_channels=(4, 8), in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=4, sample_size=16,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1, pad_token_id=vocab_size - 1, vocab_size=vocab_size,
        hidden_size=8, intermediate_size=16, num_attention_heads=2, num_hidden_layers=2, max_position_embeddings=16,
        projection_dim=8,
    ))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(root / "pipeline")
    return root / "pipeline"


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
