"""A sweep's run folders: which are finished and can be reused, which can be resumed, and which
belong to another request (and are never overwritten).

A run folder is finished when its checkpoint says the graph ended and results.json holds the
latents; it is reused only when it was made for the same model, bias and settings. A folder
made for something else is a UserError before any work: re-running a sweep with other settings
into the same --out would otherwise mix two sweeps in one table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import UserError

RESULTS_FILE = "results.json"
EVALUATION_FILE = "evaluation.json"
IGNORED_SETTINGS = ("threshold_source", "device")
"""Settings that say where a value came from or where the model ran, not what the run did."""


@dataclass(frozen=True)
class FolderState:
    """kind: "new" (nothing to keep), "finished" (results.json complete), "unfinished" (a
    checkpoint to resume from). evaluated: evaluation.json is there (a finished run)."""

    kind: str
    evaluated: bool = False


def differing_settings(recorded: Mapping[str, Any], requested: Mapping[str, Any]) -> list[str]:
    """Names of the requested settings the recorded run did not use. A requested None (the
    model's own default, filled in by the run) matches any recorded value."""
    return sorted(name for name, value in requested.items()
                  if name not in IGNORED_SETTINGS and value is not None and _plain(recorded.get(name)) != _plain(value))


def _plain(value: Any) -> Any:
    """A value as its record holds it (tuples become lists, as in JSON and the checkpoint)."""
    return json.loads(json.dumps(value, default=str))


def _mismatch(model_ref: str, bias: str | None, settings: Mapping[str, Any],
              recorded_ref: Any, recorded_bias: Any, recorded_settings: Mapping[str, Any]) -> str | None:
    if recorded_ref != model_ref:
        return f"model {recorded_ref!r}"
    if recorded_bias != bias:  # None: the family's default formula
        return f"bias {recorded_bias!r}" if recorded_bias else "the family's default bias"
    names = differing_settings(recorded_settings or {}, settings)
    if names:
        return "other settings (" + ", ".join(f"{n}={recorded_settings.get(n)!r}" for n in names) + ")"
    return None


def folder_state(run_dir: Path, model_ref: str, bias: str | None, settings: Mapping[str, Any]) -> FolderState:
    """What `run_dir` holds for this request (FolderState); UserError when it holds a run of
    another model, bias or settings."""
    from agent.run import CHECKPOINT_FILE

    if not (run_dir / CHECKPOINT_FILE).is_file():
        return FolderState("new")
    from agent.trace_reader import read_trace

    trace = read_trace(run_dir)
    values = trace.values
    if not values:  # the checkpoint was opened but nothing was saved: start afresh
        return FolderState("new")
    problem = _mismatch(model_ref, bias, settings, values.get("model_ref"), values.get("bias_formula"),
                        values.get("settings") or {})
    if problem:
        raise UserError(f"run folder {str(run_dir)!r} holds a run of {problem}, not of this sweep; "
                        "give another --out or remove that folder")
    results = run_dir / RESULTS_FILE
    if trace.finished and results.is_file() and _has_latents(results):
        return FolderState("finished", evaluated=(run_dir / EVALUATION_FILE).is_file())
    return FolderState("unfinished")


def _has_latents(path: Path) -> bool:
    try:
        return bool(json.loads(path.read_text(encoding="utf-8")).get("latents"))
    except (OSError, ValueError):
        return False
