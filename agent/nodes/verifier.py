"""Verifier node: uncertainty gating and the loop-back decision (LatentExplainer, Zhu et al.
2024, section 3.4).

certainty (tools/certainty/measures.py, settings.certainty_measure): by default the share of
the largest group of samples that claim the same property changing the same way
(tools/certainty/semantic_groups.py; opposite directions never agree; the kept explanation is
that group's representative); with "cosine" the paper's mean pairwise cosine of the samples'
sentence embeddings (tools/certainty/similarity.py; the medoid is kept). A sample that saw no
change agrees with nothing under either. Then, checked here and only here, with the loop limit
settings.max_attempts (the settings are the run context):
- frames barely change (pixel change under settings.pixel_change_floor): loop back with the range
  widened by settings.widen_factor, up to the job's max_span (settings.max_range, raised to the model's first range): every value is scaled by the same
  ratio, so a symmetric traversal stays symmetric and a conditional one (alpha from 0) stays
  one-sided;
- certainty >= threshold: accept the representative sample;
- samples disagree: loop back with new anchor codes, keeping the samples so far: the next
  decision rests on all samples drawn at this range (a widened range starts afresh). Judging
  each fresh draw alone would give a latent without one meaning several chances to look
  consistent by luck (a hard negative did, at its second draw); pooled, a lucky draw must
  outweigh the earlier disagreement;
- out of attempts: "unclear" and "No clear explanation"; a failed sandbox step: "failed".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.llm.usage import add_usage
from agent.settings import Settings, settings_of
from agent.state import Decision, LatentState
from tools.certainty.measures import Certainty, measure_certainty

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

NO_EXPLANATION = "No clear explanation"


def _pooled(state: LatentState) -> dict:
    """The samples the decision rests on: this attempt's, after those of the earlier attempts at
    the same range that were rejected for disagreeing (state["pool"]); {samples, claims,
    visible}, aligned (claims None where the vision backend gave none: read from the text)."""
    pool = state.get("pool") or {"samples": [], "claims": [], "visible": []}
    samples = list(state.get("samples", []))
    claims = state.get("sample_claims") or [None] * len(samples)
    return {"samples": pool["samples"] + samples, "claims": pool["claims"] + list(claims),
            "visible": pool["visible"] + list(state.get("visible", [True] * len(samples)))}


def _decide(state: LatentState, settings: Settings, pooled: dict) -> tuple[Decision, str, Certainty | None]:
    last_attempt = state["attempt"] >= settings.max_attempts
    if state.get("budget_exhausted"):
        return "unclear", state.get("error") or "budget", None
    if state.get("error"):
        return "failed", state["error"], None
    result = measure_certainty(pooled["samples"], settings.certainty_measure, pooled["claims"], pooled["visible"])
    if state["pixel_change"] < settings.pixel_change_floor:
        reason = f"frames barely change (pixel change {state['pixel_change']:.4f} < {settings.pixel_change_floor})"
        can_widen = state["span"] < state["job"]["max_span"] and not last_attempt
        return ("widen" if can_widen else "unclear"), reason, result
    if result.certainty >= settings.threshold:
        return "accept", f"certainty {result.certainty:.3f} >= threshold {settings.threshold}", result
    reason = f"samples disagree (certainty {result.certainty:.3f} < threshold {settings.threshold})"
    return ("unclear" if last_attempt else "new_anchors"), reason, result


def verify_explanations(state: LatentState, runtime: Runtime[Settings]) -> dict:
    """Returns the next attempt's {attempt, span, seed, values} on a loop-back, or the final
    {latents: [entry]}; always {decision, certainty, medoid, history, steps}. The entry adds
    to results.json's contract: certainty_measure (the measure's saved name), groups (sample
    indices per group, largest first) and sample_claims (per sample, its claims); its samples
    are every sample the decision rests on (n per attempt at the final range)."""
    job = state["job"]
    settings = settings_of(runtime)
    pooled = _pooled(state)
    decision, reason, result = _decide(state, settings, pooled)
    certainty, medoid = (result.certainty, result.representative) if result else (0.0, 0)
    record = {"attempt": state["attempt"], "range": state["span"], "seed": state["seed"],
              "certainty": round(certainty, 4), "groups": result.groups if result else [], "pixel_change": round(state.get("pixel_change", 0.0), 5),
              "decision": decision, "reason": reason}
    history = [*state.get("history", []), record]
    steps = [*state.get("steps", []), {"node": "verifier", **record}]
    update: dict = {"decision": decision, "certainty": certainty, "medoid": medoid, "history": history, "steps": steps}
    if decision == "widen":
        span = min(state["span"] * settings.widen_factor, job["max_span"])
        ratio = span / state["span"]
        return update | {"attempt": state["attempt"] + 1, "span": span, "pool": None,
                         "values": [round(value * ratio, 6) for value in state["values"]]}
    if decision == "new_anchors":
        return update | {"attempt": state["attempt"] + 1, "seed": state["seed"] + 1, "pool": pooled}
    plan = job["plan"]
    status = {"accept": "explained", "unclear": "unclear", "failed": "failed"}[decision]
    samples = pooled["samples"] if decision != "failed" else []
    entry = {
        "id": plan["id"],
        "indices": plan["indices"],
        "status": status,
        "explanation": samples[medoid] if status == "explained" else None,
        "certainty": round(certainty, 4),
        "threshold": settings.threshold,
        "samples": samples,
        "usage": add_usage(state.get("usage")),
        "gamma": state["span"],
        "attempts": state["attempt"],
        "frames": state.get("frames", []),
        "strip": state.get("strip"),
        "measurements": state.get("measurements", {}),
        "error": state.get("error") if status == "failed" else None,
        "values": state.get("values", []),
        "history": history,
        "reason": reason,
        "steps": steps,
        "certainty_measure": result.measure if result else None,
        "groups": result.groups if result else [],
        "sample_claims": result.claims if result else [],
        "fidelity": None,
    }
    return update | {"latents": [entry]}


def refuse_explanation(state: LatentState, settings: Settings, reason: str, **record_fields) -> dict:
    """Refuse an accepted explanation after the fact (agent/nodes/fidelity.py: it did not predict
    fresh traversals): loop back with new anchors while attempts remain, else the entry turns
    "unclear". The refused samples are not pooled into the next decision: their meaning is what
    was refused. Returns the update, like verify_explanations; record_fields go into the
    history record and the entry."""
    decision: Decision = "unclear" if state["attempt"] >= settings.max_attempts else "new_anchors"
    record = {"attempt": state["attempt"], "range": state["span"], "seed": state["seed"],
              "certainty": round(state.get("certainty", 0.0), 4), "decision": decision, "reason": reason}
    history = [*state.get("history", []), record]
    steps = [*state.get("steps", []), {"node": "verifier", **record}]
    update: dict = {"decision": decision, "history": history, "steps": steps}
    if decision == "new_anchors":
        return update | {"attempt": state["attempt"] + 1, "seed": state["seed"] + 1, "pool": None}
    entry = dict(state["latents"][0]) | record_fields
    entry.update(status="unclear", explanation=None, history=history, reason=reason, steps=steps)
    return update | {"latents": [entry]}


def route_after_verifier(state: LatentState) -> str:
    """Loop back to the coder, score an accepted explanation's fidelity, or finish this latent."""
    if state["decision"] in ("widen", "new_anchors"):
        return "write_perturbation_code"
    return "score_fidelity" if state["decision"] == "accept" else "__end__"
