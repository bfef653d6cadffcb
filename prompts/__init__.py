"""Prompt templates as files, and the one function that fills them.

A template is a text file in this folder with `{name}` placeholders (Python str.format syntax;
write `{{` and `}}` for literal braces). `render_prompt` fails on a missing variable and on an
unused one, so a template and its caller cannot drift apart silently.
"""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).parent


class PromptError(ValueError):
    """A template that does not exist, or variables that do not match its placeholders."""


@cache
def load_template(name: str) -> str:
    """The text of prompts/NAME (e.g. "vision_system.txt")."""
    path = PROMPTS_DIR / name
    if not path.is_file():
        raise PromptError(f"no prompt template {name!r} in {PROMPTS_DIR}")
    return path.read_text(encoding="utf-8")


def template_fields(template: str) -> set[str]:
    """The placeholder names of a template."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def render_prompt(name: str, **variables: object) -> str:
    """Fill template NAME with exactly its placeholders; raises PromptError otherwise."""
    template = load_template(name)
    fields = template_fields(template)
    missing = sorted(fields - variables.keys())
    unused = sorted(variables.keys() - fields)
    if missing or unused:
        raise PromptError(f"prompt {name!r}: missing variables {missing}, unused variables {unused}")
    return template.format(**variables)
