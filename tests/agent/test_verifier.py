"""The verifier's gating and loop-back decisions, on hand-made states (no model needed)."""

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
    assert update["decision"] == "accept" and route_after_verifier(update) == "__end__"
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
