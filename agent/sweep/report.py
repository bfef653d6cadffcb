"""sweep.json and sweep.html: what every model's run folder says, side by side.

sweep.json:
```
{ "sweep": {"bias", "settings", "ray", "wall_s", "n_models", "done", "failed", "finished_at"},
  "models": [ {"ref", "labels", "name", "title", "family", "status": "done" | "failed", "reused",
               "host", "elapsed_s" (the attempt that finished), "resumed" (it resumed a run a
               failed attempt left), "error", "run_dir" (relative), "report" (relative),
               "backend", "summary" {explained, unclear, failed},
               "latents": [{"id", "status", "explanation", "certainty", "threshold",
                            "strip" (relative to the sweep folder)}],
               "evaluation": {factor_accuracy, mig, dci, sap, gating_auc, gating_f1,
                              gating_jaccard, threshold, n_active, n_explained} | null,
               "scoring": null | why the model was not scored} ] }
```
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.sweep.runs import EVALUATION_FILE, RESULTS_FILE

if TYPE_CHECKING:
    from agent.sweep.runner import ModelOutcome, SweepRequest

LATENT_FIELDS = ("id", "status", "explanation", "certainty", "threshold", "error")
EVALUATION_FIELDS = ("factor_accuracy", "mig", "dci", "sap", "gating_auc", "gating_f1", "gating_jaccard", "threshold",
                     "n_latents", "n_active", "n_explained", "ground_truth")


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def model_entry(sweep_dir: Path, outcome: ModelOutcome) -> dict[str, Any]:
    """One model's entry of sweep.json, read from its run folder (what is there, even for a
    model that failed part-way)."""
    model = outcome.model
    run_dir = sweep_dir / model.name
    results = _read(run_dir / RESULTS_FILE) or {}
    evaluation = _read(run_dir / EVALUATION_FILE) if outcome.scoring is None else None
    latents = []
    for latent in results.get("latents") or []:
        entry = {name: latent.get(name) for name in LATENT_FIELDS}
        entry["strip"] = f"{model.name}/{latent['strip']}" if latent.get("strip") else None
        latents.append(entry)
    return {
        **model.to_dict(),
        "title": model.title,
        "status": outcome.status,
        "reused": outcome.reused,
        "host": outcome.host,
        "elapsed_s": outcome.elapsed_s,
        "error": outcome.error,
        "run_dir": model.name,
        "report": f"{model.name}/report.html" if (run_dir / "report.html").is_file() else None,
        "backend": results.get("backend"),
        "summary": results.get("summary"),
        "latents": latents,
        "evaluation": {name: evaluation.get(name) for name in EVALUATION_FIELDS} if evaluation else None,
        "scoring": outcome.scoring,
        **outcome.extra,
    }


def write_sweep(sweep_dir: Path, request: SweepRequest, outcomes: list[ModelOutcome], where: str,
                wall_s: float) -> tuple[Path, Path]:
    """Write sweep.json and sweep.html into the sweep folder; returns both paths."""
    from tools.report.sweep_html import write_sweep_report

    models = [model_entry(sweep_dir, outcome) for outcome in outcomes]
    sweep = {
        "sweep": {
            "bias": request.bias,
            "settings": request.settings.to_dict(),
            "ray": where,
            "wall_s": wall_s,
            "n_models": len(models),
            "done": sum(m["status"] == "done" for m in models),
            "failed": sum(m["status"] == "failed" for m in models),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
        "models": models,
    }
    json_path = sweep_dir / "sweep.json"
    json_path.write_text(json.dumps(sweep, indent=2) + "\n", encoding="utf-8")
    return json_path, write_sweep_report(sweep, sweep_dir)
