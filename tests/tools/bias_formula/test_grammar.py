"""The symbol-to-word grammar is data (prompts/grammar.json); a user's --grammar file adds or
overrides entries, and a bad file is a clear UserError."""

from __future__ import annotations

import json

import pytest

from agent.errors import UserError
from prompts import template_fields
from tools.bias_formula import DEFAULT_FORMULAS, load_grammar, parse_bias


def write(tmp_path, data) -> str:
    path = tmp_path / "grammar.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def test_builtin_grammar_holds_the_papers_elements() -> None:
    grammar = load_grammar()
    assert grammar.constructs["other_variations"] == "the other variations"
    assert "associated with" in grammar.constructs["member"]
    assert set(grammar.paper) == {"other_variations", "member"}
    assert grammar.role("y") == "attribute" and grammar.role("t") == "prompt" and grammar.role("z") == "latent"


def test_user_file_overrides_a_construct(tmp_path) -> None:
    path = write(tmp_path, {"constructs": {"other_variations": "every other factor"}})
    spec = parse_bias("p(z_i | z_i') = p(z_i), for all i != i'", grammar_path=path)
    assert "given every other factor equals" in spec.prompt
    assert "given the other variations" not in spec.prompt
    assert "given the other variations" in parse_bias("p(z_i | z_i') = p(z_i), for all i != i'").prompt


def test_user_file_adds_a_generic_attribute_symbol(tmp_path) -> None:
    path = write(tmp_path, {"symbols": {"s": {"role": "attribute", "words": "the smile {name}"}}})
    spec = parse_bias("p(w | s=1) != p(w | s=0)", grammar_path=path)
    assert spec.kind == "conditional"
    assert spec.condition_details == [{"variable": "s", "role": "attribute", "generic": True, "values": [1, 0]}]
    assert "depends on the smile s" in spec.prompt
    without = parse_bias("p(w | s=1) != p(w | s=0)")
    assert without.condition_details[0]["generic"] is False  # an unlisted name is one attribute by name
    assert "depends on the property s" in without.prompt


def test_user_file_can_declare_a_prompt_variable(tmp_path) -> None:
    path = write(tmp_path, {"symbols": {"u": {"role": "prompt", "words": "the caption {name}"}}})
    spec = parse_bias("p(z | u)", grammar_path=path)
    assert spec.condition_details[0]["role"] == "prompt"
    assert "while the model is conditioned on the caption u" in spec.prompt


def test_a_symbol_may_be_given_as_a_phrase(tmp_path) -> None:
    path = write(tmp_path, {"symbols": {"z": "the codes {name}"}})
    spec = parse_bias(DEFAULT_FORMULAS["disentanglement"], grammar_path=path)
    assert "the distribution of the codes z equals" in spec.prompt
    assert spec.kind == "disentanglement"


@pytest.mark.parametrize("data, message", [
    ({"sybmols": {}}, "unknown sections ['sybmols']"),
    ({"constructs": {"nonsense": "x"}}, "unknown construct 'nonsense'"),
    ({"constructs": {"equals": "{left} is {middle}"}}, "unknown placeholders ['middle']"),
    ({"constructs": {"equals": "{left"}}, "is not a valid phrase"),
    ({"constructs": {"equals": 3}}, "must be a string"),
    ({"symbols": {"s": {"role": "colour"}}}, "has role 'colour'; allowed: latent, data, attribute"),
    ({"symbols": {"s": {"wrds": "x"}}}, "unknown keys ['wrds']"),
    ({"symbols": {"s": {"words": "{title}"}}}, "unknown placeholders ['title']"),
    ({"symbols": {"s": 5}}, "must be a phrase or an object"),
    ("[1, 2]", "must hold a JSON object"),
    ('{"symbols": {', "is not valid JSON"),
])
def test_bad_grammar_file_is_a_user_error(tmp_path, data, message: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(UserError) as info:
        load_grammar(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_grammar_file_is_a_user_error(tmp_path) -> None:
    with pytest.raises(UserError, match="cannot read grammar file"):
        load_grammar(tmp_path / "absent.json")


def test_every_construct_the_reader_uses_exists_with_its_placeholders() -> None:
    constructs = load_grammar().constructs
    for name, fields in {
        "density": {"variables"}, "conditional_density": {"variables", "given"}, "for_all": {"body", "bindings"},
        "product_bounded": {"index", "lower", "upper", "body"}, "implies": {"premise", "conclusion"},
        "traverse_group": {"group"}, "under_conditions": {"conditions"},
    }.items():
        assert template_fields(constructs[name]) == fields, name
