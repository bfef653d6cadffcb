"""Vision node: n explanation samples for one traversal.

Offline (no LLM configured) the analytic describer (tools/describe/describer.py) measures every frame and
words what changes, one sample per anchor code. With an LLM configured, one request carries the
labelled strip once and asks for n samples at the configured temperature; the describer's
measurements go along as text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from agent.settings import Settings, settings_of
from agent.state import LatentState
from prompts import render_prompt
from tools.traversal.check import load_traversal

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

OFFLINE_VISION = "offline-analytic"


def _measurement_summary(measurements: dict, limit: int = 6) -> str:
    """The strongest measured changes as compact text for the MLLM prompt."""
    quantities = measurements.get("quantities", measurements)
    if not isinstance(quantities, dict):
        return json.dumps(measurements)[:600]
    ranked = sorted(quantities.items(), key=lambda kv: -float(kv[1].get("mean_strength", 0)) if isinstance(kv[1], dict) else 0)
    return json.dumps(dict(ranked[:limit]))[:1200]


def query_vision_model(state: LatentState, runtime: Runtime[Settings]) -> dict:
    """Returns {samples, visible, measurements, pixel_change, steps}."""
    from tools.describe.describer import describe_traversal

    job = state["job"]
    settings = settings_of(runtime)
    run_dir = Path(job["run_dir"])
    traversal = load_traversal(run_dir / state["traversal"])
    floor = settings.pixel_change_floor
    description = describe_traversal(traversal.frames, traversal.values.tolist(), visible_floor=floor)
    step: dict = {"node": "vision", "attempt": state["attempt"], "backend": job["backend"]["vision"]}
    if job["backend"]["vision"] == OFFLINE_VISION:
        samples = [s.text for s in description.samples]
        visible = [s.visible_change for s in description.samples]
    else:
        from agent.llm_config import parse_llm_spec
        from agent.vision_client import sample_explanations

        config = parse_llm_spec(settings.llm, base_url=settings.llm_base_url)
        system = render_prompt("vision_system.txt", bias_prompt=job["bias"]["prompt"])
        user = render_prompt(
            "vision_user.txt", latent_id=job["plan"]["id"],
            values_text=", ".join(f"{v:g}" for v in state["values"]),
            measurements_text=_measurement_summary(description.measurements),
        )
        image = (run_dir / state["strip"]).read_bytes()
        samples = sample_explanations(config, system, user, image, settings.n_samples, settings.temperature)
        visible = [description.pixel_change >= floor] * len(samples)
        step.update(system_prompt=system, user_prompt=user, image=state["strip"])
    step.update(samples=samples, visible=visible, pixel_change=round(description.pixel_change, 5))
    return {
        "samples": samples,
        "visible": visible,
        "measurements": description.measurements,
        "pixel_change": float(description.pixel_change),
        "steps": [*state.get("steps", []), step],
    }
