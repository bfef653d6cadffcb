"""Graph state. It carries ids, numbers, text and file paths — never tensors or image bytes —
so every step can be checkpointed in SQLite and shown by `latent-explainer trace`.

RunState is the top-level graph's; LatentState is the per-latent subgraph's (one per
TraversalPlan, fanned out with Send). The only key they share is `latents`, merged by id.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypedDict

Decision = Literal["accept", "widen", "new_anchors", "unclear", "failed"]
"""The verifier's typed verdict: accept the medoid; loop back with a wider range (frames barely
change) or new anchors (samples disagree); or stop as unclear / failed."""

LatentStatus = Literal["explained", "unclear", "failed"]


def merge_latents(current: list[dict] | None, update: list[dict] | None) -> list[dict]:
    """Reducer for RunState.latents: an entry replaces the one with the same id, order kept."""
    merged = {entry["id"]: entry for entry in current or []}
    for entry in update or []:
        merged[entry["id"]] = entry
    return list(merged.values())


class RunInput(TypedDict, total=False):
    """What a run is started with (the graph's input schema). model_ref: a model reference
    (required; `latent-explainer models` lists the forms). bias_formula: the inductive-bias
    formula (default: the model family's). run_dir: the run folder (default: a new folder under
    ./runs). run_id: the run's name (default: the folder's name)."""

    model_ref: str
    bias_formula: str | None
    run_dir: str
    run_id: str


class RunState(TypedDict, total=False):
    """run_id / run_dir: the run's name and folder (absolute path).
    model_ref: the user's model reference; model: what inspecting it found (latent_dim,
    image_shape, name, family). bias: {formula, kind, prompt, sympy}. settings: the record of
    the settings used (agent.settings.Settings as a dict, with the values the model decides
    filled in) for results.json; nodes read the typed run context instead. backend: {vision, coder} names as shown to users. plans: TraversalPlans
    as dicts. latents: one result per plan (the results.json entries), merged by id."""

    run_id: str
    run_dir: str
    model_ref: str
    bias_formula: str | None
    model: dict
    bias: dict
    settings: dict
    backend: dict
    plans: list[dict]
    latents: Annotated[list[dict], merge_latents]


class LatentJob(TypedDict):
    """What one latent's subgraph needs from the run besides the settings (the run context):
    plan (a TraversalPlan dict), run_dir, model_ref, latent_dim, bias {formula, kind, prompt},
    backend, and max_span: the widest range a loop-back may reach for this model (the
    max_range setting, raised to the model's own first range). shape_leader: the id of the first
    plan of the same shape, whose coder writes the code the others reuse. peer_plans: every plan
    of the run (the fidelity node's distractors come from them)."""

    plan: dict
    run_dir: str
    model_ref: str
    latent_dim: int
    bias: dict
    backend: dict
    max_span: float
    shape_leader: str
    peer_plans: list[dict]


class LatentState(TypedDict, total=False):
    """One latent's progress through coder -> sandbox -> vision -> verifier (and loop-backs).

    attempt: 1-based attempt number. span: the traversal range of this attempt ([-span, span]).
    seed: anchor seed of this attempt. values: the K perturbation values. code: the perturbation
    code. traversal: path of traversal.npz; frames / strip: PNG paths relative to run_dir.
    error: why the last step failed (None when it did not). samples: the n explanation samples;
    visible: per sample, whether it saw a change. sample_claims: per sample, its claims
    ({"property", "change"} dicts, tools/certainty/claims.py), when the vision backend gave
    them (absent: the verifier parses the text). pool: the samples of earlier attempts at this
    range that were rejected for disagreeing ({samples, claims, visible}; the verifier pools
    them with the next draw; None after a widening). measurements: the describer's summary.
    pixel_change: mean |first - last frame|. certainty / medoid: agreement of the samples.
    decision: the verifier's verdict. history: one entry per finished attempt. steps: the trace
    events (node, attempt, inputs and outputs) shown by `trace`. latents: the final entry, sent
    to the parent graph. sample_claims: per sample, its claims ({property, change} dicts).
    usage: the LLM requests, tokens and cache hits this latent cost so far (agent/llm/usage.py).
    budget_exhausted: the run's token budget stopped this latent's requests."""

    job: LatentJob
    attempt: int
    span: float
    seed: int
    values: list[float]
    code: str
    traversal: str | None
    frames: list[str]
    strip: str | None
    error: str | None
    samples: list[str]
    sample_claims: list[list[dict]]
    usage: dict
    budget_exhausted: bool
    visible: list[bool]
    sample_claims: list[list[dict]]
    pool: dict | None
    measurements: dict
    pixel_change: float
    certainty: float
    medoid: int
    decision: Decision
    history: list[dict]
    steps: list[dict]
    latents: list[dict]
