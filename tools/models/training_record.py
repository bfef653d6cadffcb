"""The training record a checkpoint's config.json keeps under "training": the settings and
counts of its last stage, and "earlier_stages" (each with its own settings) when it continued
an earlier checkpoint (`train --init-from`, `train-ddpm --init-from`)."""

from __future__ import annotations

import json
from pathlib import Path


def used_seeds(folder: str | Path) -> set[int]:
    """The seeds of every stage recorded in checkpoint `folder`'s config.json (empty when it
    keeps no record). A continuation with one of them would draw the same data, timesteps and
    noise as that stage did."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        return set()
    training = json.loads(path.read_text()).get("training", {})
    stages = [*training.get("earlier_stages", []), training]
    return {stage["settings"]["seed"] for stage in stages if "seed" in stage.get("settings", {})}
