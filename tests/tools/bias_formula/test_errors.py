"""Malformed and unsupported formulas: a BiasSyntaxError at the right position, and through the
CLI exit code 2 with the formula quoted, a caret under the position, what was expected and the
supported constructs. Never a traceback."""

from __future__ import annotations

import pytest

from agent.cli import main
from agent.errors import UserError
from tools.bias_formula import SUPPORTED_CONSTRUCTS, BiasSyntaxError, parse_bias

# formula, 0-based position of the problem, a word the "expected ... found ..." line must contain
MALFORMED = [
    ("", 0, "a formula"),
    ("p(z", 3, "')' to close"),
    ("p(z | y=1", 9, "')' to close"),
    ("p(z))", 4, "the end of the formula"),
    ("p() = p(z)", 2, "a variable inside p( )"),
    ("p(z | ) = p(z)", 6, "a variable"),
    ("p(z | y | x)", 8, "one '|' per density"),
    (r"\prod p(z_i)", 6, "'_' and the index"),
    (r"p(z) = \prod_{i=1} p(z_i)", 19, "'^' and the upper bound"),
    (r"p(z) = \prod_i^d p(z_i)", 14, "a lower bound"),
    (r"z_i \perp", 9, "a variable"),
    ("= p(z)", 0, "a variable"),
    ("p(z) = ", 7, "a variable"),
    ("p(z) = p(z) = p(z)", 12, "one relation per statement"),
    (r"\exists i: z_i", 0, "existential quantifiers"),
    (r"\int p(x) dx", 0, "integrals"),
    (r"p(z) \leq 1", 5, "comparisons"),
    ("z < 1", 2, "comparisons"),
    (r"\frac{1}{2}", 0, "fractions"),
    (r"p(z) = \foo(z)", 7, "unknown LaTeX command \\foo"),
    ("p(z) = f(z)", 7, "a density name"),
    (r"\forall : z", 8, "an index after \\forall"),
    ("z_i perp z_j, forall", 20, "an index after \\forall"),
    ("p(z) => q", 0, "a statement"),
    ("p(z) and p(w)", 0, "a statement"),
    ("z^2 = 1", 1, "powers"),
    ("z_{i", 2, "'}' to close"),
    ("z_i}", 3, "an unmatched '}'"),
    (r"\mathbb{E} p(x)", 11, "'[' after \\mathbb{E}"),
    (r"\mathbb{E}[p(x)", 15, "']' to close"),
    ("z in", 4, "a set after \\in"),
    (r"z \in (G)", 6, "a set after \\in"),
    ("z_{1.5}", 3, "a whole-number index"),
    (r"i \in \{1, \dots, 2, d\}", 6, "a range written"),
    ("p(z | y = )", 10, "a variable"),
    ("p(z) = p(z) .", 12, "'.'"),
    ("p(z) ~ N(0, 1)", 5, "distributed as"),
    (r"z \notin G", 2, "'not in'"),
    ("(p(z) = p(w)", 12, "')' to close the '(' at column 1"),
    (r"\mathbf{z", 7, "'}' to close"),
    ("p(z) \\", 5, "a LaTeX command"),
    ("prod_{i=1}^{d}", 14, "the term \\prod ranges over"),
    ("forall i != j", 13, "a variable"),
    ("p_(z)", 2, "an index"),
    ("2 p(z) - - 1", 9, "a term"),
    ("p(z | y) != p(z) |", 17, "the end of the formula"),
    (r"\text{s.t.} z", 6, "a name of letters"),
    ("z_i ⊥ z_j ∨ z_k", 10, "'or'"),
    ("p(z, ) = 1", 5, "a variable"),
    ("(" * 70 + "z" + ")" * 70, 30, "nested at most"),
]


def test_the_error_corpus_is_large() -> None:
    assert len(MALFORMED) >= 30


@pytest.mark.parametrize("formula, position, expected", MALFORMED, ids=[repr(m[0]) for m in MALFORMED])
def test_malformed_formula_raises_a_positioned_error(formula: str, position: int, expected: str) -> None:
    with pytest.raises(BiasSyntaxError) as info:
        parse_bias(formula)
    error = info.value
    assert isinstance(error, UserError) and error.exit_code == 2
    assert (error.formula, error.position) == (formula, position)
    lines = str(error).splitlines()
    assert expected in lines[0]
    assert lines[0].startswith(f"cannot read the bias formula (column {position + 1}): expected ")
    assert lines[1] == "    " + formula
    assert lines[2] == "    " + " " * position + "^"
    assert "\n".join(lines[3:]) == SUPPORTED_CONSTRUCTS


@pytest.mark.parametrize("formula, position, expected", MALFORMED, ids=[repr(m[0]) for m in MALFORMED])
def test_malformed_formula_exits_2_through_the_cli(formula: str, position: int, expected: str, capsys) -> None:
    assert main(["bias", "check", "--", formula]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    lines = captured.err.splitlines()
    assert lines[0].startswith("latent-explainer: error: cannot read the bias formula")
    assert expected in lines[0]
    assert lines[1] == "    " + formula
    assert lines[2] == "    " + " " * position + "^"
    assert "supported constructs" in lines[3]


def test_newlines_in_a_formula_keep_the_caret_under_the_right_character() -> None:
    with pytest.raises(BiasSyntaxError) as info:
        parse_bias("p(z) =\n\tf(z)")
    lines = str(info.value).splitlines()
    assert lines[1] == "    p(z) =  f(z)"
    assert lines[2] == "    " + " " * 8 + "^"
