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
