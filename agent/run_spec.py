"""RunSpec: what a sentence given to `latent-explainer ask` asks for, and how it becomes a run.

The same pydantic model is the schema an LLM fills (structured output; the field descriptions
below are what it reads) and what the offline rule-based parser (agent/request_parser.py)
returns. `resolve_run_spec` checks it the way `explain` checks its flags and turns it into the
model reference, bias formula and settings of one run; `describe_run_spec` is the block shown
to the user before the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.errors import UserError

Family = Literal["vae", "csvae", "ddpm", "sd"]

SETTING_FIELDS = ("frames", "n_samples", "traversal_range", "threshold", "max_attempts", "seed", "directions", "prompt")
"""RunSpec fields that override agent.settings.Settings fields of the same name."""

SETTING_LABELS = {
    "frames": "frames",
    "n_samples": "samples",
    "traversal_range": "range",
    "threshold": "threshold",
    "max_attempts": "attempts",
    "seed": "seed",
    "directions": "directions",
    "prompt": "prompt",
}
"""How each setting is named to the user in the RunSpec block."""

OPTIONAL_LABELS = ("directions", "prompt")
"""Settings the RunSpec block shows only when set (they concern diffusion models only)."""


class RunSpec(BaseModel):
    """One explain job asked for in natural language. Every field is null when the request does
    not say it; nothing is guessed."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model_ref: str | None = Field(
        None,
        description="The model to explain, exactly as the user wrote it: 'builtin:NAME' for a built-in model, "
        "'FILE.py:FUNCTION' for a user's model file, a checkpoint folder path, 'diffusers:FOLDER_OR_HUB_ID' for an "
        "unconditional diffusers (DDPM/DDIM) pipeline, or 'sd:FOLDER_OR_HUB_ID' for a Stable Diffusion pipeline "
        "(a folder or hub id the user calls Stable Diffusion gets 'sd:', one called a diffusers DDPM 'diffusers:'). "
        "Null if the request names none.",
    )
    family: Family | None = Field(
        None,
        description="The model family the user names: vae (VAE, beta-VAE, beta-TCVAE), csvae (CSVAE), "
        "ddpm (DDPM, diffusion model), sd (Stable Diffusion). Null if not said.",
    )
    bias_formula: str | None = Field(
        None,
        description="The inductive-bias formula the user gives, copied exactly (LaTeX or plain text), or the "
        "formula of the bias kind the user names (disentanglement, combination, conditional). Null if not said.",
    )
    frames: int | None = Field(None, description="Frames per traversal, e.g. 'using 8 frames'. Null if not said.")
    n_samples: int | None = Field(None, description="Explanation samples per latent, e.g. '5 samples'. Null if not said.")
    traversal_range: float | None = Field(
        None, description="Traversal range R: latents are moved over [-R, R], e.g. 'range 4'. Null if not said."
    )
    threshold: float | None = Field(None, description="Certainty needed to accept an explanation. Null if not said.")
    max_attempts: int | None = Field(None, description="Attempts per latent before giving up. Null if not said.")
    seed: int | None = Field(None, description="Random seed of the anchor codes. Null if not said.")
    directions: int | None = Field(
        None, description="Number of h-space directions of a diffusion model to explain, e.g. '3 directions'. "
        "Null if not said.")
    prompt: str | None = Field(
        None, description="The text prompt a Stable Diffusion model is explained under, copied exactly without "
        "quotes, e.g. 'with the prompt \"a photo of a church\"' -> a photo of a church. Null if not said.")
    not_understood: list[str] = Field(
        default_factory=list,
        description="Each part of the request that could not be mapped to a field above, as one short sentence "
        "quoting the user's words. Empty when everything was understood.",
    )

    def settings_overrides(self) -> dict[str, int | float | str]:
        """The settings this request sets, by Settings field name (only those it says)."""
        return {name: getattr(self, name) for name in SETTING_FIELDS if getattr(self, name) is not None}


@dataclass(frozen=True)
class ResolvedRun:
    """A checked RunSpec. model_ref: canonical tools.models.references reference. model_family: the
    built-in's family, ddpm for diffusers:, sd for sd: (None for a file or folder: the model's
    metadata decides in the run).
    bias_formula: None means the model's default bias. bias_source: where the formula came from,
    in words. settings: agent.settings.Settings of the run."""

    model_ref: str
    model_family: str | None
    bias_formula: str | None
    bias_source: str
    settings: object


def resolve_run_spec(spec: RunSpec, settings: object, flags: Mapping[str, object] | None = None) -> ResolvedRun:
    """Check `spec` and merge it into `settings` (agent.settings.Settings from flags and env).

    flags: the settings given explicitly as CLI flags (name -> value, None when not given); a
    request that says a different value than a flag raises UserError instead of picking one.
    A family the user names for a file or folder selects that family's default bias when no
    formula is given; a family that contradicts a built-in model raises UserError.
    Raises UserError (one line) for anything not understood or not allowed."""
    from dataclasses import replace

    from agent.nodes.planner import FAMILY_BIAS
    from tools.bias_formula import DEFAULT_FORMULAS, parse_bias
    from tools.models.builtin import BUILTIN_MODELS
    from tools.models.references import ALLOWED_FORMS, parse_model_ref

    if spec.not_understood:
        raise UserError("; ".join(spec.not_understood))
    if not spec.model_ref:
        raise UserError(f"the request names no model; name one as {ALLOWED_FORMS}")
    ref = parse_model_ref(spec.model_ref)
    builtin = BUILTIN_MODELS[ref.target] if ref.kind == "builtin" else None
    if builtin is not None and spec.family and spec.family != builtin.family:
        raise UserError(f"the request calls {ref} a {spec.family} model, but it is a {builtin.family} model")
    formula, source = spec.bias_formula, "as asked"
    if formula is None and spec.family and builtin is None and ref.kind not in ("diffusers", "sd"):
        kind = FAMILY_BIAS[spec.family]
        formula, source = DEFAULT_FORMULAS[kind], f"the {kind} bias of the {spec.family} family"
    if formula is None:
        source = "the model's default"
    else:
        parse_bias(formula)  # a malformed formula is reported before any work
    overrides = spec.settings_overrides()
    for name, value in overrides.items():
        flag = (flags or {}).get(name)
        if flag is not None and flag != value:
            option = "--" + ("range" if name == "traversal_range" else name.replace("_", "-"))
            raise UserError(f"the request says {SETTING_LABELS[name]} {_shown(value)} but {option} {_shown(flag)} "
                            "was given; say it once")
    settings = replace(settings, **overrides)
    if ref.kind == "sd" and not settings.prompt:
        raise UserError(f"{ref} is explained under a prompt; say it as: with the prompt \"TEXT\" (or give --prompt)")
    family = builtin.family if builtin else {"diffusers": "ddpm", "sd": "sd"}.get(ref.kind)
    return ResolvedRun(str(ref), family, formula, source, settings)


def describe_run_spec(resolved: ResolvedRun, parsed_by: str, out: object = None) -> str:
    """The compact block shown before the run, e.g.

        model     builtin:dsprites-btcvae (vae)
        bias      p(z)=prod_i p(z_i)  (as asked)
        settings  frames 8, samples 5, range model's, threshold 0.8, attempts 3, seed 0
        output    a new folder under runs/
        read by   rules (offline)
    """
    settings = resolved.settings
    family = f" ({resolved.model_family})" if resolved.model_family else ""
    bias = f"{resolved.bias_formula}  ({resolved.bias_source})" if resolved.bias_formula else resolved.bias_source
    values = ", ".join(f"{label} {_shown(getattr(settings, name))}" for name, label in SETTING_LABELS.items()
                       if name not in OPTIONAL_LABELS or getattr(settings, name, None) is not None)
    llm = getattr(settings, "llm", None)
    rows = [
        ("model", f"{resolved.model_ref}{family}"),
        ("bias", bias),
        ("settings", values),
        ("vision", llm or "offline analytic describer"),
        ("output", str(out) if out is not None else "a new folder under runs/"),
        ("read by", parsed_by),
    ]
    return "\n".join(f"  {name:<9} {value}" for name, value in rows)


def _shown(value: float | int | str | None) -> str:
    """A setting as the summary prints it; None is a default the model decides (the range)."""
    if isinstance(value, str):
        return repr(value)
    return "model's" if value is None else f"{value:g}"
