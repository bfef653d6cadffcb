import pytest

from agent.errors import UserError
from agent.settings import DEFAULT_CONDITIONAL_MAX_ALPHA, DEFAULT_TRAVERSAL_RANGE, Settings, with_model_defaults


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
    from tools.certainty.calibration import save_calibration
    from tools.certainty.semantic_groups import SEMANTIC_MEASURE
    from tools.certainty.similarity import SIMILARITY_MEASURE

    path = save_calibration(tmp_path / "cal.json", 0.42, SEMANTIC_MEASURE, "offline-analytic", "max-jaccard", {})
    save_calibration(path, 0.31, SIMILARITY_MEASURE, "offline-analytic", "max-jaccard", {})
    monkeypatch.setenv("LATENT_EXPLAINER_CALIBRATION", str(path))
    calibrated = Settings.resolve(env={})
    assert calibrated.threshold == 0.42 and str(path) in calibrated.threshold_source
    cosine = Settings.resolve({"certainty_measure": "cosine"}, env={})
    assert cosine.threshold == 0.31  # a threshold belongs to its measure
    given = Settings.resolve({"threshold": 0.9}, env={})
    assert given.threshold == 0.9 and given.threshold_source == "given"
    other_backend = Settings.resolve({"llm": "openai:m"}, env={})
    assert other_backend.threshold_source == "default"  # a threshold belongs to its backend


def test_every_field_is_a_flag_and_an_environment_variable():
    import argparse

    from agent.settings import add_arguments, from_arguments, setting_names

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    flags = {option for action in parser._actions for option in action.option_strings}
    for name in setting_names():
        assert "--" + name.replace("_", "-") in flags
    args = parser.parse_args(["--widen-factor", "3", "--range", "2", "--pixel-change-floor", "0.02"])
    settings = from_arguments(args, env={"LATENT_EXPLAINER_TEMPERATURE": "0.5", "LATENT_EXPLAINER_WIDEN_FACTOR": "9"})
    assert (settings.widen_factor, settings.traversal_range, settings.pixel_change_floor, settings.temperature) == \
        (3.0, 2.0, 0.02, 0.5)


def test_unknown_setting_names_the_allowed_ones():
    with pytest.raises(UserError, match="unknown settings \\['colour'\\]; settings are: n_samples, frames"):
        Settings.resolve({"colour": 1}, env={})


def test_model_metadata_sets_the_range_the_user_left_open():
    settings = Settings.resolve({}, env={}).to_dict()
    ddpm = with_model_defaults(settings, {"traversal_range": 1.0})
    assert ddpm["traversal_range"] == 1.0
    assert ddpm["conditional_max_alpha"] == DEFAULT_CONDITIONAL_MAX_ALPHA
    plain = with_model_defaults(settings, {"traversal_range": "wide", "conditional_max_alpha": -1})
    assert plain["traversal_range"] == DEFAULT_TRAVERSAL_RANGE
    assert plain["conditional_max_alpha"] == DEFAULT_CONDITIONAL_MAX_ALPHA


def test_a_given_range_beats_the_model_and_widens_max_range():
    given = Settings.resolve({"traversal_range": 2.5}, env={}).to_dict()
    assert with_model_defaults(given, {"traversal_range": 1.0})["traversal_range"] == 2.5
    wide_model = with_model_defaults(Settings.resolve({}, env={}).to_dict(), {"traversal_range": 8.0})
    assert wide_model["max_range"] == 8.0


def test_a_wider_first_range_raises_the_cap_and_errors_name_the_value():
    assert Settings(traversal_range=8.0).max_range == 8.0
    with pytest.raises(UserError, match=r"^traversal_range must be positive; got traversal_range=-1.0$"):
        Settings(traversal_range=-1.0)
