"""Entity Scopes and the Scope Query Language (ETSI GS CIM 009 v1.8, clauses 4.18 and 4.19).

Scopes
------
An Entity's ``scope`` is a String or an Array of Strings, each a hierarchical path::

    scope = 1*( "/" level )          e.g. "/Madrid/Gardens/ParqueNorte"
    level = 1*( any printable character except whitespace and / # + , ; | ( ) )

`validate_scope` checks such a value and returns it as a list (duplicates removed, order kept).

Scope queries (``scopeQ``)
--------------------------
::

    scopeQ  = or
    or      = and *( ( "|" / "," ) and )        ; "|" and "," both mean OR
    and     = primary *( ";" primary )          ; AND binds tighter than OR
    primary = pattern / "(" or ")"
    pattern = "/#" / 1*( "/" ( level / "+" ) ) [ "/#" ]

The specification's ABNF asks for parentheses around a conjunction (``(/A;/B)|/C``); the
unparenthesised form (``/A;/B``) is accepted too, with the usual precedence. Whitespace between
tokens is ignored; inside a pattern it is an error (a common cause is a ``+`` wildcard sent
unencoded in a URL and decoded to a space: it must be sent as ``%2B``).

Matching, for a pattern against one scope string:

* a literal level matches that exact level; ``+`` matches exactly one level (any name);
* ``#``, allowed only as the last level, matches zero or more further levels, so ``/A/#`` matches
  ``/A``, ``/A/B`` and ``/A/B/C`` but not ``/AB`` (MQTT-style; note that some brokers, Stellio,
  require at least one level below ``/A``);
* ``/#`` matches every scope.

An Entity matches a pattern when at least one of its scopes does; an AND node when every item
matches (each possibly through a different scope of the Entity); an OR node when any does. An
Entity without scopes matches no scope query, not even ``/#``.

`scope_regex` turns a pattern into an anchored regular expression that works the same in Python's
`re` and PostgreSQL's ``~`` operator, for storage-side filtering.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cityhub.ngsild.errors import BadRequestData
from cityhub.ngsild.logic import And, Or, parse_connectives

#: The longest scope string accepted in an Entity.
MAX_SCOPE_LENGTH = 1024
#: The most scopes one Entity may have.
MAX_SCOPES = 256
#: The deepest nesting of parentheses accepted in a scope query.

_FORBIDDEN_IN_LEVEL = frozenset("/#+,;|()")
# Characters that are special in a Python or PostgreSQL (ARE) regular expression.
_REGEX_SPECIAL = frozenset("\\.^$|?*+()[]{}")
_ENCODING_HINT = " (a '+' wildcard in a URL must be percent-encoded as %2B)"


@dataclass(frozen=True, slots=True)
class ScopeMatch:
    """One scope pattern: ``"/Madrid/+/Parks"`` -> ``("Madrid", "+", "Parks")``; ``"/#"`` ->
    ``("#",)``."""

    segments: tuple[str, ...]


ScopeQuery = ScopeMatch | And | Or


# --------------------------------------------------------------------------------------------
# Entity scopes
# --------------------------------------------------------------------------------------------


def _level_problem(level: str) -> str | None:
    """What is wrong with a literal level, or None."""
    if not level:
        return "an empty level"
    for ch in level:
        if ch in _FORBIDDEN_IN_LEVEL:
            if ch in "+#":
                return f"the wildcard character {ch!r} (not allowed in an Entity's scope)"
            return f"the character {ch!r}"
        if ch.isspace() or not ch.isprintable():
            return f"the character {ch!r}"
    return None


def _check_scope(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise BadRequestData(f"{where} must be a string, got {type(value).__name__}")
    if not value.startswith("/"):
        raise BadRequestData(f"{where} {value[:64]!r} must start with '/'")
    if len(value) > MAX_SCOPE_LENGTH:
        raise BadRequestData(f"{where} is longer than {MAX_SCOPE_LENGTH} characters")
    offset = 1
    for level in value[1:].split("/"):
        problem = _level_problem(level)
        if problem is not None:
            raise BadRequestData(f"{where} {value[:64]!r} has {problem} at position {offset}")
        offset += len(level) + 1
    return value


def validate_scope(value: Any) -> list[str]:
    """Validate an Entity's scope (a string or a list of strings); return it as a list."""
    if isinstance(value, str):
        return [_check_scope(value, "scope")]
    if not isinstance(value, list):
        raise BadRequestData(
            f"scope must be a string or an array of strings, got {type(value).__name__}"
        )
    if not value:
        raise BadRequestData("scope must not be an empty array")
    if len(value) > MAX_SCOPES:
        raise BadRequestData(f"an Entity may have at most {MAX_SCOPES} scopes")
    seen: dict[str, None] = {}
    for i, item in enumerate(value):
        seen[_check_scope(item, f"scope[{i}]")] = None
    return list(seen)


# --------------------------------------------------------------------------------------------
# Parsing scope queries
# --------------------------------------------------------------------------------------------


def _pattern(text: str, start: int, word: str) -> ScopeMatch:
    """Parse one pattern `word` found at `start` in `text`."""
    if not word.startswith("/"):
        raise BadRequestData(
            f"invalid scopeQ: a scope must start with '/' at position {start}, got {word[:64]!r}"
        )
    levels = word[1:].split("/")
    offset = start + 1
    last = len(levels) - 1
    for i, level in enumerate(levels):
        if level == "#":
            if i != last:
                raise BadRequestData(
                    f"invalid scopeQ: '#' is only allowed as the last level (position {offset})"
                )
        elif level != "+":
            problem = _level_problem(level)
            if problem is not None:
                if "+" in level or "#" in level:
                    problem = "a wildcard inside a level ('+' and '#' must be whole levels)"
                hint = ""
                nxt = offset + len(level)
                if not level and nxt < len(text) and text[nxt].isspace():
                    hint = _ENCODING_HINT
                raise BadRequestData(f"invalid scopeQ: {problem} at position {offset}{hint}")
        offset += len(level) + 1
    return ScopeMatch(tuple(levels))


def parse_scopeq(text: str, *, max_length: int = 2048) -> ScopeMatch | And | Or:
    """Parse a ``scopeQ`` value (URL-decoding already done) into a tree."""
    if not isinstance(text, str):
        raise BadRequestData("scopeQ must be a string")
    if len(text) > max_length:
        raise BadRequestData(f"scopeQ is too long ({len(text)} characters, at most {max_length})")
    if not text.strip():
        raise BadRequestData("scopeQ must not be empty")
    return parse_connectives(text, "scopeQ", "a scope", lambda word, at: _pattern(text, at, word))


def format_scopeq(node: ScopeMatch | And | Or) -> str:
    """The text of a scope query tree (parses back to an equal tree)."""
    if isinstance(node, ScopeMatch):
        return "/" + "/".join(node.segments)
    if isinstance(node, And):
        return ";".join(
            f"({format_scopeq(i)})" if isinstance(i, (And, Or)) else format_scopeq(i)
            for i in node.items
        )
    if isinstance(node, Or):
        return "|".join(
            f"({format_scopeq(i)})" if isinstance(i, Or) else format_scopeq(i) for i in node.items
        )
    raise TypeError(f"not a scope query node: {node!r}")


# --------------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------------


def _levels(scope: str) -> list[str] | None:
    return scope[1:].split("/") if scope.startswith("/") else None


def _match_levels(segments: tuple[str, ...], levels: list[str]) -> bool:
    if segments and segments[-1] == "#":
        fixed = segments[:-1]
        if len(levels) < len(fixed):
            return False
    else:
        fixed = segments
        if len(levels) != len(fixed):
            return False
    for seg, level in zip(fixed, levels, strict=False):
        if seg == "+":
            if not level:
                return False
        elif seg != level:
            return False
    return True


def _matches(node: Any, split: list[list[str]]) -> bool:
    if isinstance(node, ScopeMatch):
        return any(_match_levels(node.segments, levels) for levels in split)
    if isinstance(node, And):
        return all(_matches(item, split) for item in node.items)
    if isinstance(node, Or):
        return any(_matches(item, split) for item in node.items)
    raise TypeError(f"not a scope query node: {node!r}")


def scope_matches(node: ScopeMatch | And | Or, scopes: Sequence[str]) -> bool:
    """Whether an Entity with these scopes matches the scope query."""
    if isinstance(scopes, str):
        scopes = (scopes,)
    split = [lv for s in scopes if isinstance(s, str) and (lv := _levels(s)) is not None]
    return _matches(node, split)


def _escape(literal: str) -> str:
    return "".join("\\" + ch if ch in _REGEX_SPECIAL else ch for ch in literal)


def scope_regex(match: ScopeMatch) -> str:
    """An anchored regex matching exactly the scopes `match` matches.

    Uses only ``^ $ [^/]+ (/.*)? .*`` and backslash-escaped punctuation, so it means the same in
    Python `re` (use `re.search`/`re.match`; scopes never contain a newline) and PostgreSQL's
    ``~``. The result is a pattern to pass as a query parameter, not SQL-quoted text.
    """
    segments = match.segments
    if not segments:
        raise BadRequestData("an empty scope pattern has no regular expression")
    if "#" in segments[:-1]:
        raise BadRequestData("'#' is only allowed as the last level of a scope pattern")
    if segments == ("#",):
        return "^/.*$"
    parts = ["^"]
    for seg in segments:
        if seg == "#":
            parts.append("(/.*)?")
        elif seg == "+":
            parts.append("/[^/]+")
        else:
            parts.append("/" + _escape(seg))
    parts.append("$")
    return "".join(parts)
