"""Vision node: n explanation samples for one traversal.

Offline (no vision LLM configured) the analytic describer (tools/describe/describer.py) measures
every frame and words what changes, one sample per anchor code, with what each sample claims
(`sample_claims`, tools/certainty/claims.py). With a vision LLM, one request
carries a grid of every anchor's traversal (one row per anchor, rows labelled) and asks for n
structured samples at the configured temperature, so a sample must hold for every row. Nothing
in the request hints at the answer: the latent goes by a neutral id (not an attribute name), the
describer's measurements go as numbers with units (never its phrases), or not at all with
settings.no_measurements. A request that still fails after its retries fails this latent with the
reason; a spent token budget ends it "unclear" (budget).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

from agent.settings import Settings, settings_of
from agent.state import LatentState
from prompts import render_prompt
from tools.traversal.check import load_traversal

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

OFFLINE_VISION = "offline-analytic"

MEASUREMENT_LINES = 6
"""Measured quantities shown to the MLLM, strongest first."""


def neutral_latent_id(plan: dict) -> str:
    """The id the MLLM sees: "z3" or "z1_z2" as planned, else (a named attribute, group or
    direction) "latent-" and four hex digits of a hash of the name, which says nothing about it."""
    if re.fullmatch(r"z\d+(_z\d+)*", plan["id"]):
        return plan["id"]
    return "latent-" + hashlib.sha256(plan["id"].encode("utf-8")).hexdigest()[:4]


def measurements_text(measurements: dict, limit: int = MEASUREMENT_LINES) -> str:
    """The strongest measured changes as numbers with units, one line each ("" when none):
    `- size: mean change +0.412 (natural log of the object's area); 2.7 just-noticeable
    differences; monotonic in 80% of rows`. The describer's words are never included."""
    quantities = measurements.get("quantities")
    quantities = quantities if isinstance(quantities, dict) else {}
    if not quantities and not isinstance(measurements.get("pixel_change"), int | float):
        return ""
    ranked = sorted((item for item in quantities.items() if isinstance(item[1], dict)),
                    key=lambda kv: -float(kv[1].get("mean_strength", 0.0)))[:limit]
    lines = ["Measurements of the images, strongest changes first (from an image-measurement tool, for reference):"]
    if isinstance(measurements.get("pixel_change"), int | float):
        lines.append(f"- pixels: mean absolute change first to last frame {measurements['pixel_change']:.3f} "
                     "(pixel values in [0, 1])")
    for name, q in ranked:
        lines.append(f"- {name}: mean change {float(q.get('mean_change', 0.0)):+.3f} ({q.get('unit', 'no unit')}); "
                     f"{float(q.get('mean_strength', 0.0)):.1f} just-noticeable differences; "
                     f"monotonic in {100 * float(q.get('monotonic_fraction', 0.0)):.0f}% of rows")
    return "\n".join(lines) + "\n"


GRID_MIN_FRAME_PX = 64
"""Frames smaller than this are upscaled (nearest neighbour, whole factors) in the grid; larger
ones keep their size: upscaling adds no detail, only image tokens."""


def anchor_grid_png(frames, values: list[float], label: str) -> bytes:
    """Every anchor's traversal in one PNG: frames (A, K, C, H, W) in [0, 1], one row per anchor
    ("anchor 1", ...), the values once under the last row, labelled `label = value`."""
    import math

    from tools.traversal.strip import make_grid, png_bytes

    rows = [f"anchor {a + 1}" for a in range(frames.shape[0])]
    scale = max(1, math.ceil(GRID_MIN_FRAME_PX / max(frames.shape[-2:])))
    return png_bytes(make_grid(frames, values, rows, label=label, scale=scale))


def _llm_samples(state: LatentState, settings: Settings, description, traversal) -> dict:
    """The LLM branch: {samples, sample_claims, visible, usage, steps-part} or {error} /
    {budget_exhausted, error}."""
    from agent.llm.client import LLMRequestFailed, client_for
    from agent.llm.usage import BudgetExhausted, Usage, add_usage
    from agent.llm_config import role_config
    from agent.vision_client import sample_explanations

    job = state["job"]
    run_dir = Path(job["run_dir"])
    client = client_for(job["run_dir"], settings, role_config(settings, "vision"))
    latent_id = neutral_latent_id(job["plan"])
    system = render_prompt("vision_system.txt", bias_prompt=job["bias"]["prompt"])
    user = render_prompt(
        "vision_user.txt", latent_id=latent_id, n_rows=int(traversal.frames.shape[0]),
        values_text=", ".join(f"{v:g}" for v in state["values"]),
        measurements_text="" if settings.no_measurements else measurements_text(description.measurements),
    )
    image = anchor_grid_png(traversal.frames, list(state["values"]), latent_id)
    grid_path = run_dir / "strips" / f"{job['plan']['id']}_attempt_{state['attempt']}_grid.png"
    grid_path.parent.mkdir(parents=True, exist_ok=True)
    grid_path.write_bytes(image)
    usage = Usage()
    step = {"system_prompt": system, "user_prompt": user, "image": str(grid_path.relative_to(run_dir))}
    update: dict = {}
    try:
        answer = sample_explanations(client, system, user, image, settings.n_samples, settings.temperature, usage)
        floor = settings.pixel_change_floor
        update = {"samples": answer.samples, "sample_claims": answer.claims,
                  "visible": [description.pixel_change >= floor] * len(answer.samples)}
        step.update(structured=answer.structured, sample_claims=answer.claims)
    except BudgetExhausted as error:
        update = {"samples": [], "visible": [], "error": str(error), "budget_exhausted": True}
    except LLMRequestFailed as error:
        update = {"samples": [], "visible": [], "error": f"vision request failed: {error}"}
    update["usage"] = add_usage(state.get("usage"), usage.to_dict())
    step["usage"] = usage.to_dict()
    return update | {"step": step}


def query_vision_model(state: LatentState, runtime: Runtime[Settings]) -> dict:
    """Returns {samples, sample_claims, visible, measurements, pixel_change, steps} (offline, the
    claims are the describer's: one per change its text names); with a vision LLM also
    {usage}, and {error} when its request failed."""
    from agent.llm_config import role_config
    from tools.describe.describer import describe_traversal

    job = state["job"]
    settings = settings_of(runtime)
    run_dir = Path(job["run_dir"])
    traversal = load_traversal(run_dir / state["traversal"])
    floor = settings.pixel_change_floor
    description = describe_traversal(traversal.frames, traversal.values.tolist(), visible_floor=floor)
    step: dict = {"node": "vision", "attempt": state["attempt"], "backend": job["backend"]["vision"]}
    extra: dict = {}
    if role_config(settings, "vision") is None:
        samples = [s.text for s in description.samples]
        visible = [s.visible_change for s in description.samples]
        extra = {"sample_claims": [[c.to_dict() for c in s.claims] for s in description.samples]}
        step.update(sample_claims=extra["sample_claims"])
    else:
        extra = _llm_samples(state, settings, description, traversal)
        step.update(extra.pop("step"))
        samples, visible = extra.pop("samples"), extra.pop("visible")
        if extra.get("error"):
            step["error"] = extra["error"]
    step.update(samples=samples, visible=visible, pixel_change=round(description.pixel_change, 5))
    return {
        "samples": samples,
        "visible": visible,
        "measurements": description.measurements,
        "pixel_change": float(description.pixel_change),
        **extra,
        "steps": [*state.get("steps", []), step],
    }
