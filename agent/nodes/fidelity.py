"""Fidelity node: an accepted explanation predicts traversals it has not seen.

After the verifier accepts, fresh traversals are rendered in the run's kernel on anchors of a
seed no attempt uses (tools/fidelity/fresh_traversals.py: the attempt's seed + 1000): this
latent's, and every other plan's of the run (each decoded once per run and seed, then reused).
The distractors are the DISTRACTORS other plans whose fresh frames change the most (a latent
that changes nothing would be too easy to tell apart). The offline simulator
(tools/fidelity/simulator.py) reads the accepted sample's claims against the frames'
measurements: detection (which of 1 + DISTRACTORS traversals on one anchor is this latent's)
and direction (which of two frames has the higher value), settings.fidelity_trials each.
The entry gains `fidelity {detection, direction, chance, trials, simulator, ...}`.

With settings.min_fidelity set, an explanation whose detection is below it is refused: a
loop-back with new anchors while attempts remain (settings.max_attempts, checked by the
verifier's refuse_explanation), else "unclear".
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from agent.kernel_pool import run_cell
from agent.nodes.verifier import refuse_explanation
from agent.settings import Settings, settings_of
from agent.state import LatentState

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

DISTRACTORS = 4


def _render(job: dict, settings: Settings, plans: list[dict], seed: int) -> list[str]:
    """Render (or reuse) the fresh traversals of plans in the run's kernel; their paths."""
    from tools.fidelity.fresh_traversals import traversal_path

    code = ("from tools.fidelity.fresh_traversals import render_fresh_traversals\n"
            f"render_fresh_traversals({job['model_ref']!r}, {settings.device!r}, {plans!r}, {seed!r}, "
            f"{settings.fidelity_trials!r})\n")
    paths = [traversal_path(plan, seed, settings.fidelity_trials) for plan in plans]
    if not all((Path(job["run_dir"]) / p).is_file() for p in paths):
        run_cell(job["run_dir"], settings, code)
    return paths


@functools.lru_cache(maxsize=64)
def _readings(path: str, stamp: float):
    """The measured Readings of one fresh traversal file (measured once per run: a file is
    shared by every latent that takes it as a distractor); stamp: its mtime, so a rewritten
    file is measured again."""
    from tools.fidelity.simulator import read_traversals
    from tools.traversal.check import load_traversal

    return read_traversals(load_traversal(path).frames.astype(np.float32))


def _pixel_change(readings_path: str) -> float:
    """Mean over anchors of the largest mean |pixel change| from the first frame."""
    from tools.traversal.check import load_traversal

    frames = load_traversal(readings_path).frames.astype(np.float32)
    return float(np.abs(frames - frames[:, :1]).mean(axis=(2, 3, 4)).max(axis=1).mean())


def fidelity_of(state: LatentState, settings: Settings, claims: list[dict]) -> tuple[dict, dict]:
    """The fidelity record of the accepted claims, and the trace event."""
    from tools.fidelity.fresh_traversals import fresh_seed
    from tools.fidelity.simulator import simulate_fidelity

    job = state["job"]
    own = job["plan"] | {"values": state["values"]}
    others = [plan for plan in job.get("peer_plans", []) if plan["id"] != own["id"]]
    seed = fresh_seed(state["seed"])
    paths = _render(job, settings, [own, *others], seed)
    files = [str(Path(job["run_dir"]) / path) for path in paths]
    change = [_pixel_change(f) for f in files[1:]]
    chosen = sorted(np.argsort(change)[::-1][:DISTRACTORS].tolist())
    target, *distractors = (_readings(f, Path(f).stat().st_mtime) for f in [files[0], *(files[1 + i] for i in chosen)])
    record = simulate_fidelity(claims, target, distractors, settings.fidelity_trials, seed=seed)
    record["distractor_ids"] = [others[i]["id"] for i in chosen]
    record["traversals"] = [paths[0], *(paths[1 + i] for i in chosen)]
    record["seed"] = seed
    event = {"node": "fidelity", "attempt": state["attempt"], "claims": claims, **record, "traversals": paths}
    return record, event


def score_fidelity(state: LatentState, runtime: Runtime[Settings]) -> dict:
    """Returns {latents: [entry with fidelity], steps}; with settings.min_fidelity not met, the
    verifier's refusal instead (a loop-back or the unclear entry)."""
    from sandbox.errors import SandboxError

    settings = settings_of(runtime)
    entry = dict(state["latents"][0])
    if settings.fidelity_trials == 0:
        return {}
    claims = entry["sample_claims"][state["medoid"]] if entry.get("sample_claims") else []
    claims = [c if isinstance(c, dict) else c.to_dict() for c in claims]
    try:
        record, event = fidelity_of(state, settings, claims)
    except SandboxError as error:
        event = {"node": "fidelity", "attempt": state["attempt"], "error": f"{type(error).__name__}: {error.message}"}
        steps = [*state.get("steps", []), event]
        entry.update(fidelity=None, fidelity_error=event["error"], steps=steps)
        return {"latents": [entry], "steps": steps}
    steps = [*state.get("steps", []), event]
    if settings.min_fidelity is not None and record["detection"] < settings.min_fidelity:
        reason = (f"fidelity: detection {record['detection']:.3f} < min_fidelity {settings.min_fidelity} "
                  f"on {record['trials']} fresh trials (chance {record['chance']['detection']})")
        return refuse_explanation(state | {"steps": steps}, settings, reason, fidelity=record)
    entry.update(fidelity=record, steps=steps)
    return {"latents": [entry], "steps": steps}


def route_after_fidelity(state: LatentState) -> str:
    """A refused explanation loops back to the coder with new anchors; otherwise the latent is done."""
    return "write_perturbation_code" if state["decision"] == "new_anchors" else "__end__"
