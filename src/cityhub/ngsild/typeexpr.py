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
from cityhub.ngsild.logic import And, Or, parse_connectives


@dataclass(frozen=True, slots=True)
class TypeName:
    """An entity type name, compact or expanded."""

    name: str


TypeExpr = TypeName | And | Or



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
    return parse_connectives(text, "type expression", "a type name",
                             lambda word, at: TypeName(word))


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
