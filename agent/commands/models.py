"""`latent-explainer models`: the model families, the reference forms `--model` accepts (one
example each), and the built-in models."""

from __future__ import annotations

import argparse

FAMILIES = (
    ("vae", "VAE, beta-VAE, beta-TCVAE", "disentanglement: each latent z_i traversed alone"),
    ("csvae", "CSVAE (attribute subspaces)", "conditional: w = w_hat + alpha * W_move per attribute"),
    ("ddpm", "DDPM / DDIM (diffusers UNet2DModel)", "disentanglement over h-space directions (Jacobian pullback)"),
    ("sd", "Stable Diffusion 1.x / 2.x", "conditional: h-space directions under the prompt, p(z_i | t)"),
)
"""(family, models, the bias it is explained under by default)."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("models", help="list the model families, the --model forms and the built-in models")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tools.models.builtin import BUILTIN_MODELS
    from tools.models.references import REFERENCE_FORMS

    print("families (default bias):")
    for family, models, bias in FAMILIES:
        print(f"  {family:<6} {models:<38} {bias}")
    print("\n--model forms:")
    for form, what, example in REFERENCE_FORMS:
        print(f"  {form:<36} {what}")
        print(f"  {'':<36}   e.g. --model {example}")
    print("\nbuilt-in models:")
    for model in BUILTIN_MODELS.values():
        print(f"  builtin:{model.name:<20} {model.family:<6} {model.dataset:<10} {model.description}")
    print("\nhub ids are read from the Hugging Face cache; fetch one first with `hf download OWNER/NAME`. "
          "Diffusion settings: --directions, --inference-steps, --edit-strength, --guidance-scale, --dtype.")
    return 0
