"""The traversal helpers an LLM coder may call, described from the code itself.

The catalogue is built with `inspect` from tools.traversal.perturbation's `__all__`: each helper's
signature (annotations evaluated, so `torch.Tensor` rather than a quoted string) and its
docstring. Nothing is copied by hand, so what the coder is told cannot drift from what runs.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable
from functools import cache
from types import ModuleType

HELPER_MODULE = "tools.traversal.perturbation"
"""The module whose public functions generated perturbation code imports."""


def describe_helper(name: str, function: Callable) -> str:
    """`name(signature)` on one line, then the docstring indented by four spaces.

    Annotations are evaluated where they can be; a helper whose annotations cannot be evaluated
    is shown with them as written."""
    try:
        signature = inspect.signature(function, eval_str=True)
    except (NameError, TypeError, SyntaxError):
        signature = inspect.signature(function)
    doc = inspect.getdoc(function) or "(no docstring)"
    return f"{name}{signature}\n{textwrap.indent(doc, '    ')}"


def module_catalogue(module: ModuleType) -> str:
    """The module's docstring, the import line for its `__all__`, and every public helper
    described by describe_helper, in `__all__` order."""
    names = list(getattr(module, "__all__", []))
    if not names:
        raise ValueError(f"module {module.__name__} has no __all__ naming its public helpers")
    parts = [
        f"Module {module.__name__}:\n{textwrap.indent(inspect.getdoc(module) or '', '    ')}",
        f"from {module.__name__} import {', '.join(names)}",
        *(describe_helper(name, getattr(module, name)) for name in names),
    ]
    return "\n\n".join(parts)


@cache
def helper_catalogue() -> str:
    """The catalogue of tools.traversal.perturbation (imports torch on first call)."""
    import importlib

    return module_catalogue(importlib.import_module(HELPER_MODULE))
