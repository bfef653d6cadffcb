"""`latent-explainer models` lists the families, every --model form with an example, and the built-ins."""

from agent.cli import main
from tools.models.builtin import BUILTIN_MODELS
from tools.models.references import REFERENCE_FORMS


def test_models_lists_families_forms_with_examples_and_builtins(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for family in ("vae", "csvae", "ddpm", "sd"):
        assert f"\n  {family} " in out
    for form, _, example in REFERENCE_FORMS:
        assert form in out and f"e.g. --model {example}" in out
    assert all(f"builtin:{name}" in out for name in BUILTIN_MODELS)
    assert "diffusers:" in out and "--prompt" in out and "--mount" in out
