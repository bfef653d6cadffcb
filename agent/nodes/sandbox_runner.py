"""Sandbox node: run the perturbation code in the run's isolated kernel, check the traversal it
wrote against the plan, and render the frames and the labelled strip as PNG files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agent.kernel_pool import run_cell
from agent.nodes.coder import traversal_folder
from agent.settings import Settings, settings_of
from agent.state import LatentState

if TYPE_CHECKING:
    from langgraph.runtime import Runtime
from tools.bias_formula.plans import TraversalPlan
from tools.traversal.check import TRAVERSAL_FILE, check_traversal, load_traversal


def _render_images(run_dir: Path, plan_id: str, attempt: int, frames, values) -> tuple[list[str], str]:
    """PNG frames of the first anchor and a labelled strip; paths relative to run_dir."""
    from tools.traversal.strip import make_strip, save_frames

    frame_dir = run_dir / "frames" / plan_id / f"attempt_{attempt}"
    paths = save_frames(frames[0], frame_dir, plan_id)
    strip_path = run_dir / "strips" / f"{plan_id}_attempt_{attempt}.png"
    strip_path.parent.mkdir(parents=True, exist_ok=True)
    make_strip(frames[0], values, label=plan_id).save(strip_path)
    return [str(p.relative_to(run_dir)) for p in paths], str(strip_path.relative_to(run_dir))


def run_perturbation_code(state: LatentState, runtime: Runtime[Settings]) -> dict:
    """Returns {traversal, frames, strip, error, steps}; error is None on success."""
    from sandbox.errors import SandboxError

    if state.get("error"):  # the coder gave up: nothing to run; the verifier records the failure
        step = {"node": "sandbox", "attempt": state["attempt"], "skipped": True, "error": state["error"]}
        return {"traversal": None, "frames": [], "strip": None, "steps": [*state.get("steps", []), step]}
    job = state["job"]
    settings = settings_of(runtime)
    plan = TraversalPlan(**(job["plan"] | {"values": state["values"]}))
    run_dir = Path(job["run_dir"])
    step: dict = {"node": "sandbox", "attempt": state["attempt"]}
    update: dict = {"traversal": None, "frames": [], "strip": None, "error": None}
    try:
        result = run_cell(job["run_dir"], settings, state["code"])
        step.update(stdout=result.stdout[-2000:], stderr=result.stderr[-2000:], duration_s=round(result.duration_s, 3))
        path = run_dir / traversal_folder(plan.id, state["attempt"]) / TRAVERSAL_FILE
        if not path.is_file():
            problems = [f"the code wrote no {path.relative_to(run_dir)}"]
        else:
            traversal = load_traversal(path)
            problems = check_traversal(traversal, plan, settings.n_samples, job["latent_dim"])
        if problems:
            update["error"] = "invalid traversal: " + "; ".join(problems)
        else:
            frames, strip = _render_images(run_dir, plan.id, state["attempt"], traversal.frames, plan.values)
            update.update(traversal=str(path.relative_to(run_dir)), frames=frames, strip=strip)
    except SandboxError as error:
        update["error"] = f"{type(error).__name__}: {error.message}"
        step["sandbox_error"] = error.to_dict() | {"traceback": error.fields.get("traceback", [])[-5:]}
    step.update({k: update[k] for k in ("traversal", "strip", "error")}, frames=update["frames"])
    return update | {"steps": [*state.get("steps", []), step]}
