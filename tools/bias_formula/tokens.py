"""Tokenizer of bias formulas: LaTeX, plain text and Unicode spellings become one token stream.

Every token keeps its character span in the formula, so errors can point at it. Spacing and
sizing commands (\\, \\; \\quad \\left \\right \\big ...) and style wrappers (\\mathbf{z},
\\boldsymbol{z}, \\bm, \\vec, \\mathcal, \\mathit) carry no meaning and are dropped. A run of
letters is one name (plain `theta` and LaTeX `\\theta` are the same name); `E` is the expectation
when a `[` or `_` follows it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from tools.bias_formula.errors import BiasSyntaxError

GREEK = frozenset(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi pi "
    "varpi rho varrho sigma varsigma tau upsilon phi varphi chi psi omega "
    "Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split()
)

# LaTeX commands with a meaning of their own.
_COMMANDS = {
    "prod": "PROD", "sum": "SUM", "forall": "FORALL", "in": "IN",
    "neq": "NEQ", "ne": "NEQ", "perp": "PERP", "bot": "PERP", "indep": "PERP", "Perp": "PERP",
    "Rightarrow": "IMPLIES", "implies": "IMPLIES", "Longrightarrow": "IMPLIES",
    "land": "AND", "wedge": "AND", "mid": "BAR", "vert": "BAR",
    "cdot": "TIMES", "times": "TIMES", "ast": "TIMES",
    "setminus": "SETMINUS", "backslash": "SETMINUS", "neg": "SETMINUS",
    "dots": "DOTS", "ldots": "DOTS", "cdots": "DOTS", "log": "LOG", "colon": "COLON", "prime": "PRIME",
    "{": "LSET", "}": "RSET", "lbrace": "LSET", "rbrace": "RSET",
}
# Commands that change how things look, not what they mean.
_SPACING = frozenset(
    ", ; : ! quad qquad left right big Big bigg Bigg bigl bigr Bigl Bigr biggl biggr Biggl Biggr "
    "displaystyle textstyle limits nolimits".split()
) | {" "}
_STYLE_WRAPPERS = frozenset("mathbf boldsymbol bm vec mathcal mathit mathsf mathbfit".split())
_TEXT_WRAPPERS = frozenset("text textrm textit mathrm operatorname mathbb".split())
# Commands people write that this grammar does not support, with what they are.
_UNSUPPORTED = {
    "exists": "existential quantifiers", "int": "integrals", "frac": "fractions", "sqrt": "roots",
    "lim": "limits", "max": "max", "min": "min", "arg": "arg", "sim": "'~' (distributed as)",
    "approx": "approximations", "leq": "comparisons", "geq": "comparisons", "le": "comparisons",
    "ge": "comparisons", "lt": "comparisons", "gt": "comparisons", "subset": "subsets",
    "subseteq": "subsets", "cup": "set unions", "cap": "set intersections", "lor": "'or'",
    "vee": "'or'", "Leftrightarrow": "equivalences", "iff": "equivalences", "partial": "derivatives",
    "nabla": "gradients", "infty": "infinity", "notin": "'not in'", "hat": "accents (name it z_hat)",
    "tilde": "accents", "bar": "accents", "exp": "exp", "KL": "KL divergences",
}
# Plain-text and Unicode operators, longest first.
_SYMBOLS = [
    ("_|_", "PERP"), ("!=", "NEQ"), ("=/=", "NEQ"), ("==", "EQ"), ("=>", "IMPLIES"), ("->", "IMPLIES"),
    ("...", "DOTS"), ("=", "EQ"), ("|", "BAR"), (",", "COMMA"), (":", "COLON"), ("(", "LPAREN"),
    (")", "RPAREN"), ("[", "LBRACK"), ("]", "RBRACK"), ("{", "LBRACE"), ("}", "RBRACE"),
    ("_", "UNDERSCORE"), ("^", "CARET"), ("'", "PRIME"), ("+", "PLUS"), ("-", "MINUS"), ("*", "TIMES"),
    ("∏", "PROD"), ("∑", "SUM"), ("∀", "FORALL"), ("∈", "IN"), ("≠", "NEQ"), ("⊥", "PERP"), ("⫫", "PERP"),
    ("⇒", "IMPLIES"), ("→", "IMPLIES"), ("⟹", "IMPLIES"), ("∧", "AND"), ("·", "TIMES"), ("×", "TIMES"),
    ("∖", "SETMINUS"), ("…", "DOTS"), ("𝔼", "EXPECT"), ("∣", "BAR"), ("′", "PRIME"), ("−", "MINUS"),
]
_WORDS = {
    "prod": "PROD", "sum": "SUM", "forall": "FORALL", "in": "IN", "perp": "PERP", "indep": "PERP",
    "and": "AND", "log": "LOG", "implies": "IMPLIES",
}
_TEXT_WORDS = {"for all": "FORALL", "for each": "FORALL", "for every": "FORALL", "forall": "FORALL",
               "and": "AND", "E": "EXPECT", "log": "LOG"}
_PLAIN_UNSUPPORTED = {"<": "comparisons", ">": "comparisons", "/": "division", "~": "'~' (distributed as)",
                      "∃": "existential quantifiers", "∫": "integrals", "∨": "'or'", "∉": "'not in'"}
_COMMAND = re.compile(r"\\([A-Za-z]+|.)")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_LETTERS = re.compile(r"[A-Za-z]+")
_FOR_ALL = re.compile(r"for\s+(all|each|every)\b")


@dataclass(frozen=True)
class Token:
    """kind: e.g. NAME, NUMBER, PROD, EQ, LPAREN, END. value: the name or number text.
    start, end: its character span in the formula."""

    kind: str
    value: str
    start: int
    end: int


def _greek_name(ch: str) -> str | None:
    """'θ' -> 'theta', 'Σ' -> 'Sigma'; None for anything else."""
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return None
    for prefix, capital in (("GREEK SMALL LETTER ", False), ("GREEK CAPITAL LETTER ", True)):
        if name.startswith(prefix):
            word = name[len(prefix):].lower().replace("lamda", "lambda").replace("final sigma", "varsigma")
            word = word.capitalize() if capital else word
            return word if word in GREEK else None
    return None


def _skip_spaces(formula: str, pos: int) -> int:
    while pos < len(formula) and formula[pos].isspace():
        pos += 1
    return pos


class _Tokenizer:
    def __init__(self, formula: str) -> None:
        self.formula = formula
        self.tokens: list[Token] = []
        self.braces: list[tuple[bool, int]] = []  # (dropped wrapper?, position) per open '{'

    def error(self, position: int, expected: str, found: str | None = None) -> BiasSyntaxError:
        return BiasSyntaxError(self.formula, position, expected, found)

    def emit(self, kind: str, value: str, start: int, end: int) -> None:
        if kind == "PERP" and self.tokens and self.tokens[-1].kind == "PERP":  # \perp\!\!\!\perp
            last = self.tokens.pop()
            start = last.start
        self.tokens.append(Token(kind, value, start, end))

    def run(self) -> list[Token]:
        f, pos = self.formula, 0
        while pos < len(f):
            ch = f[pos]
            if ch.isspace():
                pos += 1
            elif ch == "\\":
                pos = self.command(pos)
            elif "0" <= ch <= "9":
                m = _NUMBER.match(f, pos)
                self.emit("NUMBER", m.group(), pos, m.end())
                pos = m.end()
            elif ch.isascii() and ch.isalpha():
                pos = self.word(pos)
            elif ch == "{":
                self.braces.append((False, pos))
                self.emit("LBRACE", ch, pos, pos + 1)
                pos += 1
            elif ch == "}":
                if not self.braces:
                    raise self.error(pos, "a '{' before this '}'", "an unmatched '}'")
                dropped, _ = self.braces.pop()
                if not dropped:
                    self.emit("RBRACE", ch, pos, pos + 1)
                pos += 1
            else:
                pos = self.symbol(pos)
        if self.braces:
            raise self.error(self.braces[-1][1], "a '}' to close this '{'", "the end of the formula")
        self.tokens.append(Token("END", "", len(f), len(f)))
        return self.tokens

    def word(self, pos: int) -> int:
        f = self.formula
        m = _FOR_ALL.match(f, pos)
        if m:
            self.emit("FORALL", m.group(), pos, m.end())
            return m.end()
        m = _LETTERS.match(f, pos)
        word = m.group()
        after = _skip_spaces(f, m.end())
        if word == "E" and after < len(f) and f[after] in "[_":
            self.emit("EXPECT", word, pos, m.end())
        elif word in _WORDS:
            self.emit(_WORDS[word], word, pos, m.end())
        else:
            self.emit("NAME", word, pos, m.end())
        return m.end()

    def symbol(self, pos: int) -> int:
        f = self.formula
        for text, kind in _SYMBOLS:
            if f.startswith(text, pos):
                self.emit(kind, text, pos, pos + len(text))
                return pos + len(text)
        ch = f[pos]
        greek = _greek_name(ch)
        if greek:
            self.emit("NAME", greek, pos, pos + 1)
            return pos + 1
        if ch in _PLAIN_UNSUPPORTED:
            raise self.error(pos, "a supported construct", f"{ch!r} ({_PLAIN_UNSUPPORTED[ch]}: not supported)")
        if ch == ".":
            raise self.error(pos, "a supported construct", "'.' (write '...' or \\dots for a range)")
        raise self.error(pos, "a supported construct", f"the character {ch!r}")

    def command(self, pos: int) -> int:
        f = self.formula
        m = _COMMAND.match(f, pos)
        if not m:
            raise self.error(pos, "a LaTeX command after '\\'", "the end of the formula")
        name, end = m.group(1), m.end()
        if name in _SPACING:
            return end
        if name in _COMMANDS:
            self.emit(_COMMANDS[name], "\\" + name, pos, end)
            return end
        if name in GREEK:
            self.emit("NAME", name, pos, end)
            return end
        if name in _STYLE_WRAPPERS:
            brace = _skip_spaces(f, end)
            if brace < len(f) and f[brace] == "{":
                self.braces.append((True, brace))
                return brace + 1
            return end
        if name in _TEXT_WRAPPERS:
            return self.text(pos, name, end)
        if name in _UNSUPPORTED:
            raise self.error(pos, "a supported construct", f"\\{name} ({_UNSUPPORTED[name]}: not supported)")
        raise self.error(pos, "a supported construct", f"the unknown LaTeX command \\{name}")

    def text(self, pos: int, name: str, end: int) -> int:
        """\\text{for all}, \\mathrm{smiling}, \\mathbb{E}: the braced text is one word."""
        f = self.formula
        brace = _skip_spaces(f, end)
        if brace >= len(f) or f[brace] != "{":
            raise self.error(brace, f"'{{' after \\{name}", "something else")
        close = f.find("}", brace)
        if close < 0:
            raise self.error(brace, f"a '}}' to close \\{name}{{", "the end of the formula")
        content = " ".join(f[brace + 1:close].split())
        if content in _TEXT_WORDS:
            self.emit(_TEXT_WORDS[content], content, pos, close + 1)
        elif re.fullmatch(r"[A-Za-z]+", content) and content not in _WORDS:
            self.emit("NAME", content, pos, close + 1)
        else:
            raise self.error(brace + 1, f"a name of letters inside \\{name}{{...}}", repr(content))
        return close + 1


def tokenize(formula: str) -> list[Token]:
    """The tokens of `formula`, ending with an END token at len(formula).

    Raises BiasSyntaxError at the first character or command the grammar does not know.
    """
    return _Tokenizer(formula).run()
