"""Reading a sentence into a RunSpec: the rule-based reader, and the LLM reader against a real
local OpenAI-compatible server (json_schema, and the function-calling fallback)."""

from pathlib import Path

import pytest

from agent.errors import UserError
from agent.llm_config import LLMConfig, LLMUnavailable
from agent.request_parser import parse_request, parse_request_with_llm
from agent.run_spec import RunSpec
from tests.openai_server import ErrorReply, JsonReply, OpenAIServer, TextReply, ToolCall, ToolCallReply
from tools.bias_formula import DEFAULT_FORMULAS
from tools.models.builtin import BUILTIN_MODELS, BuiltinModel

# A registry with more families than the shipped one, to test matching by dataset and family words.
# It is data handed to the reader, named as what it is; the real registry is tested below too.
REGISTRY = {
    "dsprites-btcvae": BuiltinModel("dsprites-btcvae", Path("/nowhere/a"), "dsprites", "vae", "beta-TCVAE"),
    "dsprites-csvae": BuiltinModel("dsprites-csvae", Path("/nowhere/b"), "dsprites", "csvae", "CSVAE"),
    "shapes3d-csvae": BuiltinModel("shapes3d-csvae", Path("/nowhere/c"), "shapes3d", "csvae", "CSVAE"),
    "celeba-ddpm": BuiltinModel("celeba-ddpm", Path("/nowhere/d"), "celeba", "ddpm", "DDPM"),
}


def read(sentence: str, **kwargs) -> dict:
    return parse_request(sentence, REGISTRY, **kwargs).model_dump(exclude_none=True)


def test_file_model_with_a_family_word():
    spec = read("what do the latents of my model in ./runs/vae.py:build mean? it is a β-TCVAE")
    assert spec == {"model_ref": "./runs/vae.py:build", "family": "vae", "not_understood": []}


def test_builtin_named_by_dataset_and_family_with_bias_words():
    spec = read("explain the shapes3d CSVAE's attribute subspaces")
    assert spec["model_ref"] == "builtin:shapes3d-csvae" and spec["family"] == "csvae"
    assert spec["bias_formula"] == DEFAULT_FORMULAS["conditional"] and spec["not_understood"] == []


def test_folder_with_a_formula_and_a_count():
    spec = read("explain ckpt/ with bias p(z)=prod_i p(z_i) using 8 frames")
    assert spec == {"model_ref": "ckpt/", "bias_formula": "p(z)=prod_i p(z_i)", "frames": 8, "not_understood": []}


def test_shapes3d_csvae_against_the_shipped_registry():
    """Whatever built-ins ship: the CSVAE on 3DShapes is found when there is one, else the
    reader says so and lists the built-ins."""
    spec = parse_request("explain the shapes3d CSVAE's attribute subspaces")
    shipped = [m.name for m in BUILTIN_MODELS.values() if m.dataset == "shapes3d" and m.family == "csvae"]
    if len(shipped) == 1:
        assert spec.model_ref == f"builtin:{shipped[0]}" and not spec.not_understood
    else:
        assert spec.model_ref is None and len(spec.not_understood) == 1
        assert all(f"builtin:{name}" in spec.not_understood[0] for name in BUILTIN_MODELS)


@pytest.mark.parametrize("kind", sorted(DEFAULT_FORMULAS))
@pytest.mark.parametrize("wrap", ["{}", "'{}'", "`{}`"])
def test_every_default_formula_is_cut_out_exactly(kind, wrap):
    formula = DEFAULT_FORMULAS[kind]
    spec = read(f"explain builtin:celeba-ddpm with bias {wrap.format(formula)}, using eight frames and 3 samples.")
    assert spec["bias_formula"] == formula
    assert (spec["frames"], spec["n_samples"], spec["not_understood"]) == (8, 3, [])


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("explain the dSprites beta-VAE", {"model_ref": "builtin:dsprites-btcvae", "family": "vae"}),
        ("explain the dsprites CSVAE", {"model_ref": "builtin:dsprites-csvae", "family": "csvae"}),
        ("explain the CelebA-HQ diffusion model", {"model_ref": "builtin:celeba-ddpm", "family": "ddpm"}),
        ("explain builtin:dsprites-csvae", {"model_ref": "builtin:dsprites-csvae"}),
        ("what does celeba-ddpm encode?", {"model_ref": "builtin:celeba-ddpm", "family": "ddpm"}),
        ("explain /abs/ckpt with a disentanglement bias",
         {"model_ref": "/abs/ckpt", "bias_formula": DEFAULT_FORMULAS["disentanglement"]}),
        ("explain runs/m.py:make_model under the bias combination",
         {"model_ref": "runs/m.py:make_model", "bias_formula": DEFAULT_FORMULAS["combination"]}),
        ("explain m.py:build with 5 samples, range ±4, threshold 0.7, seed 3 and 2 attempts",
         {"model_ref": "m.py:build", "n_samples": 5, "traversal_range": 4.0, "threshold": 0.7, "seed": 3,
          "max_attempts": 2}),
        ("explain m.py:build over the range [-2.5, 2.5] with frames=9",
         {"model_ref": "m.py:build", "traversal_range": 2.5, "frames": 9}),
    ],
)
def test_references_families_and_settings(sentence, expected):
    assert read(sentence) == {**expected, "not_understood": []}


def test_a_bare_folder_name_counts_when_it_is_a_checkpoint(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text("{}")
    assert read("explain ckpt please", cwd=tmp_path)["model_ref"] == "ckpt"
    assert "model_ref" not in read("explain notes please", cwd=tmp_path)


@pytest.mark.parametrize(
    ("sentence", "message"),
    [
        ("what do the latents of my model mean? it is a β-TCVAE",
         "I could not find a model reference in: 'what do the latents of my model mean? it is a β-TCVAE'"),
        ("explain m.py:build with 8 bananas", "I did not understand '8 bananas'; I know N frames"),
        ("explain m.py:build using 8 frames and 5 frames", "the request gives frames twice (8 and 5)"),
        ("explain m.py:build with 2.5 frames", "frames must be a whole number; got '2.5 frames'"),
        ("explain m.py:build, a VAE or a DDPM", "several model families (ddpm, vae)"),
        ("explain vae.py", "'vae.py' names a Python file but no function; write it as vae.py:FUNCTION"),
        ("explain a.py:f and b.py:g", "several models (a.py:f, b.py:g)"),
        ("explain the dsprites model", "'dsprites' matches several built-in models (builtin:dsprites-btcvae, "
                                       "builtin:dsprites-csvae)"),
        ("explain m.py:build over range [-1, 3]", "the traversal range must be symmetric"),
        ("explain m.py:build with bias", "'with bias' is not followed by a formula"),
        ("explain m.py:build, bias p(z)", "I could not read the bias in the request"),
        ("   ", "the request is empty"),
    ],
)
def test_what_is_not_understood_is_said(sentence, message):
    notes = parse_request(sentence, REGISTRY).not_understood
    assert any(message in note for note in notes), notes


@pytest.mark.parametrize("sentence", ["explain builtin:mnist-vae", "explain the MNIST VAE"])
def test_a_missing_builtin_lists_the_builtins(sentence):
    notes = parse_request(sentence, REGISTRY).not_understood
    assert len(notes) == 1 and all(f"builtin:{name} (" in notes[0] for name in REGISTRY)


def test_a_family_word_inside_a_path_is_not_a_family():
    assert read("explain ./vae_runs/ddpm.py:build")["model_ref"] == "./vae_runs/ddpm.py:build"
    assert "family" not in read("explain ./vae_runs/ddpm.py:build")


SPEC = {"model_ref": "celeba-ddpm", "family": "ddpm", "bias_formula": None, "frames": 8, "n_samples": None,
        "traversal_range": None, "threshold": None, "max_attempts": None, "seed": None, "not_understood": []}


def config_for(server: OpenAIServer) -> LLMConfig:
    return LLMConfig("openai", "router", server.base_url, None, timeout_s=5, max_retries=0)


def test_llm_reader_uses_json_schema_and_writes_builtin_names_canonically():
    with OpenAIServer(JsonReply(SPEC)) as server:
        spec = parse_request_with_llm("explain the celeba diffusion model with 8 frames", config_for(server), REGISTRY)
        request = server.requests[0]
    assert spec == RunSpec(model_ref="builtin:celeba-ddpm", family="ddpm", frames=8)
    assert request["response_format"]["type"] == "json_schema" and request["temperature"] == 0.0
    system = request["messages"][0]["content"]
    assert all(name in system for name in REGISTRY) and DEFAULT_FORMULAS["conditional"] in system
    assert request["messages"][1]["content"] == "explain the celeba diffusion model with 8 frames"


def test_llm_reader_falls_back_to_function_calling():
    def script(body):
        if "response_format" in body:
            return ErrorReply(400, "response_format json_schema is not supported", "invalid_request_error")
        return ToolCallReply([ToolCall("RunSpec", SPEC)])

    with OpenAIServer(script) as server:
        spec = parse_request_with_llm("explain the celeba DDPM", config_for(server), REGISTRY)
        requests = server.requests
    assert spec.model_ref == "builtin:celeba-ddpm" and spec.frames == 8
    assert "response_format" in requests[0] and requests[1]["tool_choice"]["function"]["name"] == "RunSpec"


def test_llm_reader_that_gets_no_runspec_says_so():
    with OpenAIServer(TextReply(["Sure, I will explain it."])) as server, pytest.raises(UserError) as error:
        base_url = server.base_url
        parse_request_with_llm("explain the celeba DDPM", config_for(server), REGISTRY)
    assert "did not return a RunSpec" in str(error.value) and base_url in str(error.value)


def test_llm_reader_notes_a_missing_model():
    with OpenAIServer(JsonReply({**SPEC, "model_ref": None})) as server:
        spec = parse_request_with_llm("explain it", config_for(server), REGISTRY)
    assert spec.model_ref is None and "no model reference" in spec.not_understood[0]


def test_llm_reader_unreachable_endpoint_is_llm_unavailable():
    config = LLMConfig("openai", "router", "http://127.0.0.1:9/v1", None, timeout_s=2, max_retries=0)
    with pytest.raises(LLMUnavailable, match="127.0.0.1:9"):
        parse_request_with_llm("explain the celeba DDPM", config, REGISTRY)


def test_stable_diffusion_at_a_folder_with_a_prompt(tmp_path):
    (tmp_path / "sd15").mkdir()
    spec = parse_request(f'explain the stable diffusion at {tmp_path}/sd15 with the prompt "a photo of a church, '
                         'at night" using 3 directions and 5 frames')
    assert spec.model_ref == f"sd:{tmp_path}/sd15" and spec.family == "sd"
    assert spec.prompt == "a photo of a church, at night" and spec.directions == 3 and spec.frames == 5
    assert spec.not_understood == []


@pytest.mark.parametrize(
    ("sentence", "ref", "prompt"),
    [
        ("explain Stable Diffusion stable-diffusion-v1-5/stable-diffusion-v1-5 with prompt a red car, 4 frames",
         "sd:stable-diffusion-v1-5/stable-diffusion-v1-5", "a red car"),
        ("explain the diffusers DDPM at pipes/ddpm-cifar", "diffusers:pipes/ddpm-cifar", None),
        ("explain the DDPM google/ddpm-celebahq-256", "diffusers:google/ddpm-celebahq-256", None),
        ("explain diffusers:google/ddpm-cifar10-32 using 2 directions", "diffusers:google/ddpm-cifar10-32", None),
        ("explain sd:models/sd21 under the prompt: 'a vae in a box'", "sd:models/sd21", "a vae in a box"),
    ],
)
def test_diffusion_references_and_prompts(sentence, ref, prompt):
    spec = parse_request(sentence)
    assert spec.model_ref == ref and spec.prompt == prompt and spec.not_understood == []


def test_a_train_ddpm_checkpoint_called_a_ddpm_stays_a_checkpoint(tmp_path):
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "config.json").write_text("{}")
    assert parse_request("explain the DDPM at ck/", cwd=tmp_path).model_ref == "ck/"


def test_a_prompt_with_nothing_after_it_is_said():
    assert "not followed by the prompt" in parse_request("explain sd:x/y with the prompt").not_understood[0]
