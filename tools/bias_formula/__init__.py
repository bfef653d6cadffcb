"""Inductive-bias formulas: the project's own grammar (LaTeX or plain text), parsed into SymPy
objects, classified by structure, read into words and composed into the inductive-bias prompt.

    spec = parse_bias(r"p(\\mathbf{z}) = \\prod_{i=1}^{d} p(z_i)")   # BiasSpec, kind "disentanglement"
"""

from tools.bias_formula.api import parse_bias, to_text
from tools.bias_formula.defaults import DEFAULT_FORMULAS
from tools.bias_formula.errors import SUPPORTED_CONSTRUCTS, BiasSyntaxError
from tools.bias_formula.grammar import load_grammar
from tools.bias_formula.parser import parse_formula

__all__ = [
    "DEFAULT_FORMULAS",
    "SUPPORTED_CONSTRUCTS",
    "BiasSyntaxError",
    "load_grammar",
    "parse_bias",
    "parse_formula",
    "to_text",
]
