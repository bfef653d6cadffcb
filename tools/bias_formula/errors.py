"""The error a malformed or unsupported bias formula raises: it quotes the formula, puts a caret
under the position, says what was expected and lists what the grammar supports."""

from __future__ import annotations

from tools.errors import UserError

SUPPORTED_CONSTRUCTS = """\
supported constructs (LaTeX or plain text):
  densities      p(z), p(z_1, z_2), p(z_i | z_{i'}), p(w | y=1), q_{\\phi}(z | x)
  variables      z, \\mathbf{z}, z_i, z_{i'}, z_i', z_{G_k}, z_{-i}, Greek letters, \\text{smiling}
  products, sums \\prod_{i=1}^{d} p(z_i), \\prod_i ..., \\sum_{k \\in G} ...   (plain: prod_i, sum_{i=1}^{d})
  quantifiers    ..., \\forall i \\neq i'   or   \\forall i \\in G: ...          (plain: forall, for all, !=)
  relations      =, \\neq (!=), \\perp or \\perp\\!\\!\\!\\perp (perp, _|_), a \\perp b \\mid c, z \\in G (in)
  statements     A \\Rightarrow B (=>), A \\land B (and, or a comma), parentheses
  expectations   \\mathbb{E}[...], \\mathbb{E}_{q(z|x)}[...]   (plain: E[...], E_{q(z|x)}[...])
  arithmetic     +, -, products (a b, a \\cdot b, a * b), \\log, integers and decimals
  sets           G, G_k, \\{1, \\dots, d\\}, \\{1, 2, 3\\}"""


class BiasSyntaxError(UserError):
    """A formula the bias grammar cannot read.

    formula: the text as given. position: 0-based character offset of the problem (len(formula)
    for "ended too early"). expected: what the grammar expected there, in words.
    """

    exit_code = 2

    def __init__(self, formula: str, position: int, expected: str, found: str | None = None) -> None:
        self.formula = formula
        self.position = max(0, min(position, len(formula)))
        self.expected = expected
        self.found = found
        super().__init__(self._message())

    def _message(self) -> str:
        shown = "".join(ch if ch.isprintable() else " " for ch in self.formula)  # one column per character
        found = f", found {_printable(self.found)}" if self.found else ""
        return (
            f"cannot read the bias formula (column {self.position + 1}): expected {self.expected}{found}\n"
            f"    {shown}\n"
            f"    {' ' * self.position}^\n"
            f"{SUPPORTED_CONSTRUCTS}"
        )


def _printable(text: str) -> str:
    """text with each non-printable character written as its escape (\\x1e), so a message
    stays on its lines."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
