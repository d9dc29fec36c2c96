"""Entity type selection: the ``type`` query parameter (ETSI GS CIM 009 v1.8, clause 4.17).

Grammar::

    typeExpr = or
    or       = and *( ( "|" / "," ) and )      ; "," (the classic list) and "|" both mean OR
    and      = primary *( ";" primary )        ; AND binds tighter than OR
    primary  = name / "(" or ")"
    name     = 1*( any character except , ; | ( ) whitespace and control characters )

A name is a compact term (``Building``) or a full IRI
(``https://uri.fiware.org/ns/data-models#AirQualityObserved``: ``:``, ``/`` and ``#`` are fine).
Whitespace between tokens is ignored. An expression that is a single name is returned as a bare
`TypeName`; connectives are the shared `And` / `Or` of `cityhub.ngsild.logic`, flattened
(``A;(B;C)`` is ``And((A, B, C))``).

Semantics: an Entity matches a name when the name is one of its types (Entities may have several
types), ``A;B`` when it has both, ``A|B`` / ``A,B`` when it has either.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from cityhub.ngsild.errors import BadRequestData
from cityhub.ngsild.logic import And, Or

#: The deepest nesting of parentheses accepted.
MAX_NESTING = 32

_OPERATORS = {";": "and", "|": "or", ",": "or", "(": "open", ")": "close"}


@dataclass(frozen=True, slots=True)
class TypeName:
    """An entity type name, compact or expanded."""

    name: str


TypeExpr = TypeName | And | Or


def _is_name_char(ch: str) -> bool:
    return ch not in _OPERATORS and not ch.isspace() and ch.isprintable()


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens: list[tuple[str, str, int]] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        kind = _OPERATORS.get(ch)
        if kind is not None:
            tokens.append((kind, ch, i))
            i += 1
            continue
        if not ch.isprintable():
            raise BadRequestData(
                f"invalid type expression: control character {ch!r} at position {i}"
            )
        start = i
        while i < n and _is_name_char(text[i]):
            i += 1
        tokens.append(("name", text[start:i], start))
    return tokens


def _combine(kind: type[And] | type[Or], items: list[Any]) -> Any:
    if len(items) == 1:
        return items[0]
    flat: list[Any] = []
    for item in items:
        if isinstance(item, kind):
            flat.extend(item.items)
        else:
            flat.append(item)
    return kind(tuple(flat))


class _Parser:
    __slots__ = ("pos", "text", "tokens")

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    def _peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def parse(self) -> TypeExpr:
        node = self._or(0)
        tok = self._peek()
        if tok is not None:
            kind, value, at = tok
            if kind == "close":
                raise BadRequestData(f"invalid type expression: unmatched ')' at position {at}")
            raise BadRequestData(
                f"invalid type expression: expected ',', '|' or ';' at position {at}, "
                f"got {value[:64]!r}"
            )
        return node

    def _or(self, depth: int) -> TypeExpr:
        items = [self._and(depth)]
        while (tok := self._peek()) is not None and tok[0] == "or":
            self.pos += 1
            items.append(self._and(depth))
        return _combine(Or, items)

    def _and(self, depth: int) -> TypeExpr:
        items = [self._primary(depth)]
        while (tok := self._peek()) is not None and tok[0] == "and":
            self.pos += 1
            items.append(self._primary(depth))
        return _combine(And, items)

    def _primary(self, depth: int) -> TypeExpr:
        tok = self._peek()
        if tok is None:
            raise BadRequestData(
                "invalid type expression: expected a type name at position "
                f"{len(self.text)} (end of input)"
            )
        kind, value, at = tok
        if kind == "name":
            self.pos += 1
            return TypeName(value)
        if kind == "open":
            if depth >= MAX_NESTING:
                raise BadRequestData(
                    f"invalid type expression: parentheses nested deeper than {MAX_NESTING} "
                    f"at position {at}"
                )
            self.pos += 1
            node = self._or(depth + 1)
            close = self._peek()
            if close is None or close[0] != "close":
                where = close[2] if close is not None else len(self.text)
                raise BadRequestData(
                    f"invalid type expression: missing ')' for the '(' at position {at} "
                    f"(at position {where})"
                )
            self.pos += 1
            return node
        raise BadRequestData(
            f"invalid type expression: expected a type name at position {at}, got {value!r}"
        )


def parse_type_expression(text: str, *, max_length: int = 2048) -> TypeExpr:
    """Parse the ``type`` parameter; raise `BadRequestData` with the position of any error."""
    if not isinstance(text, str):
        raise BadRequestData("the type expression must be a string")
    if len(text) > max_length:
        raise BadRequestData(
            f"the type expression is too long ({len(text)} characters, at most {max_length})"
        )
    if not text.strip():
        raise BadRequestData("the type expression must not be empty")
    return _Parser(text).parse()


def format_type_expression(node: TypeExpr) -> str:
    """The text of a type expression tree (parses back to an equal tree)."""
    if isinstance(node, TypeName):
        return node.name
    if isinstance(node, And):
        return ";".join(
            f"({format_type_expression(i)})"
            if isinstance(i, (And, Or))
            else format_type_expression(i)
            for i in node.items
        )
    if isinstance(node, Or):
        return "|".join(
            f"({format_type_expression(i)})" if isinstance(i, Or) else format_type_expression(i)
            for i in node.items
        )
    raise TypeError(f"not a type expression node: {node!r}")


def map_types(node: TypeExpr, expand: Callable[[str], str]) -> TypeExpr:
    """The same tree with every name replaced by ``expand(name)`` (e.g. term -> IRI)."""
    if isinstance(node, TypeName):
        return TypeName(expand(node.name))
    if isinstance(node, And):
        return And(tuple(map_types(i, expand) for i in node.items))
    if isinstance(node, Or):
        return Or(tuple(map_types(i, expand) for i in node.items))
    raise TypeError(f"not a type expression node: {node!r}")


def type_names(node: TypeExpr) -> list[str]:
    """Every name in the tree, in order of appearance, without duplicates."""
    seen: dict[str, None] = {}
    stack: list[Any] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, TypeName):
            seen[current.name] = None
        elif isinstance(current, (And, Or)):
            stack.extend(reversed(current.items))
        else:
            raise TypeError(f"not a type expression node: {current!r}")
    return list(seen)


def type_matches(node: TypeExpr, types: Collection[str]) -> bool:
    """Whether an Entity with these types satisfies the expression."""
    if isinstance(types, str):
        types = (types,)
    if isinstance(node, TypeName):
        return node.name in types
    if isinstance(node, And):
        return all(type_matches(i, types) for i in node.items)
    if isinstance(node, Or):
        return any(type_matches(i, types) for i in node.items)
    raise TypeError(f"not a type expression node: {node!r}")
