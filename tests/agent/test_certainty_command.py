"""`latent-explainer certainty SAMPLE ...`: the gate's verdict, groups and threshold."""

import json

from agent.cli import main
from agent.settings import Settings

RIGHT, LEFT = "The square drifts to the right.", "The square drifts to the left."


def test_contradictory_samples_are_rejected_with_their_groups(capsys, monkeypatch):
    monkeypatch.delenv("LATENT_EXPLAINER_THRESHOLD", raising=False)
    assert main(["certainty", "--json", RIGHT, RIGHT, RIGHT, LEFT, LEFT]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert set(verdict) == {"certainty", "threshold", "decision", "groups", "measure"}
    assert verdict["certainty"] == 0.6 and verdict["groups"] == [[0, 1, 2], [3, 4]]
    assert verdict["decision"] == "reject" and verdict["measure"] == "semantic-groups/claims"
    assert verdict["threshold"] == Settings.resolve(env={}).threshold


def test_paraphrases_are_accepted_and_the_text_shows_claims(capsys):
    samples = ["Higher values push the object toward the right edge.", "The item slides rightward across the canvas.",
               "Left-to-right placement of the figure."]
    assert main(["certainty", *samples]) == 0
    out = capsys.readouterr().out
    assert "decision   accept" in out and "group 1    samples 0, 1, 2" in out
    assert "position_x: left_to_right" in out


def test_the_cosine_measure_and_a_given_threshold(capsys):
    assert main(["certainty", "--json", "--measure", "cosine", "--threshold", "0.99", RIGHT, LEFT]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["measure"].startswith("cosine") and verdict["threshold"] == 0.99 and verdict["decision"] == "reject"


def test_a_bad_threshold_is_one_line(capsys):
    assert main(["certainty", "--threshold", "2", RIGHT]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "threshold" in err
