import pytest

from agent.errors import UserError
from agent.settings import Settings


def test_defaults_environment_then_flags():
    env = {"LATENT_EXPLAINER_N_SAMPLES": "7", "LATENT_EXPLAINER_THRESHOLD": "0.5"}
    settings = Settings.resolve({"threshold": 0.9, "frames": None}, env=env)
    assert settings.n_samples == 7 and settings.threshold == 0.9 and settings.frames == Settings().frames


@pytest.mark.parametrize("bad", [{"n_samples": 1}, {"threshold": 2.0}, {"sandbox": "none"}, {"max_attempts": 0}])
def test_bad_values_are_user_errors(bad):
    with pytest.raises(UserError):
        Settings(**bad)


def test_bad_environment_value_names_the_variable():
    with pytest.raises(UserError, match="LATENT_EXPLAINER_FRAMES"):
        Settings.resolve(env={"LATENT_EXPLAINER_FRAMES": "many"})


def test_calibrated_threshold_is_used_unless_one_is_given(tmp_path, monkeypatch):
    from tools.calibration import save_calibration
    from tools.similarity import SIMILARITY_MEASURE

    path = save_calibration(tmp_path / "cal.json", 0.42, SIMILARITY_MEASURE, "offline-analytic", "max-jaccard", {})
    monkeypatch.setenv("LATENT_EXPLAINER_CALIBRATION", str(path))
    calibrated = Settings.resolve(env={}).with_calibrated_threshold()
    assert calibrated.threshold == 0.42 and str(path) in calibrated.threshold_source
    given = Settings.resolve({"threshold": 0.9}, env={}).with_calibrated_threshold()
    assert given.threshold == 0.9 and given.threshold_source == "given"
    other_backend = Settings.resolve({"llm": "openai:m"}, env={}).with_calibrated_threshold()
    assert other_backend.threshold_source == "default"  # a threshold belongs to its backend
