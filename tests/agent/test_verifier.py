"""The verifier's gating and loop-back decisions, on hand-made states (no model needed)."""

import pytest
from langgraph.runtime import Runtime

from agent.nodes.verifier import route_after_verifier
from agent.settings import Settings

AGREE = ["The object moves from left to right."] * 4
DISAGREE = ["The object moves from left to right.", "The image gets darker.", "The heart turns into a square.",
            "The object rotates."]


def _state(samples, pixel_change=0.1, attempt=1, error=None, **settings):
    job = {"plan": {"id": "z0", "indices": [0], "values": [-3.0, 0.0, 3.0], "kind": "disentanglement", "mode": "absolute",
                    "condition": None},
           "max_span": Settings(**{"frames": 3, **settings}).max_range}
    return {"job": job, "attempt": attempt, "span": 3.0, "seed": 0, "values": [-3.0, 0.0, 3.0], "samples": samples,
            "visible": [s != "No clear change." for s in samples], "pixel_change": pixel_change, "error": error,
            "frames": ["f0.png"], "strip": "s.png", "measurements": {}, "steps": [],
            "_settings": Settings(**{"frames": 3, "threshold": 0.8, **settings})}


def verify_explanations(state):
    """The node with the state's settings as its run context (as the graph passes them)."""
    from agent.nodes.verifier import verify_explanations as node

    settings = state.pop("_settings")
    return node(state, Runtime(context=settings))


def test_agreeing_samples_are_accepted_with_the_medoid():
    update = verify_explanations(_state(AGREE))
    assert update["decision"] == "accept" and route_after_verifier(update) == "score_fidelity"
    entry = update["latents"][0]
    assert entry["status"] == "explained" and entry["explanation"] == AGREE[0] and entry["certainty"] > 0.99


def test_disagreeing_samples_loop_back_with_new_anchors_then_give_up():
    update = verify_explanations(_state(DISAGREE))
    assert update["decision"] == "new_anchors" and update["seed"] == 1 and update["attempt"] == 2
    assert route_after_verifier(update) == "write_perturbation_code"
    final = verify_explanations(_state(DISAGREE, attempt=3))
    assert final["decision"] == "unclear"
    assert final["latents"][0]["explanation"] is None and final["latents"][0]["status"] == "unclear"


def test_still_frames_widen_the_range():
    update = verify_explanations(_state(["No clear change."] * 4, pixel_change=0.001))
    assert update["decision"] == "widen" and update["span"] == 6.0 and update["values"] == [-6.0, 0.0, 6.0]
    final = verify_explanations(_state(["No clear change."] * 4, pixel_change=0.001, attempt=3))
    assert final["latents"][0]["status"] == "unclear" and final["latents"][0]["certainty"] == 0.0


def test_a_conditional_move_widens_on_its_own_side():
    state = _state(["No clear change."] * 4, pixel_change=0.001) | {"span": 4.0, "values": [0.0, 2.0, 4.0]}
    update = verify_explanations(state)
    assert update["span"] == 6.0 and update["values"] == [0.0, 3.0, 6.0]


def test_the_loop_limit_is_the_setting():
    final = verify_explanations(_state(DISAGREE, attempt=1, max_attempts=1))
    assert final["decision"] == "unclear"


def test_a_failed_sandbox_step_fails_the_latent():
    final = verify_explanations(_state([], error="CellTimeout: cell ran past 1 s"))
    entry = final["latents"][0]
    assert entry["status"] == "failed" and "CellTimeout" in entry["error"]


def _shipped(samples, **extra):
    """A state at the shipped settings: the calibrated threshold for the default measure."""
    state = _state(samples)
    state["_settings"] = Settings.resolve({"frames": 3}, env={})
    return state | extra


def test_opposite_directions_are_rejected_at_the_shipped_settings():
    samples = ["The square drifts to the right."] * 3 + ["The square drifts to the left."] * 2
    update = verify_explanations(_shipped(samples, attempt=3))
    entry = update["latents"][0]
    assert entry["status"] == "unclear" and entry["certainty"] == 0.6
    assert entry["groups"] == [[0, 1, 2], [3, 4]] and entry["certainty_measure"] == "semantic-groups/claims"
    assert entry["sample_claims"][3] == [{"property": "position_x", "change": "right_to_left"}]


def test_paraphrases_are_accepted_at_the_shipped_settings_with_the_representative():
    samples = ["Higher values push the object toward the right edge.", "The item slides rightward across the canvas.",
               "Left-to-right placement of the figure.", "The sprite travels to the right and grows.",
               "The shape shifts horizontally, ending up on the right side."]
    entry = verify_explanations(_shipped(samples))["latents"][0]
    assert entry["status"] == "explained" and entry["certainty"] == 1.0 and entry["explanation"] == samples[0]


def test_given_claims_win_over_the_text_and_cosine_stays_available():
    claims = [[{"property": "size", "change": "bigger"}]] * 4
    update = verify_explanations(_state(AGREE) | {"sample_claims": claims})
    assert update["latents"][0]["sample_claims"] == claims and update["latents"][0]["status"] == "explained"
    cosine = verify_explanations(_state(DISAGREE, attempt=3, certainty_measure="cosine", threshold=0.99))
    assert cosine["latents"][0]["certainty_measure"].startswith("cosine") and cosine["decision"] == "unclear"


def test_a_new_draw_is_judged_with_the_draws_before_it():
    """A disagreeing first draw stays in the pool: a lucky unanimous second draw of 4 (8 of 8
    would pass) cannot outweigh it at threshold 0.8 (5 of 8 agree)."""
    first = verify_explanations(_state(DISAGREE))
    assert first["decision"] == "new_anchors" and first["pool"]["samples"] == DISAGREE
    second = _state(AGREE, attempt=2) | {"pool": first["pool"]}
    update = verify_explanations(second)
    assert update["decision"] == "new_anchors" and update["certainty"] == pytest.approx(5 / 8)
    assert len(update["pool"]["samples"]) == 8
    widened = verify_explanations(_state(["No clear change."] * 4, pixel_change=0.001) | {"pool": first["pool"]})
    assert widened["decision"] == "widen" and widened["pool"] is None
