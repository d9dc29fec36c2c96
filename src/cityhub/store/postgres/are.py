"""Python regular expressions rewritten as PostgreSQL ARE (advanced regular expressions).

q's `~=`, `idPattern` and scopeQ carry Python-syntax patterns (`re`, or the `regex` module that
idPattern is validated with); the in-memory evaluator and the SQLite store run them with Python.
PostgreSQL's `~` speaks a different dialect: `\\b` is a backspace there, `.` matches a newline,
`$` does not match before a final newline, `(?P<name>...)` is unknown, inline flags exist only
at the very start. So instead of passing the text through, `to_are` parses the pattern with
Python's own parser (`re._parser`, the parser `re.compile` uses) and writes the same tree back
in ARE syntax:

* literals are escaped (`\\U` + 8 hex digits for anything not plainly printable);
* `.` becomes `[^\\n]` (or `.` under DOTALL); `^`/`$`/`\\A`/`\\Z` keep Python's meaning
  (`$` is `(?=\\n?$)`, or `\\n?$` at the very end; MULTILINE anchors use look-arounds);
  `\\b`/`\\B` become `\\y`/`\\Y`;
* sets, categories (`\\d \\s \\w` and negations), alternation, groups (capturing groups keep
  their numbers, so back-references stay right), greedy and lazy repeats, look-ahead and
  look-behind are translated one to one;
* a global IGNORECASE becomes the leading `(?i)`.

What ARE cannot express raises `NotImplementedFeature` (atomic groups, possessive repeats,
conditional groups, a case-insensitive part inside a case-sensitive pattern); a repeat bound
above ARE's 255 raises `TooComplexQuery`; a pattern Python itself rejects raises `BadRequestData`.

Whether a string matches never depends on greediness, so ARE's whole-pattern greediness rule
does not change results. The classes `\\d \\s \\w`, `\\y` and case folding follow the collation
the text is compared under; `Translation.unicode` says when the pattern uses them, so the
caller can apply a Unicode-aware collation (ICU) for exactly those patterns and keep the
column's "C" collation (and its index prefix optimisation) for the rest.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import regex

from cityhub.ngsild.errors import BadRequestData, NotImplementedFeature, TooComplexQuery

#: ARE's largest repetition bound (RE_DUP_MAX)
MAX_REPEAT_BOUND = 255

_CATEGORY = {
    sre.CATEGORY_DIGIT: (r"\d", r"[0-9]"),
    sre.CATEGORY_SPACE: (r"\s", r"[ \t\n\r\f\v]"),
    sre.CATEGORY_WORD: (r"\w", r"[a-zA-Z0-9_]"),
    sre.CATEGORY_NOT_DIGIT: (r"\D", r"[^0-9]"),
    sre.CATEGORY_NOT_SPACE: (r"\S", r"[^ \t\n\r\f\v]"),
    sre.CATEGORY_NOT_WORD: (r"\W", r"[^a-zA-Z0-9_]"),
}
#: inside a bracket expression: the positive classes only (ARE forbids \D \S \W there)
_CATEGORY_IN_SET = {
    sre.CATEGORY_DIGIT: (r"\d", "0-9"),
    sre.CATEGORY_SPACE: (r"\s", r" \t\n\r\f\v"),
    sre.CATEGORY_WORD: (r"\w", "a-zA-Z0-9_"),
}
_SINGLE_ATOMS = frozenset({sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN, sre.CATEGORY})


@dataclass(frozen=True, slots=True)
class Translation:
    """An ARE pattern and whether its meaning depends on Unicode character classification."""

    pattern: str
    unicode: bool


def _escape_char(code: int) -> str:
    char = chr(code)
    if char.isascii():
        if char.isalnum():
            return char
        if char.isprintable() and char != " ":
            return "\\" + char
    elif char.isprintable() and not char.isspace():
        return char
    return f"\\U{code:08x}"


class _Writer:
    """Walks one parsed pattern and emits ARE text."""

    def __init__(self, flags: int) -> None:
        self.ascii = bool(flags & sre.SRE_FLAG_ASCII)
        self.ignore_case = bool(flags & sre.SRE_FLAG_IGNORECASE)
        self.unicode = self.ignore_case and not self.ascii

    def sequence(self, items: Any, flags: int) -> str:
        return "".join(self.item(op, av, flags) for op, av in items)

    def atom(self, items: Any, flags: int) -> str:
        """`items` as one quantifiable atom."""
        items = list(items)
        text = self.sequence(items, flags)
        if len(items) == 1 and items[0][0] in _SINGLE_ATOMS:
            return text
        return "(?:" + text + ")"

    def category(self, code: Any, in_set: bool = False) -> str:
        if not self.ascii:
            self.unicode = True
        table = _CATEGORY_IN_SET if in_set else _CATEGORY
        unicode_form, ascii_form = table[code]
        return ascii_form if self.ascii else unicode_form

    def item(self, op: Any, av: Any, flags: int) -> str:
        if op is sre.LITERAL:
            return _escape_char(av)
        if op is sre.NOT_LITERAL:
            return "[^" + _escape_char(av) + "]"
        if op is sre.ANY:
            return "." if flags & sre.SRE_FLAG_DOTALL else "[^\\n]"
        if op is sre.IN:
            return self.charset(av)
        if op is sre.CATEGORY:
            return self.category(av)
        if op is sre.BRANCH:
            return "(?:" + "|".join(self.sequence(b, flags) for b in av[1]) + ")"
        if op is sre.SUBPATTERN:
            return self.group(av, flags)
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            return self.repeat(op, av, flags)
        if op is sre.AT:
            return self.anchor(av, flags)
        if op in (sre.ASSERT, sre.ASSERT_NOT):
            direction, items = av
            head = {(sre.ASSERT, 1): "(?=", (sre.ASSERT, -1): "(?<=",
                    (sre.ASSERT_NOT, 1): "(?!", (sre.ASSERT_NOT, -1): "(?<!"}[(op, direction)]
            return head + self.sequence(items, flags) + ")"
        if op is sre.GROUPREF:
            return f"(?:\\{av})"
        raise NotImplementedFeature(
            f"regular expressions with {str(op).lower().replace('_', ' ')} are not supported "
            "by the PostgreSQL store"
        )

    def group(self, av: Any, flags: int) -> str:
        group, add_flags, del_flags, items = av
        inner_flags = (flags | add_flags) & ~del_flags
        if (add_flags | del_flags) & (sre.SRE_FLAG_IGNORECASE | sre.SRE_FLAG_ASCII):
            raise NotImplementedFeature(
                "case-insensitive or ASCII-only parts of a regular expression are not supported "
                "by the PostgreSQL store; put (?i) or (?a) at the start of the pattern"
            )
        body = self.sequence(items, inner_flags)
        return ("(" if group is not None else "(?:") + body + ")"

    def repeat(self, op: Any, av: Any, flags: int) -> str:
        low, high, items = av
        unbounded = high is sre.MAXREPEAT or high == sre.MAXREPEAT
        if low > MAX_REPEAT_BOUND or (not unbounded and high > MAX_REPEAT_BOUND):
            raise TooComplexQuery(
                f"a repetition count above {MAX_REPEAT_BOUND} is not supported in regular "
                "expressions"
            )
        if (low, unbounded) == (0, True):
            quantifier = "*"
        elif (low, unbounded) == (1, True):
            quantifier = "+"
        elif unbounded:
            quantifier = f"{{{low},}}"
        elif (low, high) == (0, 1):
            quantifier = "?"
        elif low == high:
            quantifier = f"{{{low}}}"
        else:
            quantifier = f"{{{low},{high}}}"
        lazy = "?" if op is sre.MIN_REPEAT else ""
        return self.atom(items, flags) + quantifier + lazy

    def anchor(self, code: Any, flags: int) -> str:
        multiline = bool(flags & sre.SRE_FLAG_MULTILINE)
        if code is sre.AT_BEGINNING:
            return "(?:^|(?<=\\n))" if multiline else "^"
        if code is sre.AT_BEGINNING_STRING:
            return "^"
        if code is sre.AT_END:
            return "(?=\\n|$)" if multiline else "(?=\\n?$)"
        if code is sre.AT_END_STRING:
            return "$"
        if code in (sre.AT_BOUNDARY, sre.AT_NON_BOUNDARY):
            if not self.ascii:
                self.unicode = True
            if self.ascii:
                word = "[a-zA-Z0-9_]"
                before, after = f"(?<={word})", f"(?={word})"
                not_before, not_after = f"(?<!{word})", f"(?!{word})"
                boundary = f"(?:{before}{not_after}|{not_before}{after})"
                inside = f"(?:{before}{after}|{not_before}{not_after})"
                return boundary if code is sre.AT_BOUNDARY else inside
            return "\\y" if code is sre.AT_BOUNDARY else "\\Y"
        raise NotImplementedFeature(f"the anchor {code} is not supported by the PostgreSQL store")

    def charset(self, items: Any) -> str:
        negated = bool(items) and items[0][0] is sre.NEGATE
        if negated:
            items = items[1:]
        members: list[str] = []
        outside: list[str] = []  # negated categories, which ARE forbids inside brackets
        for op, av in items:
            if op is sre.LITERAL:
                members.append(_escape_char(av))
            elif op is sre.RANGE:
                members.append(_escape_char(av[0]) + "-" + _escape_char(av[1]))
            elif op is sre.CATEGORY and av in _CATEGORY_IN_SET:
                members.append(self.category(av, in_set=True))
            elif op is sre.CATEGORY:
                outside.append(self.category(av))
            else:
                raise NotImplementedFeature(
                    f"the set member {op} is not supported by the PostgreSQL store"
                )
        alternatives = (["[" + "".join(members) + "]"] if members else []) + outside
        if not alternatives:  # an empty set: nothing matches; a negated empty set: anything
            return "." if negated else "(?!)"
        positive = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(
            alternatives) + ")"
        if not negated:
            return positive
        if not outside:
            return "[^" + "".join(members) + "]"
        return "(?:(?!" + positive + ").)"


@lru_cache(maxsize=512)
def to_are(pattern: str) -> Translation:
    """The ARE form of a Python regular expression (see the module docstring)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FutureWarning "possible nested set": q warned
            parsed = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        try:
            regex.compile(pattern)
        except (regex.error, RecursionError, OverflowError, ValueError):
            raise BadRequestData(
                f"invalid regular expression ({getattr(exc, 'msg', exc)})"
            ) from None
        raise NotImplementedFeature(
            "this regular expression uses syntax the PostgreSQL store does not support "
            f"({getattr(exc, 'msg', exc)})"
        ) from None
    flags = parsed.state.flags
    writer = _Writer(flags)
    items = list(parsed)
    tail = ""
    if items and items[-1] == (sre.AT, sre.AT_END) and not flags & sre.SRE_FLAG_MULTILINE:
        items.pop()  # a final `$`: nothing follows, so the newline may be consumed (faster)
        tail = "\\n?$"
    body = writer.sequence(items, flags) + tail
    if flags & sre.SRE_FLAG_IGNORECASE:
        body = "(?i)" + body
    return Translation(body, writer.unicode)
