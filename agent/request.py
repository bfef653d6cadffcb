"""One way in: every front door (the `explain` and `ask` commands, the Python API, `eval`,
`calibrate`, benchmarks) turns what it was given into a checked RunRequest here, so a bad model
reference, formula, LLM spec or device is refused the same way, in one line, before any work.

    request = resolve_request("builtin:dsprites-btcvae", None, Settings.resolve({"frames": 9}))
    run_dir = run_explain(request)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agent.run import RunRequest
from agent.settings import Settings

PROGRESS_MODES = ("lines", "jsonl", "quiet")


def check_settings(settings: Settings) -> Settings:
    """The settings, after checking what they name outside themselves: the LLM spec parses and
    the device exists. Raises UserError (one line) otherwise."""
    from agent.llm_config import check_role_specs
    from tools.models.device import resolve_device

    check_role_specs(settings)
    resolve_device(settings.device)
    return settings


def resolve_request(model_ref: str, bias_formula: str | None, settings: Settings, *, out: Path | None = None,
                    progress: str = "lines", accept_paraphrase: bool = False,
                    confirm: Callable[[str], bool] | None = None) -> RunRequest:
    """A checked RunRequest. model_ref: any reference form (tools/models/references.py), made
    canonical. bias_formula: None for the model family's default; a formula outside the grammar
    is an error, or, with an LLM configured, its paraphrase once accepted (accept_paraphrase, or
    `confirm` answering yes). out: the run folder (None: a new one under runs/)."""
    from agent.errors import UserError
    from agent.formula_repair import confirm_on_terminal, resolve_formula
    from tools.models.references import parse_model_ref

    if progress not in PROGRESS_MODES:
        raise UserError(f"progress must be one of {', '.join(PROGRESS_MODES)}; got {progress!r}")
    check_settings(settings)
    ref = parse_model_ref(str(model_ref))
    if bias_formula is not None:
        from agent.llm_config import role_config

        router = settings.llm_spec("router") if role_config(settings, "router") is not None else None
        bias_formula = resolve_formula(bias_formula, router, settings.llm_base_url, accept_paraphrase,
                                       confirm or confirm_on_terminal)
    return RunRequest(str(ref), bias_formula, settings, Path(out) if out is not None else None, progress)
