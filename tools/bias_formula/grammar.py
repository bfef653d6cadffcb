"""The symbol-to-word grammar: prompts/grammar.json, plus the entries of a user's --grammar file.

A user file has the shape of prompts/grammar.json. It may add symbols (a name, or an object with
"role", "words", "component") and override constructs; a construct's phrase may use only the
placeholders of the built-in one. Anything else is a UserError naming the bad entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from prompts import PROMPTS_DIR, template_fields
from tools.errors import UserError

GRAMMAR_PATH = PROMPTS_DIR / "grammar.json"
ROLES = ("latent", "data", "attribute", "prompt", "group", "count")
_SECTIONS = ("about", "symbols", "constructs", "paper")
_SYMBOL_KEYS = ("role", "words", "component")


@dataclass(frozen=True)
class Grammar:
    """symbols: name -> {"role", "words", "component"?}. constructs: construct -> phrase with
    {placeholders}. paper: the constructs that are the paper's own mappings."""

    symbols: dict[str, dict[str, str]]
    constructs: dict[str, str]
    paper: tuple[str, ...] = ()

    def phrase(self, construct: str, **parts: str) -> str:
        """The construct's phrase with its placeholders filled."""
        return self.constructs[construct].format(**parts)

    def role(self, name: str) -> str | None:
        """The role of a symbol name, or None when the grammar does not list it."""
        entry = self.symbols.get(name)
        return entry.get("role") if entry else None

    def roles(self) -> dict[str, str]:
        return {name: entry["role"] for name, entry in self.symbols.items() if entry.get("role")}


def _read(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"cannot read grammar file {str(path)!r}: {error.strerror or error}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"grammar file {str(path)!r} is not valid JSON: {error.msg} "
                        f"(line {error.lineno}, column {error.colno})") from None
    if not isinstance(data, dict):
        raise UserError(f"grammar file {str(path)!r} must hold a JSON object with 'symbols' and/or 'constructs'")
    return data


def _fields(text: str, where: str) -> set[str]:
    try:
        return template_fields(text)
    except ValueError as error:
        raise UserError(f"{where}: {text!r} is not a valid phrase ({error}); write {{{{ and }}}} for braces") from None


def _check_phrase(text: object, allowed: set[str], where: str) -> str:
    if not isinstance(text, str):
        raise UserError(f"{where} must be a string, got {type(text).__name__}")
    unknown = sorted(_fields(text, where) - allowed)
    if unknown:
        raise UserError(f"{where} uses unknown placeholders {unknown}; allowed: {sorted(allowed) or 'none'}")
    return text


def _merge(base: dict, extra: dict, source: str) -> dict:
    """base with the entries of a user file `extra` added or overriding (validated)."""
    unknown = sorted(set(extra) - set(_SECTIONS))
    if unknown:
        raise UserError(f"grammar file {source!r}: unknown sections {unknown}; allowed: symbols, constructs")
    constructs = dict(base["constructs"])
    for key, text in (extra.get("constructs") or {}).items():
        if key not in constructs:
            raise UserError(f"grammar file {source!r}: unknown construct {key!r}; "
                            f"known constructs: {', '.join(sorted(constructs))}")
        constructs[key] = _check_phrase(text, _fields(base["constructs"][key], key),
                                        f"grammar file {source!r}, construct {key!r}")
    symbols = {name: dict(entry) for name, entry in base["symbols"].items()}
    for name, entry in (extra.get("symbols") or {}).items():
        where = f"grammar file {source!r}, symbol {name!r}"
        if isinstance(entry, str):
            entry = {"words": entry}
        if not isinstance(entry, dict):
            raise UserError(f"{where} must be a phrase or an object with {', '.join(_SYMBOL_KEYS)}")
        bad = sorted(set(entry) - set(_SYMBOL_KEYS))
        if bad:
            raise UserError(f"{where} has unknown keys {bad}; allowed: {', '.join(_SYMBOL_KEYS)}")
        if "role" in entry and entry["role"] not in ROLES:
            raise UserError(f"{where} has role {entry['role']!r}; allowed: {', '.join(ROLES)}")
        for key in ("words", "component"):
            if key in entry:
                _check_phrase(entry[key], {"name"}, f"{where}, {key!r}")
        symbols[name] = {**symbols.get(name, {}), **entry}
    return {"symbols": symbols, "constructs": constructs, "paper": base.get("paper", [])}


@cache
def _builtin() -> dict:
    return _read(GRAMMAR_PATH)


def load_grammar(path: str | Path | None = None) -> Grammar:
    """The built-in grammar, with the entries of the user's file `path` (if given) merged in."""
    data = _builtin()
    if path is not None:
        data = _merge(data, _read(Path(path)), str(path))
    return Grammar(
        symbols={name: dict(entry) for name, entry in data["symbols"].items()},
        constructs=dict(data["constructs"]),
        paper=tuple(data.get("paper", ())),
    )
