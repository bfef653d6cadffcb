"""parse_bias: a user's bias formula -> BiasSpec (kind, traversal targets, conditions, prompt)."""

from __future__ import annotations

from pathlib import Path

from sympy import Basic

from tools.bias_formula.compose import compose_prompt
from tools.bias_formula.grammar import load_grammar
from tools.bias_formula.parser import parse_formula
from tools.bias_formula.plans import BiasSpec
from tools.bias_formula.printer import expr_to_text
from tools.bias_formula.structure import analyse


def parse_bias(formula: str, grammar_path: str | Path | None = None) -> BiasSpec:
    """Parse `formula` (LaTeX or plain text) and derive its BiasSpec.

    grammar_path: a JSON file whose symbol-to-word entries are added to / override
    prompts/grammar.json. Raises BiasSyntaxError (exit code 2) for a malformed or unsupported
    formula, UserError for a bad grammar file.
    """
    grammar = load_grammar(grammar_path)
    expr = parse_formula(formula)
    structure = analyse(expr, grammar.roles())
    details = []
    for name in structure.conditions:
        role = grammar.role(name)
        details.append({
            "variable": name,
            "role": "prompt" if role == "prompt" else "attribute",
            "generic": role in ("attribute", "prompt"),
            "values": structure.condition_values.get(name, []),
        })
    return BiasSpec(
        formula=formula,
        kind=structure.kind,
        sympy=str(expr),
        prompt=compose_prompt(expr, structure, grammar),
        varied_groups=[[target["latent"]] for target in structure.targets],
        held="others",
        conditions=list(structure.conditions),
        targets=structure.targets,
        condition_details=details,
        text=expr_to_text(expr),
    )


def to_text(obj: BiasSpec | Basic | str, latex: bool = False) -> str:
    """A formula printed in the grammar's canonical form (plain text, or LaTeX when `latex`); it
    parses back to the same SymPy object. obj: a BiasSpec, a parsed formula, or formula text."""
    if isinstance(obj, BiasSpec):
        obj = obj.formula
    if isinstance(obj, str):
        obj = parse_formula(obj)
    return expr_to_text(obj, latex=latex)
