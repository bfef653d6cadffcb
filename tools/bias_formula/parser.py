"""Recursive-descent parser of bias formulas into SymPy objects.

Grammar (tokens from tools.bias_formula.tokens; LaTeX and plain spellings are the same tokens):

    formula     := statement END
    statement   := FORALL bindings [':' | ','] statement            prefix quantifier
                 | implication { [','] FORALL bindings }            postfix quantifiers
    bindings    := binding { ',' binding }       (a ',' continues the list only before an index)
    binding     := index [ NEQ index | IN set ]
    implication := conjunction [ IMPLIES implication ]
    conjunction := relation { (AND | ',') relation }
    relation    := expr [ (EQ | NEQ) expr | PERP expr [BAR expr] | IN set ]
    expr        := ['-'] term { ('+' | '-') term }
    term        := factor { ['*' | \\cdot] factor }                 implicit products allowed
    factor      := (PROD | SUM) limits term | EXPECT ['_' sub] '[' expr ']' | LOG factor
                 | density | variable | NUMBER | '(' statement ')'
    limits      := '_' index | '_{' index '}' | '_{' index '=' expr '}' '^' bound | '_{' index IN set '}'
    density     := NAME ['_' sub] '(' args ['|' args] ')'           NAME is p, q, P or Q
    args        := arg { ',' arg },  arg := expr [(EQ | NEQ) expr]
    variable    := NAME {PRIME} ['_' sub {PRIME}]                   z, z', z_i, z_{i'}, z_i', z_{G_k}
    sub         := atom | '{' item { ',' item } '}',  item := ['-' | \\setminus] atom
    set         := NAME ['_' sub] | '{' expr ',' DOTS ',' expr '}' | '{' expr { ',' expr } '}'

A prime written after a one-index subscript belongs to the index: z_i' is z_{i'} (the paper's
notation). Numbers in subscripts are latent indices as the outputs number them (z_0 is "z0").
"""

from __future__ import annotations

from collections.abc import Callable

import sympy
from sympy import Basic, Eq, FiniteSet, Implies, Indexed, IndexedBase, Integer, Ne, Product, Rational, Sum, Symbol
from sympy.logic.boolalg import Boolean

from tools.bias_formula.errors import BiasSyntaxError
from tools.bias_formula.objects import (
    AllBut,
    AllIndices,
    Conjunction,
    Density,
    Expectation,
    ForAll,
    Independence,
    IndexRange,
    Membership,
    ProductOver,
    SumOver,
)
from tools.bias_formula.tokens import Token, tokenize

DENSITY_NAMES = frozenset({"p", "q", "P", "Q"})
MAX_LENGTH = 2000
MAX_DEPTH = 60
_RELATIONS = {"EQ", "NEQ", "PERP", "IN"}
_FACTOR_STARTS = {"NAME", "NUMBER", "PROD", "SUM", "EXPECT", "LOG", "LPAREN"}
_DESCRIBE = {
    "END": "the end of the formula", "LPAREN": "'('", "RPAREN": "')'", "LBRACE": "'{'", "RBRACE": "'}'",
    "LBRACK": "'['", "RBRACK": "']'", "COMMA": "','", "BAR": "'|'", "EQ": "'='", "NEQ": "'\\neq'",
    "UNDERSCORE": "'_'", "CARET": "'^'", "COLON": "':'", "IN": "'\\in'", "PERP": "'\\perp'",
}


def _describe(token: Token) -> str:
    if token.kind == "END":
        return "the end of the formula"
    return f"'{token.value}'" if token.value else _DESCRIBE.get(token.kind, token.kind)


def is_statement(node: Basic) -> bool:
    """A statement (Eq, Ne, ⊥, ∈, =>, and, for all), as opposed to an expression. (SymPy's Symbol
    is both a Boolean and an Expr; here it is an expression.)"""
    return isinstance(node, Boolean) and not isinstance(node, sympy.Expr)


def negate(expr: Basic) -> Basic:
    """-expr as written: a negative number, or Mul(-1, expr) left unevaluated."""
    if isinstance(expr, sympy.Number):
        return -expr
    return sympy.Mul(Integer(-1), expr, evaluate=False)


class _Parser:
    def __init__(self, formula: str) -> None:
        self.formula = formula
        self.tokens = tokenize(formula)
        self.pos = 0
        self.depth = 0

    # -- token helpers ---------------------------------------------------------------------------
    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def next(self) -> Token:
        token = self.peek()
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return token

    def accept(self, *kinds: str) -> Token | None:
        return self.next() if self.peek().kind in kinds else None

    def error(self, expected: str, token: Token | None = None) -> BiasSyntaxError:
        token = token or self.peek()
        return BiasSyntaxError(self.formula, token.start, expected, _describe(token))

    def expect(self, kind: str, expected: str) -> Token:
        if self.peek().kind != kind:
            raise self.error(expected)
        return self.next()

    def build(self, token: Token, make: Callable[[], Basic]) -> Basic:
        """Construct a SymPy object; SymPy refusing it is the formula's fault, reported at `token`."""
        try:
            return make()
        except (TypeError, ValueError, sympy.SympifyError) as error:
            raise BiasSyntaxError(self.formula, token.start, "a combination SymPy can represent",
                                  f"one it refuses ({error})") from None

    def require_expression(self, node: Basic, token: Token) -> Basic:
        if is_statement(node):
            raise BiasSyntaxError(self.formula, token.start, "an expression (a variable, a density, a product...)",
                                  "a statement")
        return node

    def require_statement(self, node: Basic, token: Token) -> Basic:
        if not is_statement(node):
            raise BiasSyntaxError(self.formula, token.start,
                                  "a statement (a = b, a \\neq b, a \\perp b, z \\in G) on each side",
                                  "an expression")
        return node

    # -- statements ------------------------------------------------------------------------------
    def parse(self) -> Basic:
        if len(self.formula) > MAX_LENGTH:
            raise BiasSyntaxError(self.formula, MAX_LENGTH, f"a formula of at most {MAX_LENGTH} characters")
        if self.peek().kind == "END":
            raise self.error("a formula such as p(z) = \\prod_i p(z_i)")
        node = self.statement()
        if self.peek().kind in _RELATIONS:
            raise self.error("one relation per statement (chains such as a = b = c are not supported)")
        if self.peek().kind != "END":
            raise self.error("the end of the formula, an operator (=, \\neq, \\perp, \\in, \\Rightarrow) or ','")
        return node

    def statement(self) -> Basic:
        return self.nested(self._statement)

    def _statement(self) -> Basic:
        start = self.peek()
        if self.accept("FORALL"):
            bindings = self.bindings()
            self.accept("COLON", "COMMA")
            body = self.statement()
            node = self.build(start, lambda: ForAll(bindings, body))
        else:
            node = self.implication()
            while True:
                if self.peek().kind == "COMMA" and self.peek(1).kind == "FORALL":
                    self.next()
                elif self.peek().kind != "FORALL":
                    break
                token = self.next()
                bindings = self.bindings()
                node = self.build(token, lambda b=bindings, n=node: ForAll(b, n))
        return node

    def starts_binding(self, offset: int) -> bool:
        if self.peek(offset).kind != "NAME":
            return False
        offset += 1
        while self.peek(offset).kind == "PRIME":
            offset += 1
        return self.peek(offset).kind in {"COMMA", "COLON", "NEQ", "IN", "END", "RPAREN"}

    def bindings(self) -> list[Basic]:
        if not self.starts_binding(0):
            raise self.error("an index after \\forall (\\forall i, \\forall i \\neq i', \\forall i \\in G)")
        items = [self.binding()]
        while self.peek().kind == "COMMA" and self.starts_binding(1):
            self.next()
            items.append(self.binding())
        return items

    def binding(self) -> Basic:
        token = self.peek()
        index = self.index_symbol()
        if self.accept("NEQ"):
            other = self.index_symbol()
            return self.build(token, lambda: Ne(index, other, evaluate=False))
        if self.accept("IN"):
            group = self.set_expr()
            return self.build(token, lambda: Membership(index, group))
        return index

    def index_symbol(self) -> Symbol:
        token = self.expect("NAME", "an index name (i, j, k, i')")
        name = token.value + self.primes()
        return Symbol(name)

    def primes(self) -> str:
        """Primes written as ', \\prime, ^\\prime or ^{\\prime}."""
        marks = ""
        while True:
            if self.accept("PRIME"):
                marks += "'"
            elif self.peek().kind == "CARET" and self.peek(1).kind == "PRIME":
                self.next()
                while self.accept("PRIME"):
                    marks += "'"
            elif self.peek().kind == "CARET" and self.peek(1).kind == "LBRACE" and self.peek(2).kind == "PRIME":
                self.next()
                self.next()
                while self.accept("PRIME"):
                    marks += "'"
                self.expect("RBRACE", "'}' after the primes")
            else:
                return marks

    def implication(self) -> Basic:
        start = self.peek()
        left = self.conjunction()
        arrow = self.accept("IMPLIES")
        if not arrow:
            return left
        self.require_statement(left, start)
        right_start = self.peek()
        right = self.require_statement(self.implication(), right_start)
        return self.build(arrow, lambda: Implies(left, right, evaluate=False))

    def conjunction(self) -> Basic:
        start = self.peek()
        parts = [(start, self.relation())]
        while self.peek().kind == "AND" or (self.peek().kind == "COMMA" and self.peek(1).kind != "FORALL"):
            self.next()
            token = self.peek()
            parts.append((token, self.relation()))
        if len(parts) == 1:
            return parts[0][1]
        for token, part in parts:
            self.require_statement(part, token)
        return self.build(start, lambda: Conjunction(*(part for _, part in parts)))

    def relation(self) -> Basic:
        start = self.peek()
        left = self.expr()
        op = self.accept("EQ", "NEQ", "PERP", "IN")
        if not op:
            return left
        self.require_expression(left, start)
        if op.kind == "IN":
            group = self.set_expr()
            return self.build(op, lambda: Membership(left, group))
        right_start = self.peek()
        right = self.require_expression(self.expr(), right_start)
        if op.kind == "EQ":
            return self.build(op, lambda: Eq(left, right, evaluate=False))
        if op.kind == "NEQ":
            return self.build(op, lambda: Ne(left, right, evaluate=False))
        given: tuple[Basic, ...] = ()
        if self.accept("BAR"):
            given_start = self.peek()
            given = (self.require_expression(self.expr(), given_start),)
        return self.build(op, lambda: Independence(left, right, given))

    # -- expressions -----------------------------------------------------------------------------
    def expr(self) -> Basic:
        start = self.peek()
        if self.accept("MINUS"):
            terms = [negate(self.require_expression(self.term(), start))]
        else:
            terms = [self.term()]
        while self.peek().kind in ("PLUS", "MINUS"):
            self.require_expression(terms[0], start)
            op = self.next()
            token = self.peek()
            term = self.require_expression(self.term(), token)
            terms.append(negate(term) if op.kind == "MINUS" else term)
        if len(terms) == 1:
            return terms[0]
        return self.build(start, lambda: sympy.Add(*terms, evaluate=False))

    def term(self) -> Basic:
        start = self.peek()
        factors = [self.factor()]
        while True:
            if self.accept("TIMES"):
                pass
            elif self.peek().kind not in _FACTOR_STARTS:
                break
            token = self.peek()
            factors.append(self.require_expression(self.factor(), token))
        if len(factors) == 1:
            return factors[0]
        self.require_expression(factors[0], start)
        return self.build(start, lambda: sympy.Mul(*factors, evaluate=False))

    def nested(self, parse: Callable[[], object]) -> object:
        """Run `parse` one nesting level deeper; refuses formulas nested past MAX_DEPTH."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"a formula nested at most {MAX_DEPTH} levels deep")
        try:
            return parse()
        finally:
            self.depth -= 1

    def factor(self) -> Basic:
        return self.nested(self._factor)

    def _factor(self) -> Basic:
        token = self.peek()
        kind = token.kind
        if kind in ("PROD", "SUM"):
            return self.big_operator()
        if kind == "EXPECT":
            return self.expectation()
        if kind == "LOG":
            self.next()
            arg_start = self.peek()
            arg = self.require_expression(self.factor(), arg_start)
            return self.build(token, lambda: sympy.log(arg, evaluate=False))
        if kind == "LPAREN":
            self.next()
            inner = self.statement()
            self.expect("RPAREN", f"')' to close the '(' at column {token.start + 1}")
            return inner
        if kind == "NUMBER":
            self.next()
            return Rational(token.value) if "." in token.value else Integer(token.value)
        if kind == "NAME":
            after = self.peek(1)
            if token.value in DENSITY_NAMES and (after.kind in ("LPAREN", "UNDERSCORE")) and self.is_call():
                return self.density()
            if after.kind == "LPAREN" and after.start == token.end:
                raise self.error("a density name (p, q) before '('; other functions are not supported")
            return self.variable()
        if kind == "MINUS":
            raise self.error("a term; write a leading minus only at the start of a sum, or use parentheses")
        if kind == "CARET":
            raise self.error("a term ('^' is only for the upper bound of \\prod and \\sum; powers are not supported)")
        raise self.error("a variable, a density p(...), \\prod, \\sum, \\mathbb{E}, \\log, a number or '('")

    def is_call(self) -> bool:
        """Whether the NAME at the cursor, with an optional subscript, is followed by '('."""
        offset = 1
        if self.peek(offset).kind == "UNDERSCORE":
            offset += 1
            if self.peek(offset).kind == "LBRACE":
                depth = 0
                while self.peek(offset).kind != "END":
                    depth += {"LBRACE": 1, "RBRACE": -1}.get(self.peek(offset).kind, 0)
                    offset += 1
                    if depth == 0:
                        break
            else:
                offset += 1
        return self.peek(offset).kind == "LPAREN"

    def density(self) -> Basic:
        token = self.next()
        name: Basic = Symbol(token.value)
        if self.peek().kind == "UNDERSCORE":
            self.next()
            indices = self.subscript()
            name = self.build(token, lambda: Indexed(IndexedBase(token.value), *indices))
        opening = self.expect("LPAREN", "'(' after the density name")
        if self.peek().kind in ("RPAREN", "BAR"):
            raise self.error(f"a variable inside {token.value}( )")
        variables = self.arguments()
        given: list[Basic] = []
        if self.accept("BAR"):
            given = self.arguments()
        close = f"')' to close the '(' of {token.value}( at column {opening.start + 1}"
        if self.peek().kind == "BAR":
            raise self.error(f"{close} (one '|' per density)")
        self.expect("RPAREN", close + ", or ',' between variables")
        return self.build(token, lambda: Density(name, variables, given))

    def arguments(self) -> list[Basic]:
        items = [self.argument()]
        while self.accept("COMMA"):
            items.append(self.argument())
        return items

    def argument(self) -> Basic:
        start = self.peek()
        left = self.require_expression(self.expr(), start)
        op = self.accept("EQ", "NEQ")
        if not op:
            return left
        right_start = self.peek()
        right = self.require_expression(self.expr(), right_start)
        relation = Eq if op.kind == "EQ" else Ne
        return self.build(op, lambda: relation(left, right, evaluate=False))

    def variable(self) -> Basic:
        node = self._variable()
        if self.peek().kind == "CARET":
            raise self.error("no '^' here: powers and superscripts are not supported (only \\prod / \\sum bounds)")
        return node

    def _variable(self) -> Basic:
        token = self.next()
        name = token.value + self.primes()
        if self.peek().kind != "UNDERSCORE":
            return Symbol(name)
        self.next()
        indices = self.subscript()
        marks = self.primes()
        if marks:
            if len(indices) != 1 or not isinstance(indices[0], Symbol):
                raise BiasSyntaxError(self.formula, token.start, "a prime after a single index name (z_i')",
                                      "a prime after a subscript that is not one index")
            indices = [Symbol(indices[0].name + marks)]
        return self.build(token, lambda: Indexed(IndexedBase(name), *indices))

    def subscript(self) -> list[Basic]:
        """After '_': one atom, or '{' items '}'."""
        return self.nested(self._subscript)

    def _subscript(self) -> list[Basic]:
        if not self.accept("LBRACE"):
            return [self.subscript_atom(allow_sub=False)]
        items = [self.subscript_item()]
        while self.accept("COMMA"):
            items.append(self.subscript_item())
        self.expect("RBRACE", "'}' to close the subscript, or ',' between indices")
        return items

    def subscript_item(self) -> Basic:
        token = self.peek()
        if self.accept("MINUS", "SETMINUS"):
            atom = self.subscript_atom(allow_sub=True)
            return self.build(token, lambda: AllBut(atom))
        return self.subscript_atom(allow_sub=True)

    def subscript_atom(self, allow_sub: bool) -> Basic:
        token = self.peek()
        if self.accept("NUMBER"):
            if "." in token.value:
                raise self.error("a whole-number index", token)
            return Integer(token.value)
        if token.kind != "NAME":
            raise self.error("an index (i, i', 3, G_k) in the subscript")
        self.next()
        name = token.value + self.primes()
        if allow_sub and self.accept("UNDERSCORE"):
            inner = self.subscript()
            return self.build(token, lambda: Indexed(IndexedBase(name), *inner))
        return Symbol(name)

    def big_operator(self) -> Basic:
        token = self.next()
        word = "\\prod" if token.kind == "PROD" else "\\sum"
        bounded, over = (Product, ProductOver) if token.kind == "PROD" else (Sum, SumOver)
        self.expect("UNDERSCORE", f"'_' and the index of {word} ({word}_i or {word}_{{i=1}}^{{d}})")
        if not self.accept("LBRACE"):
            index = self.index_symbol()
            if self.peek().kind == "CARET":
                raise self.error(f"a lower bound before the upper one: {word}_{{i=1}}^{{d}}")
            body = self.body(word)
            return self.build(token, lambda: over(body, index, AllIndices()))
        index = self.index_symbol()
        if self.accept("IN"):
            domain = self.set_expr()
            self.expect("RBRACE", f"'}}' to close the index set of {word}")
            body = self.body(word)
            if isinstance(domain, IndexRange):
                lower, upper = domain.args
                return self.build(token, lambda: bounded(body, (index, lower, upper)))
            return self.build(token, lambda: over(body, index, domain))
        if not self.accept("EQ"):
            self.expect("RBRACE", f"'}}', '=' and a lower bound, or \\in and a set after the index of {word}")
            if self.peek().kind == "CARET":
                raise self.error(f"a lower bound before the upper one: {word}_{{i=1}}^{{d}}")
            body = self.body(word)
            return self.build(token, lambda: over(body, index, AllIndices()))
        lower_start = self.peek()
        lower = self.require_expression(self.expr(), lower_start)
        self.expect("RBRACE", f"'}}' to close the lower bound of {word}")
        self.expect("CARET", f"'^' and the upper bound after {word}_{{i=...}}")
        upper = self.bound()
        body = self.body(word)
        return self.build(token, lambda: bounded(body, (index, lower, upper)))

    def bound(self) -> Basic:
        if self.accept("LBRACE"):
            start = self.peek()
            value = self.require_expression(self.expr(), start)
            self.expect("RBRACE", "'}' to close the upper bound")
            return value
        token = self.peek()
        if self.accept("NUMBER"):
            return Integer(token.value) if "." not in token.value else Rational(token.value)
        if self.accept("NAME"):
            return Symbol(token.value)
        raise self.error("an upper bound (d, K, 10 or {...}) after '^'")

    def body(self, word: str) -> Basic:
        start = self.peek()
        if start.kind not in _FACTOR_STARTS:
            raise self.error(f"the term {word} ranges over, e.g. p(z_i)")
        return self.require_expression(self.term(), start)

    def expectation(self) -> Basic:
        token = self.next()
        dist: tuple[Basic, ...] = ()
        if self.accept("UNDERSCORE"):
            if self.accept("LBRACE"):
                start = self.peek()
                dist = (self.require_expression(self.expr(), start),)
                self.expect("RBRACE", "'}' to close the subscript of \\mathbb{E}")
            elif self.peek().kind == "NAME":
                dist = (self.variable(),)
            else:
                raise self.error("a variable or {q(z|x)} after \\mathbb{E}_")
        self.expect("LBRACK", "'[' after \\mathbb{E} (\\mathbb{E}[...] or \\mathbb{E}_{q(z|x)}[...])")
        start = self.peek()
        body = self.require_expression(self.expr(), start)
        self.expect("RBRACK", f"']' to close the '[' of \\mathbb{{E}} at column {token.start + 1}")
        return self.build(token, lambda: Expectation(body, dist))

    def set_expr(self) -> Basic:
        token = self.peek()
        if self.accept("LSET", "LBRACE"):
            items: list[Basic | None] = []
            while True:
                if self.accept("DOTS"):
                    items.append(None)
                else:
                    start = self.peek()
                    items.append(self.require_expression(self.expr(), start))
                if not self.accept("COMMA"):
                    break
            if not self.accept("RSET", "RBRACE"):
                raise self.error("'\\}' to close the set, or ',' between its elements")
            if None in items:
                if len(items) != 3 or items[1] is not None:
                    raise BiasSyntaxError(self.formula, token.start, "a range written {1, \\dots, d}",
                                          "another use of \\dots")
                return self.build(token, lambda: IndexRange(items[0], items[2]))
            return self.build(token, lambda: FiniteSet(*items))
        if token.kind == "NAME":
            return self.variable()
        raise self.error("a set after \\in: a group name (G, G_k) or {1, \\dots, d}")


def parse_formula(formula: str) -> Basic:
    """The SymPy object a bias formula denotes (see the module docstring for the grammar).

    Raises BiasSyntaxError (a UserError, exit code 2) with the position of the first problem.
    """
    parser = _Parser(formula)
    try:
        return parser.parse()
    except RecursionError:
        raise BiasSyntaxError(formula, parser.peek().start, "a less deeply nested formula") from None
