"""The one settings class: every tunable number of a run, documented, with its default.

Each field can be overridden from the environment as LATENT_EXPLAINER_<FIELD> (upper case) and
from the CLI as --<field-with-dashes>; the CLI wins over the environment, which wins over the
default. Secrets (API keys) are not settings: they stay out of the graph state and results.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from agent.errors import UserError

ENV_PREFIX = "LATENT_EXPLAINER_"
DEFAULT_TRAVERSAL_RANGE = 3.0
DEFAULT_CONDITIONAL_MAX_ALPHA = 4.0
MODEL_DEFAULTS = {"traversal_range": DEFAULT_TRAVERSAL_RANGE, "conditional_max_alpha": DEFAULT_CONDITIONAL_MAX_ALPHA}
"""Settings whose default belongs to the model: its metadata may declare them (DESIGN.md)."""


@dataclass
class Settings:
    """n_samples: explanation samples per latent (the offline describer: one per anchor code).
    frames: frames per traversal (K). traversal_range: first attempt traverses [-r, r]; None
    (the default) takes the model's own metadata["traversal_range"] when it declares one (a DDPM:
    1, the paper's edit strength), else DEFAULT_TRAVERSAL_RANGE (3: a N(0, I) prior's codes).
    threshold: certainty needed to accept an explanation (belongs to one similarity measure and
    vision backend). threshold_source: where it came from: "default", "given" (flag or
    environment) or the calibration file (`latent-explainer calibrate`) that holds it.
    max_attempts: attempts per latent before "No clear explanation" (the verifier's loop limit).
    widen_factor: range multiplier when the frames barely change. max_range: the widest range a
    loop-back may reach (a prior N(0, I) puts almost no codes beyond 6); raised to a wider first range.
    pixel_change_floor: mean |pixel change| between first and last frame below which a traversal
    "barely changes" (images in [0, 1]).
    conditional_max_alpha: a conditional traversal moves alpha in [0, this] along the attribute
    direction; None (the default) takes the model's metadata["conditional_max_alpha"] when it
    declares one, else DEFAULT_CONDITIONAL_MAX_ALPHA (4: the CSVAE code's alpha in {0, .., 4}).
    temperature: sampling temperature for MLLM explanations (the paper uses 1).
    seed: seeds anchors; attempt a uses seed + a.
    cell_timeout_s: seconds one sandbox cell may run. sandbox: isolation mode auto | strict | off.
    device: torch device inside the sandbox (auto | cpu | cuda | cuda:N).
    llm: "openai:MODEL" or None for the offline defaults. llm_base_url: OpenAI-compatible endpoint.
    coder_max_turns: tool-calling turns the LLM coder gets per latent.
    """

    n_samples: int = 5
    frames: int = 7
    traversal_range: float | None = None
    threshold: float = 0.8
    threshold_source: str = "default"
    max_attempts: int = 3
    widen_factor: float = 2.0
    max_range: float = 6.0
    pixel_change_floor: float = 0.01
    conditional_max_alpha: float | None = None
    temperature: float = 1.0
    seed: int = 0
    cell_timeout_s: float = 120.0
    sandbox: str = "auto"
    device: str = "auto"
    llm: str | None = None
    llm_base_url: str | None = None
    coder_max_turns: int = 6

    def __post_init__(self) -> None:
        checks = [
            (self.n_samples >= 2, "n_samples must be at least 2 (certainty compares samples)"),
            (self.frames >= 2, "frames must be at least 2"),
            (self.traversal_range is None or self.traversal_range > 0, "traversal_range must be positive"),
            (-1.0 <= self.threshold <= 1.0, "threshold must lie in [-1, 1] (a cosine similarity)"),
            (self.max_attempts >= 1, "max_attempts must be at least 1"),
            (self.widen_factor >= 1.0, "widen_factor must be at least 1"),
            (self.conditional_max_alpha is None or self.conditional_max_alpha > 0,
             "conditional_max_alpha must be positive"),
            (self.pixel_change_floor >= 0, "pixel_change_floor must be non-negative"),
            (self.cell_timeout_s > 0, "cell_timeout_s must be positive"),
            (self.sandbox in ("auto", "strict", "off"), "sandbox must be auto, strict or off"),
            (self.coder_max_turns >= 1, "coder_max_turns must be at least 1"),
        ]
        for ok, message in checks:
            if not ok:
                field = message.split()[0]
                raise UserError(f"{message}; got {field}={getattr(self, field)!r}")
        if self.traversal_range is not None and self.max_range < self.traversal_range:
            self.max_range = self.traversal_range  # a wider first range than the cap: no widening

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_calibrated_threshold(self) -> Settings:
        """This, with the calibrated threshold of its vision backend and similarity measure
        when one is saved and no threshold was given; otherwise unchanged."""
        from dataclasses import replace

        from tools.certainty.calibration import load_threshold
        from tools.certainty.similarity import SIMILARITY_MEASURE

        if self.threshold_source != "default":
            return self
        found = load_threshold(self.llm or "offline-analytic", SIMILARITY_MEASURE)
        if found is None:
            return self
        threshold, source = found
        return replace(self, threshold=threshold, threshold_source=source)

    @classmethod
    def resolve(cls, overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] = os.environ) -> Settings:
        """Defaults, then LATENT_EXPLAINER_* environment variables, then non-None overrides."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _parse(f.name, f.type, raw)
        for name, value in (overrides or {}).items():
            if value is not None:
                values[name] = value
        if "threshold" in values and "threshold_source" not in values:
            values["threshold_source"] = "given"
        return cls(**values)


def with_model_defaults(settings: Mapping[str, Any], metadata: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a run's settings dict with every MODEL_DEFAULTS entry the user left at None
    filled from the model's metadata (a positive number) or else the global default."""
    resolved = dict(settings)
    for name, fallback in MODEL_DEFAULTS.items():
        if resolved.get(name) is not None:
            continue
        declared = metadata.get(name)
        ok = isinstance(declared, (int, float)) and not isinstance(declared, bool) and declared > 0
        resolved[name] = float(declared) if ok else fallback
    resolved["max_range"] = max(resolved["max_range"], resolved["traversal_range"])
    return resolved


def _parse(name: str, type_name: Any, raw: str) -> Any:
    kind = str(type_name)
    try:
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
    except ValueError:
        raise UserError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind.split()[0]}") from None
    return raw
