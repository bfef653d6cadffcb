"""Property tests: formulas written from the grammar parse, every spelling of one formula gives the
same SymPy object, and the printed form parses back to it."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.tools.bias_formula.formula_strategies import formulas, render
from tools.bias_formula import parse_bias, parse_formula, to_text

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(formulas(), st.randoms(use_true_random=False))
def test_every_spelling_parses_to_the_same_sympy_object(formula, rng: random.Random) -> None:
    latex, plain, mixed = (render(formula, style, rng) for style in ("latex", "plain", "mixed"))
    expr = parse_formula(latex)
    assert parse_formula(plain) == expr, (latex, plain)
    assert parse_formula(mixed) == expr, (latex, mixed)


@SETTINGS
@given(formulas())
def test_printed_text_parses_back_to_the_same_object(formula) -> None:
    expr = parse_formula(render(formula, "latex"))
    text, latex = to_text(expr), to_text(expr, latex=True)
    assert parse_formula(text) == expr, text
    assert parse_formula(latex) == expr, latex
    assert to_text(text) == text  # the printed form is a fixed point


@settings(max_examples=25, deadline=None)
@given(formulas())
def test_parse_bias_gives_a_kind_and_a_prompt_for_every_grammatical_formula(formula) -> None:
    spec = parse_bias(render(formula, "plain"))
    assert spec.kind in ("disentanglement", "combination", "conditional", "custom")
    assert spec.prompt.startswith(f"Inductive bias of the model: {spec.text}\nIn words: ")
    assert parse_formula(spec.text) == parse_formula(spec.formula)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_text_either_parses_or_raises_a_positioned_error(text: str) -> None:
    from tools.bias_formula import BiasSyntaxError

    try:
        parse_formula(text)
    except BiasSyntaxError as error:
        assert 0 <= error.position <= len(text)
        lines = str(error).splitlines()
        assert lines[2] == "    " + " " * error.position + "^"


def test_a_bracketed_leading_sum_prints_back_to_the_same_object() -> None:
    """Found by the property test above: (a + b) + c printed as a + b + c, which parses flat."""
    expr = parse_formula("p(z) = (p(z) + p(z)) + p(z)")
    text = to_text(expr)
    assert text == "p(z) = (p(z) + p(z)) + p(z)" and parse_formula(text) == expr
    assert parse_formula(to_text(expr, latex=True)) == expr


def test_a_control_character_after_a_backslash_keeps_the_message_on_its_lines() -> None:
    """Found by the property test above: '\\' followed by U+001E (a line boundary for
    str.splitlines) was quoted raw in "found ...", which split the message."""
    from tools.bias_formula import BiasSyntaxError

    with pytest.raises(BiasSyntaxError) as caught:
        parse_formula("\\\x1e")
    lines = str(caught.value).splitlines()
    assert "\\x1e" in lines[0] and lines[2] == "    ^"
