"""The --llm spec, the chat client it builds, and endpoint failures as one-line LLMUnavailable."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage

from agent.errors import UserError
from agent.llm.chat import build_chat_model, endpoint_errors_as_unavailable
from agent.llm_config import (
    LLMConfig,
    LLMUnavailable,
    parse_llm_spec,
)
from tests.openai_server import ErrorReply, OpenAIServer, TextReply, invalid_api_key


@pytest.mark.parametrize("spec", [None, "", "offline"])
def test_offline_specs_give_no_config(spec):
    assert parse_llm_spec(spec, env={"OPENAI_BASE_URL": "http://x/v1"}) is None


def test_openai_spec_without_flags_or_env():
    config = parse_llm_spec("openai:gpt-4o", env={})
    assert config == LLMConfig("openai", "gpt-4o", None, None)
    assert config.timeout_s == 60.0 and config.max_retries == 1
    assert config.endpoint == "https://api.openai.com/v1"


def test_model_names_may_contain_colons():
    assert parse_llm_spec("openai:llava:13b", env={}).model == "llava:13b"


def test_env_fills_base_url_and_key_and_flags_win():
    env = {"OPENAI_BASE_URL": "http://env-host:8000/v1", "OPENAI_API_KEY": "env-key"}
    from_env = parse_llm_spec("openai:m", env=env)
    assert (from_env.base_url, from_env.api_key) == ("http://env-host:8000/v1", "env-key")
    from_flags = parse_llm_spec("openai:m", base_url="http://flag:1/v1", api_key="flag-key", env=env)
    assert (from_flags.base_url, from_flags.api_key) == ("http://flag:1/v1", "flag-key")


def test_empty_env_values_count_as_unset():
    config = parse_llm_spec("openai:m", env={"OPENAI_BASE_URL": "", "OPENAI_API_KEY": ""})
    assert config.base_url is None and config.api_key is None


@pytest.mark.parametrize("spec", ["gpt-4o", "anthropic:claude", "openai:", "OpenAI:gpt-4o", "openai:my model"])
def test_bad_specs_name_the_value_and_the_allowed_forms(spec):
    with pytest.raises(UserError) as caught:
        parse_llm_spec(spec, env={})
    message = str(caught.value)
    assert repr(spec) in message
    assert "openai:MODEL" in message and "offline" in message


def test_bad_base_url_is_a_user_error():
    with pytest.raises(UserError, match="'localhost:8000/v1'.*http://"):
        parse_llm_spec("openai:m", base_url="localhost:8000/v1", env={})


def test_bad_numbers_are_user_errors():
    with pytest.raises(UserError, match="timeout"):
        LLMConfig("openai", "m", None, None, timeout_s=0)
    with pytest.raises(UserError, match="retries"):
        LLMConfig("openai", "m", None, None, max_retries=-1)


def test_api_key_stays_out_of_repr():
    config = parse_llm_spec("openai:m", api_key="sk-secret", env={})
    assert "sk-secret" not in repr(config)


def test_built_client_sends_model_temperature_n_and_placeholder_key():
    with OpenAIServer(TextReply(["hi", "ho"])) as server:
        config = LLMConfig("openai", "served-model", server.base_url, None, timeout_s=5, max_retries=0)
        result = build_chat_model(config, temperature=0.3, n=2).generate([[HumanMessage("hello")]])
        (record,) = [r for r in server.records if r.method == "POST"]

    assert [g.message.content for g in result.generations[0]] == ["hi", "ho"]
    assert record.path == "/v1/chat/completions"
    assert record.headers["authorization"] == "Bearer not-needed"
    assert record.body["model"] == "served-model"
    assert record.body["temperature"] == 0.3 and record.body["n"] == 2
    assert record.body["messages"] == [{"role": "user", "content": "hello"}]


def test_configured_key_is_sent():
    with OpenAIServer(TextReply(["ok"])) as server:
        config = LLMConfig("openai", "m", server.base_url, "sk-local", timeout_s=5, max_retries=0)
        build_chat_model(config).invoke("hello")
        assert server.records[0].headers["authorization"] == "Bearer sk-local"


def invoke_unavailable(config: LLMConfig) -> str:
    """The LLMUnavailable message one invoke() against `config` raises."""
    with pytest.raises(LLMUnavailable) as caught, endpoint_errors_as_unavailable(config):
        build_chat_model(config).invoke("hello")
    message = str(caught.value)
    assert "\n" not in message
    assert config.endpoint in message
    return message


def test_rejected_key_names_the_fix():
    with OpenAIServer(invalid_api_key()) as server:
        message = invoke_unavailable(LLMConfig("openai", "m", server.base_url, "bad", timeout_s=5, max_retries=0))
    assert "HTTP 401" in message and "--llm-api-key or OPENAI_API_KEY" in message


def test_server_error_after_retries_is_unavailable():
    with OpenAIServer(ErrorReply(500, "engine\ncrashed")) as server:
        message = invoke_unavailable(LLMConfig("openai", "m", server.base_url, None, timeout_s=5, max_retries=1))
        assert len(server.requests) == 2  # the first try and one retry
    assert "HTTP 500" in message and "engine crashed" in message


def test_slow_server_times_out_with_the_timeout_named():
    with OpenAIServer(TextReply(["late"], delay_s=5.0)) as server:
        message = invoke_unavailable(LLMConfig("openai", "m", server.base_url, None, timeout_s=0.3, max_retries=0))
    assert "did not answer within 0.3 s" in message


def test_other_exceptions_pass_through():
    config = LLMConfig("openai", "m", None, None)
    with pytest.raises(KeyError), endpoint_errors_as_unavailable(config):
        raise KeyError("not an endpoint failure")


def test_each_role_takes_its_own_model_else_llm():
    from agent.llm_config import role_config
    from agent.settings import Settings

    settings = Settings(llm="openai:big", vision_llm="openai:llava", coder_llm="template", llm_timeout_s=7.0)
    assert role_config(settings, "vision").model == "llava" and role_config(settings, "vision").timeout_s == 7.0
    assert role_config(settings, "coder") is None  # the code template
    assert role_config(settings, "router").model == "big"
    assert role_config(Settings(vision_llm="openai:v"), "coder") is None  # offline unless asked
    assert Settings(llm="openai:big", vision_llm="offline").vision_backend == "offline-analytic"


def test_a_bad_role_spec_names_its_flag():
    from agent.llm_config import check_role_specs
    from agent.settings import Settings

    with pytest.raises(UserError, match=r"--coder-llm 'gpt4'.*'template'"):
        check_role_specs(Settings(llm="openai:big", coder_llm="gpt4"))


def test_boolean_settings_read_the_environment_and_flags():
    import argparse

    from agent.settings import Settings, add_arguments, from_arguments

    assert Settings.resolve(env={"LATENT_EXPLAINER_NO_CACHE": "1"}).no_cache is True
    with pytest.raises(UserError, match="NO_CACHE"):
        Settings.resolve(env={"LATENT_EXPLAINER_NO_CACHE": "maybe"})
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--no-measurements", "--budget-tokens", "500", "--max-concurrency", "3"])
    settings = from_arguments(args, env={})
    assert settings.no_measurements and not settings.no_cache
    assert settings.budget_tokens == 500 and settings.max_concurrency == 3
