"""The inductive-bias prompt: the kind's template (prompts/bias_<kind>.txt) filled with the
formula, the formula in words, and what the traversals change."""

from __future__ import annotations

from sympy import Basic

from prompts import render_prompt
from tools.bias_formula.grammar import Grammar
from tools.bias_formula.printer import expr_to_text
from tools.bias_formula.structure import Structure
from tools.bias_formula.words import condition_words, join_words, read_formula, target_words


def compose_prompt(expr: Basic, structure: Structure, grammar: Grammar) -> str:
    """The prompt that tells the vision model what the images of this bias are."""
    formula = expr_to_text(expr)
    reading = read_formula(expr, grammar, set(structure.latents))
    if structure.kind in ("disentanglement", "combination"):
        return render_prompt(f"bias_{structure.kind}.txt", formula=formula, reading=reading).strip()
    conditions = join_words([condition_words(name, grammar) for name in structure.conditions])
    if structure.kind == "conditional":
        varied = join_words(list(dict.fromkeys(target_words(t, grammar) for t in structure.targets)))
        template = "bias_conditional.txt"
        if structure.conditions and grammar.role(structure.conditions[0]) == "prompt":
            template = "bias_conditional_prompt.txt"
        return render_prompt(template, formula=formula, reading=reading, varied=varied, condition=conditions).strip()
    varied = " or ".join(target_words(t, grammar) for t in structure.targets) or "nothing"
    conditioned = grammar.phrase("under_conditions", conditions=conditions) if conditions else ""
    return render_prompt("bias_custom.txt", formula=formula, reading=reading, varied=varied,
                         conditioned=conditioned).strip()

