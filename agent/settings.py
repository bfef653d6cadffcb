"""The one settings class: every tunable number of a run, documented, with its default.

`Settings` is the LangGraph run context (`context_schema`): nodes read it as `runtime.context`,
typed, instead of a dict copied into every branch. Each field carries its help text in its
metadata, and from the fields come, generated so they cannot drift:
- the CLI flags `--<field-with-dashes>` (`add_arguments`, `from_arguments`), plus the aliases a
  field declares (e.g. `--range` for traversal_range);
- the environment variables LATENT_EXPLAINER_<FIELD> (`Settings.resolve`).
The CLI wins over the environment, which wins over the default. Secrets (API keys) are not
settings: they stay out of the graph state and results.
"""

from __future__ import annotations

import argparse
import functools
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import Any

from agent.errors import UserError

ENV_PREFIX = "LATENT_EXPLAINER_"
DEFAULT_TRAVERSAL_RANGE = 3.0
DEFAULT_CONDITIONAL_MAX_ALPHA = 4.0
DEFAULT_THRESHOLD = 0.8
MODEL_DEFAULTS = {"traversal_range": DEFAULT_TRAVERSAL_RANGE, "conditional_max_alpha": DEFAULT_CONDITIONAL_MAX_ALPHA}
"""Settings whose default belongs to the model: its metadata may declare them (docs/architecture.md)."""


def setting(default: Any, help: str, *, aliases: tuple[str, ...] = (), choices: tuple[str, ...] | None = None,
            cli: bool = True) -> Any:
    """A Settings field: its default, one line of help, extra flag spellings, allowed values;
    cli=False for bookkeeping fields that are not set by hand."""
    return field(default=default, metadata={"help": help, "aliases": aliases, "choices": choices, "cli": cli})


@dataclass
class Settings:
    """Every setting of a run. See each field's help (`latent-explainer explain --help`)."""

    n_samples: int = setting(5, "explanation samples per latent (the offline describer: one per anchor code)")
    frames: int = setting(7, "frames per traversal (K)")
    traversal_range: float | None = setting(
        None, "the first attempt traverses [-R, R]; default: the model's own (a DDPM edit: 1), else 3 "
              "(codes of a N(0, I) prior)", aliases=("--range",))
    threshold: float | None = setting(
        None, "certainty needed to accept an explanation; default: the calibrated one of the vision backend "
              "and certainty measure (`latent-explainer calibrate`), else 0.8")
    threshold_source: str = setting("", "where the threshold came from: given, default or a calibration file", cli=False)
    max_attempts: int = setting(3, "attempts per latent before 'No clear explanation' (the verifier's loop limit)")
    widen_factor: float = setting(2.0, "range multiplier for a loop-back when the frames barely change")
    max_range: float = setting(6.0, "the widest range a loop-back may reach (raised to a wider first range)")
    pixel_change_floor: float = setting(
        0.01, "mean |pixel change| between first and last frame (images in [0, 1]) below which a traversal "
              "barely changes")
    conditional_max_alpha: float | None = setting(
        None, "a conditional traversal moves alpha in [0, A] along the attribute direction; default: the model's "
              "own, else 4 (the CSVAE code's alpha in {0..4})")
    temperature: float = setting(1.0, "sampling temperature of MLLM explanations (the paper uses 1)")
    seed: int = setting(0, "seed of the anchor codes; attempt a uses seed + a - 1")
    cell_timeout_s: float = setting(120.0, "seconds one sandbox cell may run", aliases=("--cell-timeout",))
    sandbox: str = setting("auto", "isolation of generated code", choices=("auto", "strict", "off"))
    device: str = setting("auto", "torch device inside the sandbox: auto, cpu, cuda, cuda:N")
    llm: str | None = setting(None, "openai:MODEL for any OpenAI-compatible endpoint; default: offline")
    llm_base_url: str | None = setting(None, "the endpoint, e.g. http://127.0.0.1:8000/v1 (default: $OPENAI_BASE_URL)")
    coder_max_turns: int = setting(6, "tool-calling turns the LLM coder gets per attempt")
    directions: int | None = setting(
        None, "h-space directions a diffusion model (diffusers:, sd:, a DDPM) is explained along; default: the "
              "model's, 5")
    inference_steps: int | None = setting(
        None, "DDIM steps of a diffusion model from noise to image; default: the model's (50 for diffusers:, "
              "100 for sd:)")
    edit_strength: float | None = setting(
        None, "gamma of a diffusion model's x-space guidance edit; default: the family's (0.1 DDPM, 1 Stable "
              "Diffusion)")
    guidance_scale: float = setting(7.5, "Stable Diffusion's classifier-free guidance scale (1 turns it off and "
                                         "halves the cost)")
    prompt: str | None = setting(None, "the text prompt a Stable Diffusion model (sd:) is explained under")
    mount: tuple[str, ...] = setting((), "a host folder the sandbox may read, read-only (repeatable), e.g. the "
                                         "weights a model file loads")
    dtype: str = setting("auto", "diffusion weights' dtype: auto (float16 for sd: on CUDA, else float32); float16 "
                                 "needs CUDA", choices=("auto", "float32", "float16", "bfloat16"))
    vision_llm: str | None = setting(None, "the vision role's model: openai:MODEL or offline; default: --llm")
    coder_llm: str | None = setting(None, "the coder role's model: openai:MODEL, template or offline; default: --llm")
    router_llm: str | None = setting(None, "the router role's model (ask, formula repair): openai:MODEL or offline; "
                                           "default: --llm")
    llm_max_retries: int = setting(4, "extra attempts of a failed LLM request (429, 5xx, timeouts, connection "
                                      "resets, malformed answers), with exponential backoff and jitter")
    llm_timeout_s: float = setting(60.0, "seconds one LLM request may take", aliases=("--llm-timeout",))
    no_cache: bool = setting(False, "do not use the LLM response cache ($XDG_CACHE_HOME/latent-explainer)")
    budget_tokens: int | None = setting(None, "stop sending LLM requests once this many tokens are spent; the "
                                              "latents left end unclear (budget)")
    max_concurrency: int = setting(16, "LLM requests (and latents) in flight at once")
    no_measurements: bool = setting(False, "do not give the MLLM the image measurements (ablation)")
    certainty_measure: str = setting(
        "groups", "how the samples' agreement is scored: groups (samples grouped by the property and direction "
                  "they claim; share of the largest group) or cosine (the paper's mean embedding cosine, for "
                  "comparison); docs/certainty.md", aliases=("--certainty",), choices=("groups", "cosine"))
    fidelity_trials: int = setting(
        8, "fidelity trials per explained latent: fresh anchors (seed + 1000) on which the explanation predicts "
           "which traversal is its latent's and which of two frames has the higher value; 0 turns fidelity off")
    min_fidelity: float | None = setting(
        None, "detection accuracy an explanation must reach on fresh traversals (chance is 1 / (1 + distractors), "
              "0.2 with 4); below it the explanation is refused: new anchors while attempts remain, else unclear; "
              "default: off")

    def __post_init__(self) -> None:
        self.mount = tuple(self.mount or ())  # a recorded run's JSON gives a list
        checks = [
            (self.n_samples >= 2, "n_samples must be at least 2 (certainty compares samples)"),
            (self.frames >= 2, "frames must be at least 2"),
            (self.traversal_range is None or self.traversal_range > 0, "traversal_range must be positive"),
            (self.threshold is None or -1.0 <= self.threshold <= 1.0, "threshold must lie in [-1, 1]"),
            (self.max_attempts >= 1, "max_attempts must be at least 1"),
            (self.widen_factor >= 1.0, "widen_factor must be at least 1"),
            (self.max_range > 0, "max_range must be positive"),
            (self.conditional_max_alpha is None or self.conditional_max_alpha > 0,
             "conditional_max_alpha must be positive"),
            (self.pixel_change_floor >= 0, "pixel_change_floor must be non-negative"),
            (self.temperature >= 0, "temperature must be non-negative"),
            (self.cell_timeout_s > 0, "cell_timeout_s must be positive"),
            (self.sandbox in ("auto", "strict", "off"), "sandbox must be auto, strict or off"),
            (self.coder_max_turns >= 1, "coder_max_turns must be at least 1"),
            (self.directions is None or self.directions >= 1, "directions must be at least 1"),
            (self.inference_steps is None or self.inference_steps >= 1, "inference_steps must be at least 1"),
            (self.edit_strength is None or self.edit_strength > 0, "edit_strength must be positive"),
            (self.guidance_scale >= 1, "guidance_scale must be at least 1 (1: no classifier-free guidance)"),
            (self.prompt is None or bool(self.prompt.strip()), "prompt must not be empty"),
            (self.dtype in ("auto", "float32", "float16", "bfloat16"), "dtype must be auto, float32, float16 or bfloat16"),
            (self.llm_max_retries >= 0, "llm_max_retries must be at least 0"),
            (self.llm_timeout_s > 0, "llm_timeout_s must be positive"),
            (self.budget_tokens is None or self.budget_tokens >= 0, "budget_tokens must be at least 0"),
            (self.max_concurrency >= 1, "max_concurrency must be at least 1"),
            (self.certainty_measure in ("groups", "cosine"), "certainty_measure must be groups or cosine"),
            (self.fidelity_trials >= 0, "fidelity_trials must be non-negative"),
            (self.min_fidelity is None or 0.0 <= self.min_fidelity <= 1.0, "min_fidelity must lie in [0, 1]"),
            (self.min_fidelity is None or self.fidelity_trials > 0, "min_fidelity needs fidelity_trials > 0"),
        ]
        for ok, message in checks:
            if not ok:
                name = message.split()[0]
                raise UserError(f"{message}; got {name}={getattr(self, name)!r}")
        if self.traversal_range is not None and self.max_range < self.traversal_range:
            self.max_range = self.traversal_range  # a wider first range than the cap: no widening
        if self.threshold is None:
            self.threshold, self.threshold_source = self._default_threshold()
        elif not self.threshold_source:
            self.threshold_source = "given"

    def _default_threshold(self) -> tuple[float, str]:
        """The calibrated threshold of this run's vision backend and certainty measure, when one
        is saved (tools/certainty/calibration.py), else DEFAULT_THRESHOLD."""
        from tools.certainty.calibration import load_threshold
        from tools.certainty.measures import measure_id

        found = load_threshold(self.vision_backend, measure_id(self.certainty_measure))
        return found if found is not None else (DEFAULT_THRESHOLD, "default")

    def llm_spec(self, role: str) -> str | None:
        """The LLM spec of a role ("vision", "coder", "router"): its own setting, else `llm`."""
        own = getattr(self, f"{role}_llm")
        return own if own not in (None, "") else self.llm

    @property
    def vision_backend(self) -> str:
        """The name of what explains the frames, as shown in every output."""
        spec = self.llm_spec("vision")
        return spec if spec not in (None, "", "offline") else "offline-analytic"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Settings:
        """The settings a run recorded (results.json "settings" or its checkpoint), ignoring
        entries that are not fields (values the planner derived from the model)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in names})

    @classmethod
    def resolve(cls, overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] = os.environ) -> Settings:
        """Defaults, then LATENT_EXPLAINER_* environment variables, then non-None overrides."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if f.metadata.get("cli", True) and raw is not None and raw != "":
                values[f.name] = _parse_env(f.name, raw)
        unknown = sorted(set(overrides or {}) - {f.name for f in fields(cls)})
        if unknown:
            raise UserError(f"unknown settings {unknown}; settings are: {', '.join(setting_names())}")
        for name, value in (overrides or {}).items():
            if value is not None:
                values[name] = value
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with `changes` (validated again)."""
        return replace(self, **changes)


def settings_of(runtime: Any) -> Settings:
    """The run's settings inside a node: the LangGraph run context, or (a graph invoked without
    one, e.g. `graph.invoke({"model_ref": ...})`) the defaults and the environment."""
    context = getattr(runtime, "context", None)
    return context if isinstance(context, Settings) else _default_settings()


@functools.cache
def _default_settings() -> Settings:
    return Settings.resolve()


def setting_names() -> list[str]:
    """The fields a user may set (flags, environment, the Python API)."""
    return [f.name for f in fields(Settings) if f.metadata.get("cli", True)]


def with_model_defaults(settings: Mapping[str, Any], metadata: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a run's settings record with every MODEL_DEFAULTS entry the user left at None
    filled from the model's metadata (a positive number) or else the global default."""
    resolved = dict(settings)
    for name, fallback in MODEL_DEFAULTS.items():
        if resolved.get(name) is not None:
            continue
        declared = metadata.get(name)
        ok = isinstance(declared, int | float) and not isinstance(declared, bool) and declared > 0
        resolved[name] = float(declared) if ok else fallback
    resolved["max_range"] = max(resolved["max_range"], resolved["traversal_range"])
    return resolved


# --- generated command-line flags ---------------------------------------------------------------

def _base_type(name: str) -> type:
    """int, float, str, bool (or tuple for tuple[str, ...]) of a Settings field, None removed."""
    hint = typing.get_type_hints(Settings)[name]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return typing.get_origin(hint) or hint


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per settable field, help and default taken from the field; every flag's argparse
    default is None ("not given": the environment, then the field's default, decide)."""
    group = parser.add_argument_group("settings (each also LATENT_EXPLAINER_<NAME> in the environment)")
    for f in fields(Settings):
        if not f.metadata.get("cli", True):
            continue
        kind = _base_type(f.name)
        default = "" if f.default is None or f.default is MISSING else f" (default {f.default})"
        flags = ["--" + f.name.replace("_", "-"), *f.metadata.get("aliases", ())]
        options: dict[str, Any] = {"dest": f.name, "default": None, "help": f.metadata["help"] + default}
        if kind is tuple:
            options.update(action="append", metavar=f.name.upper())
        elif kind is bool:
            options.update(action="store_true")
        else:
            options.update(type=kind, choices=f.metadata.get("choices"))
        group.add_argument(*flags, **options)


def from_arguments(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> Settings:
    """Settings from parsed flags (add_arguments), the environment and the defaults."""
    overrides = {}
    for name in setting_names():
        value = getattr(args, name, None)
        overrides[name] = tuple(value) if isinstance(value, list) else value
    return Settings.resolve(overrides, env=env)


def _parse_env(name: str, raw: str) -> Any:
    kind = _base_type(name)
    if kind is bool:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise UserError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid bool (1 or 0, true or false)")
    try:
        if kind is tuple:
            return tuple(part for part in raw.split(os.pathsep) if part)
        return kind(raw)
    except ValueError:
        raise UserError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind.__name__}") from None
