"""The fidelity gate's refusal (min_fidelity), on hand-made states (no model needed)."""

from agent.nodes.fidelity import route_after_fidelity
from agent.nodes.verifier import refuse_explanation
from agent.settings import Settings


def _accepted(attempt):
    entry = {"id": "z0", "status": "explained", "explanation": "The object moves from left to right.",
             "fidelity": None, "history": []}
    return {"attempt": attempt, "span": 3.0, "seed": 4, "certainty": 1.0, "history": [{"decision": "accept"}],
            "steps": [], "latents": [entry], "decision": "accept"}


def test_a_refused_explanation_loops_back_with_new_anchors_while_attempts_remain():
    update = refuse_explanation(_accepted(1), Settings(max_attempts=3), "fidelity: detection 0.2 < 0.5")
    assert update["decision"] == "new_anchors" and update["attempt"] == 2 and update["seed"] == 5
    assert route_after_fidelity(update) == "write_perturbation_code"
    assert update["history"][-1]["reason"].startswith("fidelity") and "latents" not in update


def test_a_refused_explanation_on_the_last_attempt_is_unclear():
    record = {"detection": 0.25, "direction": 0.5}
    update = refuse_explanation(_accepted(3), Settings(max_attempts=3), "fidelity: detection 0.25 < 0.5", fidelity=record)
    assert update["decision"] == "unclear" and route_after_fidelity(update) == "__end__"
    entry = update["latents"][0]
    assert entry["status"] == "unclear" and entry["explanation"] is None and entry["fidelity"] == record
    assert entry["reason"] == "fidelity: detection 0.25 < 0.5"


def test_settings_check_the_fidelity_fields():
    import pytest

    from agent.errors import UserError

    with pytest.raises(UserError, match="min_fidelity must lie in"):
        Settings(min_fidelity=1.5)
    with pytest.raises(UserError, match="min_fidelity needs fidelity_trials"):
        Settings(min_fidelity=0.5, fidelity_trials=0)
