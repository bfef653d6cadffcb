"""Fresh traversals for fidelity trials, rendered inside the sandbox kernel.

The anchors come from a seed the explanation never saw (FRESH_SEED_OFFSET above the attempt's
seed), so a fidelity score is a prediction, not a recall. One file per traversal plan and seed
(the same anchors for every plan, so the candidates of a detection trial differ only in which
latent moved); a file already written is reused, so each latent of a run is decoded once, in one
batched decode, however many explanations use it as a distractor.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

FRESH_SEED_OFFSET = 1000
FOLDER = "fidelity"


def fresh_seed(seed: int) -> int:
    """The anchor seed of the fidelity traversals for an attempt with this anchor seed."""
    return seed + FRESH_SEED_OFFSET


def traversal_path(plan: dict, seed: int, anchors: int) -> str:
    """Where a plan's fresh traversal goes, relative to the run folder; the name holds the
    plan's values, mode and condition, so a widened range gets its own file."""
    key = json.dumps([plan["indices"], plan["values"], plan.get("mode"), plan.get("condition"), anchors], sort_keys=True)
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    return f"{FOLDER}/{plan['id']}_seed{seed}_{digest}.npz"


def render_fresh_traversals(model_ref: str, device: str, plans: list[dict], seed: int, anchors: int,
                            run_dir: str = ".") -> list[str]:
    """Decode each plan's traversal on `anchors` anchor codes of `seed` (the plan's own mode,
    values and condition, as the template coder renders it) and save it with save_traversal;
    plans whose file exists are skipped. Returns the paths (relative to run_dir), in plan order."""
    import torch

    from tools.traversal.perturbation import (
        decode_in_batches,
        direction_for,
        load_model,
        make_anchors,
        save_traversal,
        traverse,
    )

    model = None
    paths = []
    for plan in plans:
        relative = traversal_path(plan, seed, anchors)
        paths.append(relative)
        target = Path(run_dir) / relative
        if target.is_file():
            continue
        model = model or load_model(model_ref, device=device)
        condition = plan.get("condition")
        values = torch.tensor(plan["values"])
        codes = make_anchors(model, n=anchors, seed=seed, condition=condition)
        if plan.get("mode") == "offset":
            direction = direction_for(model, indices=plan["indices"], condition=condition)
            z = traverse(codes, indices=plan["indices"], values=values, mode="offset", direction=direction)
        else:
            z = traverse(codes, indices=plan["indices"], values=values, mode="absolute")
        folder = target.parent / f".{target.stem}"
        save_traversal(folder, z=z, frames=decode_in_batches(model, z), values=values)
        (folder / "traversal.npz").rename(target)
        folder.rmdir()
    return paths
