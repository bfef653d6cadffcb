"""Calibrated certainty thresholds, saved with what they belong to.

A threshold on certainty means something only for one similarity measure (the papers' 0.7434
and 0.2617 belong to different measures) and one vision backend (an MLLM's samples agree
differently from the offline describer's). A calibration file therefore holds one entry per
(backend, measure) pair, and a threshold is only ever looked up by both.

File format (JSON):
    {"version": 1,
     "entries": [{"backend": "offline-analytic", "measure": "cosine/all-MiniLM-L6-v2",
                  "threshold": 0.61, "method": "max-jaccard", "stats": {...},
                  "created": "2026-11-22T09:30:00Z"}]}
Saving into an existing file replaces the entry of the same (backend, measure) and keeps the
others.

Where `load_threshold` looks, in order, taking the first file that holds an entry for the pair:
1. the explicit `path` argument;
2. the file named by the environment variable LATENT_EXPLAINER_CALIBRATION;
3. the shipped default, tools/certainty/calibration.json beside this module, when present.
A file named in 1 or 2 that does not exist or cannot be read is a UserError (never silently
skipped); one that is valid but has no entry for the pair passes the search on.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tools.errors import UserError

ENV_VAR = "LATENT_EXPLAINER_CALIBRATION"
DEFAULT_PATH = Path(__file__).with_name("calibration.json")
FORMAT_VERSION = 1


def _read(path: Path) -> list[dict[str, Any]]:
    """The entries of a calibration file; UserError naming the file when it is not one."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"calibration file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"calibration file {str(path)!r} is not readable JSON ({error})") from None
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise UserError(f"calibration file {str(path)!r} has no 'entries' list; write it with `latent-explainer calibrate`")
    return entries


def _check_threshold(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or not -1 <= value <= 1:
        raise UserError(f"threshold {value!r} in {where} must be a number in [-1, 1] (a cosine similarity)")
    return float(value)


def save_calibration(
    path: str | Path, threshold: float, measure: str, backend: str, method: str, stats: Mapping[str, Any]
) -> Path:
    """Write (or replace) the entry for (backend, measure) in the calibration file at path.

    threshold: in [-1, 1]. measure: e.g. tools.certainty.similarity.SIMILARITY_MEASURE. backend: the
    vision backend name (results.json's backend.vision). method: max-jaccard | youden. stats:
    JSON-serialisable facts about the calibration (models, counts, AUC...). Returns the path."""
    from tools.evaluation.roc import METHODS

    path = Path(path)
    threshold = _check_threshold(threshold, "save_calibration")
    if method not in METHODS:
        raise UserError(f"calibration method {method!r} is unknown; use one of {', '.join(METHODS)}")
    if not measure or not backend:
        raise UserError(f"a calibration needs a similarity measure and a backend; got {measure!r} and {backend!r}")
    entries = _read(path) if path.exists() else []
    entry = {
        "backend": backend,
        "measure": measure,
        "threshold": threshold,
        "method": method,
        "stats": dict(stats),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    entries = [e for e in entries if (e.get("backend"), e.get("measure")) != (backend, measure)] + [entry]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": FORMAT_VERSION, "entries": entries}, indent=2) + "\n")
    return path


def _candidates(path: str | Path | None, env: Mapping[str, str]) -> list[tuple[Path, str]]:
    """(file, how it was found) in search order (module docstring); the shipped default only
    when it exists."""
    found: list[tuple[Path, str]] = []
    if path is not None:
        found.append((Path(path), f"calibration file {path}"))
    if env.get(ENV_VAR):
        found.append((Path(env[ENV_VAR]), f"${ENV_VAR}={env[ENV_VAR]}"))
    if DEFAULT_PATH.is_file():
        found.append((DEFAULT_PATH, f"shipped default tools/certainty/{DEFAULT_PATH.name}"))
    return found


def load_threshold(
    backend: str, measure: str, path: str | Path | None = None, env: Mapping[str, str] = os.environ
) -> tuple[float, str] | None:
    """The calibrated threshold for (backend, measure) and where it came from ("<source>,
    <method>"), or None when no file in the search order holds one (module docstring)."""
    for file, source in _candidates(path, env):
        for entry in _read(file):
            if entry.get("backend") == backend and entry.get("measure") == measure:
                threshold = _check_threshold(entry.get("threshold"), str(file))
                stats = entry.get("stats") if isinstance(entry.get("stats"), dict) else {}
                how = entry.get("method", "unknown method")
                if stats.get("selection"):
                    how = f"{how}, {stats['selection']}"
                return threshold, f"{source} ({how})"
    return None
