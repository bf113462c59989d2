"""The intake-rule condition language: tokenizer, parser, evaluator.

A condition is a small boolean expression over a conversation's attributes::

    customer.tier in ["gold", "platinum"] and not (message contains "cancel")
    channel == "whatsapp" or time.hour >= 18

Grammar (lowest precedence first)::

    or_expr   := and_expr ("or" and_expr)*
    and_expr  := not_expr ("and" not_expr)*
    not_expr  := "not" not_expr | compare
    compare   := operand [(== | != | < | <= | > | >=) operand
                          | ["not"] "in" list | "contains" operand]
    operand   := literal | name | list | "(" or_expr ")"
    name      := IDENT ("." IDENT)*
    literal   := STRING | NUMBER | true | false | null

Evaluation never raises on data: a missing name is ``null``; comparing
values of unrelated types (text < number) is false; ``contains`` is a
case-insensitive substring test on text and membership on lists. Text
equality is exact. Nothing here calls ``eval``.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from router.errors import ExpressionError

Value = Any
Context = Mapping[str, Any]

KEYWORDS = frozenset({"and", "or", "not", "in", "contains", "true", "false", "null"})
COMPARISONS = ("==", "!=", "<=", ">=", "<", ">")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "name" | "string" | "number" | "op" | "keyword" | "end"
    value: str | float | int
    column: int  # 1-based


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; raises ``ExpressionError`` with a column."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        col = i + 1
        if ch.isspace():
            i += 1
        elif ch in "\"'":
            quote, j, out = ch, i + 1, []
            while True:
                if j >= n:
                    raise ExpressionError("unterminated string", col, text)
                c = text[j]
                if c == "\\":
                    if j + 1 >= n:
                        raise ExpressionError("unterminated string", col, text)
                    esc = text[j + 1]
                    mapped = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}.get(esc)
                    if mapped is None:
                        raise ExpressionError(f"unknown escape \\{esc}", j + 1, text)
                    out.append(mapped)
                    j += 2
                elif c == quote:
                    j += 1
                    break
                else:
                    out.append(c)
                    j += 1
            tokens.append(Token("string", "".join(out), col))
            i = j
        elif ch.isdigit() or (ch == "-" and i + 1 < n and text[i + 1].isdigit()):
            j = i + 1
            while j < n and (text[j].isdigit() or text[j] in "._"):
                j += 1
            raw = text[i:j].replace("_", "")
            try:
                number: float | int = float(raw) if "." in raw else int(raw)
            except ValueError:
                raise ExpressionError(f"malformed number {text[i:j]!r}", col, text) from None
            tokens.append(Token("number", number, col))
            i = j
        elif ch.isalpha() or ch == "_":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in "_-"):
                j += 1
            word = text[i:j]
            tokens.append(Token("keyword" if word in KEYWORDS else "name", word, col))
            i = j
        else:
            two = text[i : i + 2]
            if two in ("==", "!=", "<=", ">="):
                tokens.append(Token("op", two, col))
                i += 2
            elif ch in "<>()[],.":
                tokens.append(Token("op", ch, col))
                i += 1
            elif ch == "=":
                raise ExpressionError("'=' is not an operator; use '=='", col, text)
            else:
                raise ExpressionError(f"unexpected character {ch!r}", col, text)
    tokens.append(Token("end", "", n + 1))
    return tokens


# --- AST ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    value: Value


@dataclass(frozen=True, slots=True)
class Name:
    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ListLit:
    items: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # one of COMPARISONS, "in", "not in", "contains"
    left: "Node"
    right: "Node"


@dataclass(frozen=True, slots=True)
class Not:
    operand: "Node"


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # "and" | "or"
    operands: tuple["Node", ...]


Node = Literal | Name | ListLit | Compare | Not | BoolOp


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def error(self, message: str, token: Token | None = None) -> ExpressionError:
        t = token or self.tok
        return ExpressionError(message, t.column, self.text)

    def describe(self, t: Token) -> str:
        return "end of condition" if t.kind == "end" else repr(t.value)

    def accept(self, kind: str, value: str) -> bool:
        if self.tok.kind == kind and self.tok.value == value:
            self.pos += 1
            return True
        return False

    def expect(self, kind: str, value: str) -> None:
        if not self.accept(kind, value):
            raise self.error(f"expected {value!r}, found {self.describe(self.tok)}")

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise self.error("empty condition")
        node = self.or_expr()
        if self.tok.kind != "end":
            raise self.error(f"unexpected {self.describe(self.tok)}")
        return node

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while self.accept("keyword", "or"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts))

    def and_expr(self) -> Node:
        parts = [self.not_expr()]
        while self.accept("keyword", "and"):
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))

    def not_expr(self) -> Node:
        if self.accept("keyword", "not"):
            return Not(self.not_expr())
        return self.compare()

    def compare(self) -> Node:
        left = self.operand()
        t = self.tok
        if t.kind == "op" and t.value in COMPARISONS:
            self.pos += 1
            return Compare(str(t.value), left, self.operand())
        if t.kind == "keyword" and t.value == "contains":
            self.pos += 1
            return Compare("contains", left, self.operand())
        if t.kind == "keyword" and t.value in ("in", "not"):
            negate = self.accept("keyword", "not")
            if not self.accept("keyword", "in"):
                raise self.error("expected 'in' after 'not'")
            if self.tok.kind != "op" or self.tok.value != "[":
                raise self.error(f"'in' needs a [list], found {self.describe(self.tok)}")
            return Compare("not in" if negate else "in", left, self.operand())
        return left

    def operand(self) -> Node:
        t = self.tok
        if t.kind in ("string", "number"):
            self.pos += 1
            return Literal(t.value)
        if t.kind == "keyword" and t.value in ("true", "false", "null"):
            self.pos += 1
            return Literal({"true": True, "false": False, "null": None}[str(t.value)])
        if t.kind == "name":
            self.pos += 1
            path = [str(t.value)]
            while self.accept("op", "."):
                if self.tok.kind not in ("name", "keyword"):
                    raise self.error(f"expected a name after '.', found {self.describe(self.tok)}")
                path.append(str(self.tok.value))
                self.pos += 1
            return Name(tuple(path))
        if self.accept("op", "("):
            node = self.or_expr()
            self.expect("op", ")")
            return node
        if self.accept("op", "["):
            items: list[Value] = []
            if not self.accept("op", "]"):
                while True:
                    at = self.tok
                    item = self.operand()
                    if not isinstance(item, Literal):
                        raise self.error("a list holds only literals", at)
                    items.append(item.value)
                    if self.accept("op", "]"):
                        break
                    self.expect("op", ",")
            return ListLit(tuple(items))
        raise self.error(f"expected a value, found {self.describe(t)}")


def parse(text: str) -> Node:
    """Parse a condition into an AST; raises ``ExpressionError`` with a column."""
    return _Parser(text).parse()


# --- evaluation ---------------------------------------------------------------


def _lookup(ctx: Context, path: Sequence[str]) -> Value:
    value: Value = ctx
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _norm(value: Value) -> Value:
    # bool is an int in Python; keep true == 1 false.
    return ("bool", value) if isinstance(value, bool) else value


def _compare(op: str, a: Value, b: Value) -> bool:
    if op == "==":
        return bool(_norm(a) == _norm(b))
    if op == "!=":
        return bool(_norm(a) != _norm(b))
    if op == "in":
        return isinstance(b, tuple | list) and any(_norm(a) == _norm(x) for x in b)
    if op == "not in":
        return isinstance(b, tuple | list) and all(_norm(a) != _norm(x) for x in b)
    if op == "contains":
        if isinstance(a, str) and isinstance(b, str):
            return b.casefold() in a.casefold()
        if isinstance(a, list | tuple):
            return any(_norm(x) == _norm(b) for x in a)
        return False
    numeric = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    if not (
        (isinstance(a, numeric) and isinstance(b, numeric))
        or (isinstance(a, str) and isinstance(b, str))
    ):
        return False
    x: Any = a
    y: Any = b
    if op == "<":
        return bool(x < y)
    if op == "<=":
        return bool(x <= y)
    if op == ">":
        return bool(x > y)
    return bool(x >= y)


def _compile(node: Node) -> Callable[[Context], Value]:
    match node:
        case Literal(value):
            return lambda ctx: value
        case ListLit(items):
            return lambda ctx: items
        case Name(path):
            if len(path) == 1:
                key = path[0]
                return lambda ctx: ctx.get(key)
            return lambda ctx: _lookup(ctx, path)
        case Not(operand):
            inner = _compile(operand)
            return lambda ctx: not inner(ctx)
        case BoolOp("and", operands):
            fns = [_compile(o) for o in operands]
            return lambda ctx: all(bool(f(ctx)) for f in fns)
        case BoolOp(_, operands):
            fns = [_compile(o) for o in operands]
            return lambda ctx: any(bool(f(ctx)) for f in fns)
        case Compare(op, left, right):
            lf, rf = _compile(left), _compile(right)
            return lambda ctx: _compare(op, lf(ctx), rf(ctx))
    raise AssertionError(f"unknown node {node!r}")  # pragma: no cover


class Expression:
    """A parsed, compiled condition; call ``evaluate(context)`` for a bool."""

    __slots__ = ("_fn", "ast", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.ast = parse(text)
        self._fn = _compile(self.ast)

    def evaluate(self, context: Context) -> bool:
        return bool(self._fn(context))

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"
