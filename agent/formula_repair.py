"""When an LLM is configured, a formula the grammar cannot read may be paraphrased into the
grammar by the LLM. The paraphrase is never used silently: it is shown to the user and used
only on confirmation (or --yes), and it must itself parse."""

from __future__ import annotations

import sys
from collections.abc import Callable

from agent.errors import UserError
from prompts import render_prompt


def paraphrase_formula(formula: str, error: str, llm: str, base_url: str | None) -> str:
    """One request: the LLM's rewrite of `formula` into the grammar (one line)."""
    from agent.llm.chat import build_chat_model, endpoint_errors_as_unavailable
    from agent.llm_config import parse_llm_spec
    from tools.bias_formula import SUPPORTED_CONSTRUCTS

    config = parse_llm_spec(llm, base_url=base_url)
    prompt = render_prompt("formula_repair.txt", formula=formula, error=error, supported=SUPPORTED_CONSTRUCTS)
    with endpoint_errors_as_unavailable(config):
        answer = build_chat_model(config, temperature=0.0).invoke(prompt)
    text = str(answer.content).strip().strip("`").strip()
    return text.splitlines()[0].strip() if text else ""


def confirm_on_terminal(question: str) -> bool:
    """y/N on stdin; refuses (False) when stdin is not a terminal."""
    if not sys.stdin.isatty():
        return False
    return input(question).strip().lower() in ("y", "yes")


def resolve_formula(formula: str, llm: str | None, base_url: str | None, yes: bool,
                    confirm: Callable[[str], bool] = confirm_on_terminal) -> str:
    """The formula to run with: `formula` when it parses; else, with an LLM configured, its
    paraphrase once the user accepts it. Raises the parser's error otherwise."""
    from tools.bias_formula import BiasSyntaxError, parse_bias

    try:
        parse_bias(formula)
        return formula
    except BiasSyntaxError as error:
        if not llm:
            raise
        original = error
    rewrite = paraphrase_formula(formula, str(original), llm, base_url)
    try:
        parse_bias(rewrite)
    except BiasSyntaxError:
        raise UserError(f"{original}\n(the LLM's paraphrase {rewrite!r} does not parse either)") from None
    print(f"The formula {formula!r} is not in the grammar; {llm} suggests:\n    {rewrite}", file=sys.stderr)
    if yes or confirm("Use it? [y/N] "):
        return rewrite
    raise UserError(f"not using the paraphrase {rewrite!r}; pass --yes to accept it, or write the formula in the grammar")
