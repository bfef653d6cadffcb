"""An unsupported formula, with an LLM configured, is paraphrased by the LLM (over real HTTP),
shown, and used only on confirmation."""

import pytest

from agent.errors import UserError
from agent.formula_repair import resolve_formula
from tests.openai_server import OpenAIServer, TextReply
from tools.bias_formula import BiasSyntaxError

UNSUPPORTED = r"p(z) = \int p(z | x) p(x) dx"  # \int is not in the grammar


def test_valid_formula_is_used_as_is():
    assert resolve_formula("p(z) = prod_i p(z_i)", None, None, yes=False) == "p(z) = prod_i p(z_i)"


def test_without_llm_the_parser_error_stands():
    with pytest.raises(BiasSyntaxError):
        resolve_formula(UNSUPPORTED, None, None, yes=False)


def test_paraphrase_is_used_only_when_accepted(capsys):
    with OpenAIServer(TextReply(["p(z) = prod_i p(z_i)"])) as server:
        assert resolve_formula(UNSUPPORTED, "openai:m", server.base_url, yes=True) == "p(z) = prod_i p(z_i)"
        assert "suggests" in capsys.readouterr().err
        with pytest.raises(UserError, match="pass --yes"):
            resolve_formula(UNSUPPORTED, "openai:m", server.base_url, yes=False, confirm=lambda _: False)
        request = server.requests[0]
    prompt = request["messages"][-1]["content"]
    assert UNSUPPORTED in prompt and "supported constructs" in prompt


def test_a_paraphrase_that_does_not_parse_is_refused():
    with OpenAIServer(TextReply([r"\int \int"])) as server:
        with pytest.raises(UserError, match="does not parse either"):
            resolve_formula(UNSUPPORTED, "openai:m", server.base_url, yes=True)
