"""The NGSI-LD query language `q` (ETSI GS CIM 009 v1.8, clause 4.9): parser and evaluator.

Pure domain code, no I/O. `parse_q` turns the (already URL-decoded) text into a small immutable
tree of `Comparison`, `Exists`, `And` and `Or`; `matches` evaluates such a tree in memory. The
store compiles the same tree to SQL with exactly the semantics documented below.

Grammar (whitespace is not part of it: outside quoted strings it is an error)::

    query      = group *( ( ";" / "|" ) group )      ; ";" (AND) binds tighter than "|" (OR)
    group      = "(" query ")" / term                ; nesting at most `max_depth` levels
    term       = "!" path                            ; attribute absent
               / path                                ; attribute present
               / path ( "==" / "!=" ) eqvalue
               / path ( ">" / ">=" / "<" / "<=" ) value      ; value not a boolean
               / path ( "~=" / "!~=" ) regex
    path       = name *( "." name ) *( "[" name *( "." name ) "]" )
    name       = 1*( letter / mark / digit / "_" / ":" / "@" / "#" / "/" / "-" )   ; Unicode
    eqvalue    = value "," value *( "," value )      ; value list
               / value ".." value                    ; range: both numbers or both strings
               / value
    value      = quoted / token                      ; token: "true"/"false" -> bool, number
    quoted     = DQUOTE *char DQUOTE / "'" *char "'" ; backslash escapes the quote and itself
    token      = 1*( printable except = < > ! ~ ; | ( ) [ ] , " ' and "..")
    number     = [ "+" / "-" ] 1*DIGIT [ "." 1*DIGIT ] [ ( "e" / "E" ) [ "+" / "-" ] 1*DIGIT ]
    regex      = quoted / 1*char                     ; unquoted: up to ";", "|" or ")" at
                                                     ; parenthesis depth 0; "\\x" never ends it

A number token becomes `int` when it has neither fraction nor exponent, else `float`; any other
unquoted token (dateTime, date, time, URI, word) stays a `str`; a quoted value is always a `str`.
`a.b.c` is attribute `a`, sub-attribute path `("b", "c")`; `a[b][c]` and `a[b.c]` both give the
compound path `("b", "c")` inside a JSON value. Regular expressions are Python `re` patterns,
compiled at parse time. Nested `And`/`Or` of the same kind are flattened; a single term is
returned bare. NUL and lone surrogates are rejected anywhere, other control characters outside
quoted strings. Every error raises `BadRequestData` naming a 0-based character position.

Semantics of `matches(node, leaves)`: `leaves(path)` returns None when the path is absent, else
the scalar leaf values at the path (arrays flattened; a non-scalar value gives [] but counts as
present).

* `Exists(p)`: leaves(p) is not None; negated: leaves(p) is None.
* Any `Comparison` on an absent path is False, whatever the operator (`!=` and `!~=` included).
* Kinds: bool, number (int/float, compared numerically: 1 == 1.0) and str. Values of different
  kinds are never equal nor ordered (True != 1). Strings order lexicographically by code point,
  which orders ISO 8601 dateTimes of the same form correctly.
* `==` scalar: some leaf equals it; value list: some leaf equals some member; range: some leaf
  of the bounds' kind (not bool) lies in low <= leaf <= high.
* `!=`: present and not the `==` test (no leaf equals / is in the list / in the range).
* `> >= < <=`: some leaf of the same kind (number or str, never bool) satisfies it.
* `~=`: some str leaf where `re.search(pattern, leaf)` matches; `!~=`: present and none does.
* `And`: all items; `Or`: any item.
"""

from __future__ import annotations

import math
import operator
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, NoReturn

from cityhub.ngsild.errors import BadRequestData
from cityhub.ngsild.logic import And, Or

__all__ = [
    "AttrPath",
    "Comparison",
    "Exists",
    "QNode",
    "Range",
    "Scalar",
    "attr_paths",
    "map_attrs",
    "matches",
    "parse_q",
]

Scalar = int | float | str | bool


@dataclass(frozen=True, slots=True)
class AttrPath:
    attr: str
    sub: tuple[str, ...] = ()
    compound: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Range:
    low: Scalar
    high: Scalar


@dataclass(frozen=True, slots=True)
class Comparison:
    path: AttrPath
    op: str
    value: Scalar | Range | tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class Exists:
    path: AttrPath
    negated: bool = False


QNode = Comparison | Exists | And | Or

# Longest first, so that "!~=" wins over "!=" and ">=" over ">".
_OPERATORS = ("!~=", "==", "!=", ">=", "<=", "~=", ">", "<")
_EQUALITY = frozenset({"==", "!="})
_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_REGEX = frozenset({"~=", "!~="})
_FORBIDDEN = frozenset("=<>!~;|()[],\"'")
_NAME_EXTRA = frozenset("_:@#/-")
_QUOTES = frozenset("\"'")
_TERM_END = frozenset(";|)")
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?([eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")


def _fail(message: str, pos: int, tail: str = "") -> NoReturn:
    raise BadRequestData(f"q: {message} at position {pos}{tail}")


def _is_name_char(c: str) -> bool:
    if c in _NAME_EXTRA:
        return True
    return c not in _FORBIDDEN and unicodedata.category(c)[0] in "LMN"


def _is_token_char(c: str) -> bool:
    return c not in _FORBIDDEN and c.isprintable() and not c.isspace()


class _Parser:
    def __init__(self, text: str, max_depth: int) -> None:
        self.text = text
        self.pos = 0
        self.max_depth = max_depth

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expected(self, what: str) -> NoReturn:
        c = self.peek()
        if c == "":
            _fail(f"expected {what}", self.pos, " (end of the query)")
        if c.isspace():
            _fail("whitespace is not allowed outside quoted strings", self.pos)
        _fail(f"expected {what}", self.pos, f", found {c!r}")

    def parse(self) -> QNode:
        # Iterative, so that deep nesting can never exhaust the Python stack. `groups` is the
        # current parenthesis level as a list of OR-ed groups of AND-ed nodes.
        stack: list[tuple[int, list[list[QNode]]]] = []
        groups: list[list[QNode]] = [[]]
        while True:
            if self.peek() == "(":
                if len(stack) >= self.max_depth:
                    _fail(f"parentheses are nested deeper than {self.max_depth} levels", self.pos)
                stack.append((self.pos, groups))
                groups = [[]]
                self.pos += 1
                continue
            groups[-1].append(self.term())
            while self.peek() == ")":
                if not stack:
                    _fail("unbalanced ')'", self.pos)
                self.pos += 1
                node = _build(groups)
                groups = stack.pop()[1]
                if isinstance(node, And):
                    groups[-1].extend(node.items)
                else:
                    groups[-1].append(node)
            c = self.peek()
            if c == "":
                if stack:
                    _fail("unbalanced '(' (no matching ')')", stack[-1][0])
                return _build(groups)
            if c == "|":
                groups.append([])
            elif c != ";":
                self.expected("';', '|', ')' or the end of the query")
            self.pos += 1

    def term(self) -> QNode:
        negated = self.peek() == "!"
        if negated:
            self.pos += 1
        path = self.path()
        if self.peek() in _TERM_END or self.pos == len(self.text):
            return Exists(path, negated)
        if negated:
            _fail("'!' applies only to a bare attribute", self.pos, f", found {self.peek()!r}")
        op = next((o for o in _OPERATORS if self.text.startswith(o, self.pos)), None)
        if op is None:
            self.expected("an operator (== != > >= < <= ~= !~=), ';', '|' or ')'")
        self.pos += len(op)
        if op in _REGEX:
            return Comparison(path, op, self.regex())
        start = self.pos
        value = self.value("a value")
        if self.text.startswith("..", self.pos):
            if op not in _EQUALITY:
                _fail(f"a range is only allowed with '==' and '!=', not {op!r}", self.pos)
            self.pos += 2
            high_start = self.pos
            high = self.value("the upper bound of the range")
            for bound, at in ((value, start), (high, high_start)):
                if isinstance(bound, bool):
                    _fail("a range bound cannot be a boolean", at)
            if isinstance(value, str) != isinstance(high, str):
                _fail("range bounds must both be numbers or both be strings", start)
            return Comparison(path, op, Range(value, high))
        if self.peek() == ",":
            if op not in _EQUALITY:
                _fail(f"a value list is only allowed with '==' and '!=', not {op!r}", self.pos)
            items = [value]
            while self.peek() == ",":
                self.pos += 1
                items.append(self.value("a value after ','"))
            return Comparison(path, op, tuple(items))
        if op in _ORDERING and isinstance(value, bool):
            _fail(f"a boolean cannot be compared with {op!r}", start)
        return Comparison(path, op, value)

    def name(self, what: str) -> str:
        start = self.pos
        text = self.text
        while self.pos < len(text) and _is_name_char(text[self.pos]):
            self.pos += 1
        if self.pos == start:
            self.expected(what)
        return text[start : self.pos]

    def path(self) -> AttrPath:
        attr = self.name("an attribute name")
        sub: list[str] = []
        while self.peek() == ".":
            self.pos += 1
            sub.append(self.name("a sub-attribute name after '.'"))
        compound: list[str] = []
        while self.peek() == "[":
            self.pos += 1
            compound.append(self.name("a key after '['"))
            while self.peek() == ".":
                self.pos += 1
                compound.append(self.name("a key after '.'"))
            if self.peek() != "]":
                self.expected("']'")
            self.pos += 1
        return AttrPath(attr, tuple(sub), tuple(compound))

    def quoted(self) -> str:
        text, start = self.text, self.pos
        quote = text[start]
        out: list[str] = []
        pos = start + 1
        while pos < len(text):
            c = text[pos]
            if c == "\\" and pos + 1 < len(text) and text[pos + 1] in (quote, "\\"):
                out.append(text[pos + 1])
                pos += 2
            elif c == quote:
                self.pos = pos + 1
                return "".join(out)
            else:
                out.append(c)
                pos += 1
        _fail("unterminated quoted string starting", start)

    def value(self, what: str) -> Scalar:
        if self.peek() in _QUOTES:
            return self.quoted()
        text, start = self.text, self.pos
        while self.pos < len(text) and _is_token_char(text[self.pos]):
            if text.startswith("..", self.pos):
                break
            self.pos += 1
        token = text[start : self.pos]
        if not token:
            self.expected(what)
        if token in ("true", "false"):
            return token == "true"
        if not _NUMBER.fullmatch(token):
            return token
        try:
            number: int | float = int(token) if _INTEGER.fullmatch(token) else float(token)
        except ValueError:  # more digits than int() accepts
            _fail("number too long", start)
        if isinstance(number, float) and not math.isfinite(number):
            _fail("number out of range", start)
        return number

    def regex(self) -> str:
        text, start = self.text, self.pos
        if self.peek() in _QUOTES:
            pattern = self.quoted()
        else:
            depth, escaped = 0, False
            while self.pos < len(text):
                c = text[self.pos]
                if c.isspace() or not c.isprintable():
                    self.expected("a regular expression")
                if escaped:
                    escaped = False
                elif c == "\\":
                    escaped = True
                elif c == "(":
                    depth += 1
                    if depth > self.max_depth:
                        _fail(f"pattern nested deeper than {self.max_depth} levels", self.pos)
                elif c == ")":
                    if depth == 0:
                        break
                    depth -= 1
                elif c in ";|" and depth == 0:
                    break
                self.pos += 1
            pattern = text[start : self.pos]
            if not pattern:
                self.expected("a regular expression")
        try:
            re.compile(pattern)
        except (re.error, RecursionError, OverflowError, ValueError) as exc:
            _fail(f"invalid regular expression ({getattr(exc, 'msg', exc)})", start)
        return pattern


def _build(groups: list[list[QNode]]) -> QNode:
    """One parenthesis level: OR of ANDs, flattened, single items bare."""
    items: list[QNode] = []
    for group in groups:
        node = group[0] if len(group) == 1 else And(tuple(group))
        if isinstance(node, Or):
            items.extend(node.items)
        else:
            items.append(node)
    return items[0] if len(items) == 1 else Or(tuple(items))


def parse_q(text: str, *, max_length: int = 4096, max_depth: int = 32) -> QNode:
    """Parse a `q` query string; raise BadRequestData (with a position) on any error."""
    if not isinstance(text, str):
        raise BadRequestData("q: the query must be a string")
    if not text:
        raise BadRequestData("q: the query is empty")
    if len(text) > max_length:
        raise BadRequestData(f"q: the query is longer than {max_length} characters")
    for pos, c in enumerate(text):
        if c == "\0" or "\ud800" <= c <= "\udfff":
            _fail(f"invalid character {c!r}", pos)
    return _Parser(text, max_depth).parse()


def map_attrs(node: QNode, expand: Callable[[str], str]) -> QNode:
    """The same tree with `expand` applied to every attribute and sub-attribute name."""
    if isinstance(node, And):
        return And(tuple(map_attrs(item, expand) for item in node.items))
    if isinstance(node, Or):
        return Or(tuple(map_attrs(item, expand) for item in node.items))
    path = node.path
    mapped = AttrPath(expand(path.attr), tuple(expand(s) for s in path.sub), path.compound)
    return replace(node, path=mapped)


def attr_paths(node: QNode) -> list[AttrPath]:
    """Every attribute path in the tree, in textual order, duplicates included."""
    if isinstance(node, And | Or):
        return [path for item in node.items for path in attr_paths(item)]
    return [node.path]


def _kind(value: object) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "str"
    return None


def _equal(leaf: object, value: object) -> bool:
    kind = _kind(leaf)
    return kind is not None and kind == _kind(value) and leaf == value


def _ordered(leaf: object, op: str, value: object) -> bool:
    kind = _kind(leaf)
    return kind in ("number", "str") and kind == _kind(value) and _ORDERING[op](leaf, value)


def _any_equal(leaves: Sequence[Scalar], value: Scalar | Range | tuple[Scalar, ...]) -> bool:
    if isinstance(value, Range):
        return any(
            _ordered(leaf, ">=", value.low) and _ordered(leaf, "<=", value.high) for leaf in leaves
        )
    if isinstance(value, tuple):
        return any(_equal(leaf, member) for leaf in leaves for member in value)
    return any(_equal(leaf, value) for leaf in leaves)


def _any_search(leaves: Sequence[Scalar], pattern: object) -> bool:
    if not isinstance(pattern, str):
        return False
    return any(isinstance(leaf, str) and re.search(pattern, leaf) for leaf in leaves)


def matches(node: QNode, leaves: Callable[[AttrPath], Sequence[Scalar] | None]) -> bool:
    """Evaluate `node` against one entity, seen through `leaves` (see the module docstring)."""
    if isinstance(node, And):
        return all(matches(item, leaves) for item in node.items)
    if isinstance(node, Or):
        return any(matches(item, leaves) for item in node.items)
    values = leaves(node.path)
    if isinstance(node, Exists):
        return (values is None) == node.negated
    if values is None:
        return False
    op, value = node.op, node.value
    if op == "==":
        return _any_equal(values, value)
    if op == "!=":
        return not _any_equal(values, value)
    if op == "~=":
        return _any_search(values, value)
    if op == "!~=":
        return not _any_search(values, value)
    if op in _ORDERING:
        return any(_ordered(leaf, op, value) for leaf in values)
    raise ValueError(f"unknown q operator {op!r}")
