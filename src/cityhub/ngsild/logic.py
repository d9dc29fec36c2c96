"""Boolean connectives shared by the query trees (q, scopeQ, type expressions), and the one
parser of the connective grammar scopeQ and type expressions share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cityhub.ngsild.errors import BadRequestData


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Any, ...]


#: the connectives of scopeQ and type expressions: ";" AND, "|" and "," OR, parentheses
_OPERATORS = {";": "and", "|": "or", ",": "or", "(": "open", ")": "close"}
MAX_NESTING = 32

Token = tuple[str, str, int]  # (kind, text, position)


def combine(kind: type[And] | type[Or], items: list[Any]) -> Any:
    """`kind` over `items`, flattened (A;(B;C) is And(A, B, C)); one item is returned bare."""
    if len(items) == 1:
        return items[0]
    flat: list[Any] = []
    for item in items:
        if isinstance(item, kind):
            flat.extend(item.items)
        else:
            flat.append(item)
    return kind(tuple(flat))


def parse_connectives(text: str, what: str, noun: str, leaf: Callable[[str, int], Any]) -> Any:
    """Parse words joined by ";" (AND, binding tighter) and "|" or "," (OR), with parentheses.

    Grammar: ``or = and *(("|" / ",") and)``, ``and = primary *(";" primary)``,
    ``primary = word / "(" or ")"``; a word is a run of characters other than the operators and
    whitespace, turned into a node by ``leaf(word, position)``. Errors are BadRequestData
    naming `what` and the position; nesting deeper than MAX_NESTING is refused.
    """
    return _Parser(text, what, noun, leaf).parse()


def _tokenize(text: str, what: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
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
            raise BadRequestData(f"invalid {what}: control character {ch!r} at position {i}")
        start = i
        while i < n and text[i] not in _OPERATORS and not text[i].isspace() \
                and text[i].isprintable():
            i += 1
        tokens.append(("word", text[start:i], start))
    return tokens


class _Parser:
    __slots__ = ("leaf", "noun", "pos", "text", "tokens", "what")

    def __init__(self, text: str, what: str, noun: str, leaf: Callable[[str, int], Any]) -> None:
        self.text, self.what, self.noun, self.leaf = text, what, noun, leaf
        self.tokens = _tokenize(text, what)
        self.pos = 0

    def _peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def parse(self) -> Any:
        node = self._or(0)
        tok = self._peek()
        if tok is not None:
            kind, value, at = tok
            if kind == "close":
                raise BadRequestData(f"invalid {self.what}: unmatched ')' at position {at}")
            raise BadRequestData(f"invalid {self.what}: expected ';', '|' or ',' at position "
                                 f"{at}, got {value[:64]!r}")
        return node

    def _or(self, depth: int) -> Any:
        items = [self._and(depth)]
        while (tok := self._peek()) is not None and tok[0] == "or":
            self.pos += 1
            items.append(self._and(depth))
        return combine(Or, items)

    def _and(self, depth: int) -> Any:
        items = [self._primary(depth)]
        while (tok := self._peek()) is not None and tok[0] == "and":
            self.pos += 1
            items.append(self._primary(depth))
        return combine(And, items)

    def _primary(self, depth: int) -> Any:
        tok = self._peek()
        if tok is None:
            raise BadRequestData(f"invalid {self.what}: expected {self.noun} at position "
                                 f"{len(self.text)} (end of input)")
        kind, value, at = tok
        if kind == "word":
            self.pos += 1
            return self.leaf(value, at)
        if kind == "open":
            if depth >= MAX_NESTING:
                raise BadRequestData(f"invalid {self.what}: parentheses nested deeper than "
                                     f"{MAX_NESTING} at position {at}")
            self.pos += 1
            node = self._or(depth + 1)
            close = self._peek()
            if close is None or close[0] != "close":
                where = close[2] if close is not None else len(self.text)
                raise BadRequestData(f"invalid {self.what}: missing ')' for the '(' at position "
                                     f"{at} (at position {where})")
            self.pos += 1
            return node
        raise BadRequestData(f"invalid {self.what}: expected {self.noun} at position {at}, "
                             f"got {value!r}")
