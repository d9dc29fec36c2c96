"""Tests of cityhub.ngsild.scope: Entity scopes and the Scope Query Language."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityhub.ngsild.errors import BadRequestData
from cityhub.ngsild.logic import And, Or
from cityhub.ngsild.scope import (
    MAX_SCOPES,
    ScopeMatch,
    format_scopeq,
    parse_scopeq,
    scope_matches,
    scope_regex,
    validate_scope,
)


def sm(text: str) -> ScopeMatch:
    return ScopeMatch(tuple(text[1:].split("/")))


# ------------------------------------------------------------------------------------------
# validate_scope
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/Madrid", ["/Madrid"]),
        ("/Madrid/Gardens/ParqueNorte", ["/Madrid/Gardens/ParqueNorte"]),
        (["/Madrid/Gardens", "/CompanyA"], ["/Madrid/Gardens", "/CompanyA"]),
        (["/B", "/A", "/B"], ["/B", "/A"]),  # duplicates dropped, order kept
        ("/세종/공원", ["/세종/공원"]),
        ("/a.b/c-d/e_f/g:h/i~j/'k'", ["/a.b/c-d/e_f/g:h/i~j/'k'"]),
    ],
)
def test_valid_scopes(value, expected):
    assert validate_scope(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "must start with '/'"),
        ("Madrid", "must start with '/'"),
        ("/", "an empty level at position 1"),
        ("/A/", "an empty level at position 3"),
        ("//A", "an empty level at position 1"),
        ("/A//B", "an empty level at position 3"),
        ("/A/+", "the wildcard character '+'"),
        ("/A/#", "the wildcard character '#'"),
        ("/A+B", "the wildcard character '+'"),
        ("/A B", "the character ' '"),
        ("/A\tB", "the character '\\t'"),
        ("/A\x00", "the character '\\x00'"),
        ("/A\u200b", "the character '\\u200b'"),  # zero-width space is not printable
        ("/A;B", "the character ';'"),
        ("/A,B", "the character ','"),
        ("/(A)", "the character '('"),
        ("/A|B", "the character '|'"),
        ("/" + "a" * 2000, "longer than 1024"),
        (5, "must be a string or an array of strings"),
        (None, "must be a string or an array of strings"),
        ({"value": "/A"}, "must be a string or an array of strings"),
        (("/A",), "must be a string or an array of strings"),
        ([], "must not be an empty array"),
        (["/A", 5], "scope[1] must be a string"),
        (["/A", ["/B"]], "scope[1] must be a string"),
        (["/A", "B"], "scope[1] 'B' must start with '/'"),
        ([f"/s{i}" for i in range(MAX_SCOPES + 1)], "at most 256 scopes"),
    ],
)
def test_invalid_scopes(value, message):
    with pytest.raises(BadRequestData) as info:
        validate_scope(value)
    assert message in info.value.detail


# ------------------------------------------------------------------------------------------
# parse_scopeq
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/Madrid", ScopeMatch(("Madrid",))),
        ("/Madrid/+/Parks", ScopeMatch(("Madrid", "+", "Parks"))),
        ("/#", ScopeMatch(("#",))),
        ("/CompanyA/#", ScopeMatch(("CompanyA", "#"))),
        ("/+", ScopeMatch(("+",))),
        ("/+/+/#", ScopeMatch(("+", "+", "#"))),
        ("/세종/+", ScopeMatch(("세종", "+"))),
        ("/A;/B", And((sm("/A"), sm("/B")))),
        ("/A|/B", Or((sm("/A"), sm("/B")))),
        ("/A,/B", Or((sm("/A"), sm("/B")))),
        ("/A,/B|/C", Or((sm("/A"), sm("/B"), sm("/C")))),
        # spec EXAMPLE 4 and 5
        ("(/Madrid/Districts;/CompanyA)", And((sm("/Madrid/Districts"), sm("/CompanyA")))),
        (
            "(/Madrid/Districts;/CompanyA)|/CompanyB",
            Or((And((sm("/Madrid/Districts"), sm("/CompanyA"))), sm("/CompanyB"))),
        ),
        # AND binds tighter than OR
        ("/A;/B|/C", Or((And((sm("/A"), sm("/B"))), sm("/C")))),
        ("/A|/B;/C", Or((sm("/A"), And((sm("/B"), sm("/C")))))),
        ("(/A|/B);/C", And((Or((sm("/A"), sm("/B"))), sm("/C")))),
        # flattening and redundant parentheses
        ("(/A|/B)|/C", Or((sm("/A"), sm("/B"), sm("/C")))),
        ("/A;(/B;(/C))", And((sm("/A"), sm("/B"), sm("/C")))),
        ("((/A))", sm("/A")),
        # whitespace between tokens
        (" /A ; ( /B | /C ) ", And((sm("/A"), Or((sm("/B"), sm("/C")))))),
    ],
)
def test_parse_scopeq(text, expected):
    assert parse_scopeq(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("Madrid", "must start with '/' at position 0"),
        ("/A;Madrid", "must start with '/' at position 3"),
        ("/", "an empty level at position 1"),
        ("/A/", "an empty level at position 3"),
        ("/A//B", "an empty level at position 3"),
        ("/A/#/B", "'#' is only allowed as the last level (position 3)"),
        ("/#/#", "'#' is only allowed as the last level (position 1)"),
        ("/A+", "a wildcard inside a level ('+' and '#' must be whole levels) at position 1"),
        ("/A/B#", "a wildcard inside a level"),
        ("/A;", "expected a scope at position 3 (end of input)"),
        ("/A|", "expected a scope at position 3 (end of input)"),
        (";/A", "expected a scope at position 0, got ';'"),
        ("/A;;/B", "expected a scope at position 3, got ';'"),
        ("/A|,/B", "expected a scope at position 3, got ','"),
        ("(/A", "missing ')' for the '(' at position 0 (at position 3)"),
        ("(/A;/B", "missing ')' for the '(' at position 0"),
        ("(/A /B)", "missing ')' for the '(' at position 0 (at position 4)"),
        ("/A)", "unmatched ')' at position 2"),
        ("()", "expected a scope at position 1, got ')'"),
        ("/A(/B)", "expected ';', '|' or ',' at position 2, got '('"),
        ("/A /B", "expected ';', '|' or ',' at position 3, got '/B'"),
        ("/A\x00", "control character '\\x00' at position 2"),
        ("/Madrid/ /Parks", "percent-encoded as %2B"),  # a '+' decoded as a space
        ("(" * 33 + "/A" + ")" * 33, "nested deeper than 32 at position 32"),
    ],
)
def test_parse_errors_say_what_and_where(text, message):
    with pytest.raises(BadRequestData) as info:
        parse_scopeq(text)
    assert message in info.value.detail


def test_nesting_up_to_the_limit_is_fine():
    assert parse_scopeq("(" * 32 + "/A" + ")" * 32) == sm("/A")


@pytest.mark.parametrize(
    "text",
    [
        "(" * 10_000,
        "(" * 5_000 + "/A" + ")" * 5_000,
        "/A;" * 5_000 + "/A",
        "/" + "a/" * 20_000,
        "\x00" * 10_000,
        ")" * 10_000,
    ],
)
def test_hostile_input_is_rejected_cleanly(text):
    with pytest.raises(BadRequestData):
        parse_scopeq(text)
    with contextlib.suppress(BadRequestData):  # within the limit: a tree or a clean error
        parse_scopeq(text[:2048])


def test_max_length():
    text = "|".join(["/Madrid"] * 300)
    with pytest.raises(BadRequestData, match="too long"):
        parse_scopeq(text)
    assert isinstance(parse_scopeq(text, max_length=len(text)), Or)


@pytest.mark.parametrize("value", [None, 5, b"/A", ["/A"]])
def test_non_string_scopeq(value):
    with pytest.raises(BadRequestData, match="must be a string"):
        parse_scopeq(value)


# ------------------------------------------------------------------------------------------
# scope_matches
# ------------------------------------------------------------------------------------------

ONE = ["/Madrid/Gardens/ParqueNorte"]
MANY = ["/Madrid/Gardens/ParqueNorte", "/CompanyA/OrganizationB/UnitC"]


@pytest.mark.parametrize(
    ("query", "count"),
    [
        # ETSI test suite 019_01_06 (entities ONE and MANY)
        ("/Madrid/Gardens/ParqueNorte", 2),
        ("/Madrid/+/ParqueNorte", 2),
        ("/CompanyA/#", 1),
        ("/#", 2),
        ("/Madrid/Gardens/ParqueNorte;/CompanyA/OrganizationB/UnitC", 1),
        ("/Madrid/Gardens/ParqueNorte,/CompanyA/OrganizationB/UnitC", 2),
        # ETSI test suite 019_34
        ("(/Madrid/Gardens/ParqueNorte;/CompanyA/OrganizationB/UnitC)", 1),
        (
            "(/Madrid/Gardens/ParqueNorte;/CompanyA/OrganizationB/UnitC)|/Madrid/Gardens/ParqueNorte",
            2,
        ),
        ("/CompanyA/OrganizationB/UnitC|/Nowhere/AtAll", 1),
        ("(/Madrid/Gardens/ParqueNorte;/Nowhere/AtAll)", 0),
        # more
        ("/Madrid", 0),
        ("/Madrid/#", 2),
        ("/Madrid/Gardens/#", 2),
        ("/Madrid/Gardens/ParqueNorte/#", 2),  # '#' matches zero further levels
        ("/Madrid/Gardens/ParqueNorte/+", 0),  # '+' needs exactly one more level
        ("/+", 0),
        ("/+/+/+", 2),
        ("/+/+", 0),
        ("/+/#", 2),
        ("/+/OrganizationB/#", 1),
    ],
)
def test_scope_matches_like_the_etsi_test_suite(query, count):
    node = parse_scopeq(query)
    assert sum(scope_matches(node, scopes) for scopes in (ONE, MANY)) == count


@pytest.mark.parametrize(
    ("pattern", "scope", "expected"),
    [
        ("/A/#", "/A", True),
        ("/A/#", "/A/B", True),
        ("/A/#", "/A/B/C", True),
        ("/A/#", "/AB", False),
        ("/A/#", "/B/A", False),
        ("/#", "/anything/at/all", True),
        ("/A/+", "/A", False),
        ("/A/+", "/A/B", True),
        ("/A/+", "/A/B/C", False),
        ("/+/B", "/A/B", True),
        ("/+/B", "/A/C", False),
        ("/A", "/A", True),
        ("/A", "/a", False),  # case-sensitive
        ("/A", "/A/B", False),
        ("/A/B", "/A", False),
    ],
)
def test_single_scope_semantics(pattern, scope, expected):
    assert scope_matches(parse_scopeq(pattern), [scope]) is expected


def test_entity_without_scope_matches_nothing():
    assert scope_matches(parse_scopeq("/#"), []) is False
    assert scope_matches(parse_scopeq("/#|/A"), ()) is False


def test_a_bare_string_is_one_scope():
    assert scope_matches(parse_scopeq("/A/#"), "/A/B") is True
    assert scope_matches(parse_scopeq("/A"), "/B") is False


def test_and_may_match_through_different_scopes():
    node = parse_scopeq("/A;/B")
    assert scope_matches(node, ["/A", "/B"]) is True
    assert scope_matches(node, ["/A"]) is False


def test_garbage_scopes_are_skipped():
    assert scope_matches(parse_scopeq("/#"), ["not-a-scope", 5, None]) is False  # type: ignore[list-item]
    assert scope_matches(parse_scopeq("/A"), ["nope", "/A"]) is True


def test_unknown_node_type():
    with pytest.raises(TypeError):
        scope_matches("/A", ["/A"])  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# scope_regex
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "regex"),
    [
        ("/A", "^/A$"),
        ("/Madrid/+/Parks", "^/Madrid/[^/]+/Parks$"),
        ("/A/#", "^/A(/.*)?$"),
        ("/+/#", "^/[^/]+(/.*)?$"),
        ("/#", "^/.*$"),
        ("/a.b/c*d", "^/a\\.b/c\\*d$"),
        ("/$x^/[y]/{z}/\\w/?", "^/\\$x\\^/\\[y\\]/\\{z\\}/\\\\w/\\?$"),
        ("/세종/공원", "^/세종/공원$"),
    ],
)
def test_scope_regex(pattern, regex):
    assert scope_regex(parse_scopeq(pattern)) == regex


def test_scope_regex_rejects_misplaced_hash():
    with pytest.raises(BadRequestData):
        scope_regex(ScopeMatch(("A", "#", "B")))
    with pytest.raises(BadRequestData):
        scope_regex(ScopeMatch(()))


# Only these constructs: anchors, [^/]+, (/.*)?, .*, plain characters and \-escaped punctuation.
_PORTABLE = re.compile(r"\^(?:\[\^/\]\+|\(/\.\*\)\?|\.\*|\\[^0-9A-Za-z\s]|[^\\^$.*+?()\[\]{}|])*\$")

LEVEL_ALPHABET = st.sampled_from(list("ab.*$^[]{}\\?-'세:~\"&"))
LEVEL = st.text(LEVEL_ALPHABET, min_size=1, max_size=3)
SCOPES = st.lists(LEVEL, min_size=1, max_size=4).map(lambda levels: "/" + "/".join(levels))


@st.composite
def patterns(draw) -> ScopeMatch:
    fixed = draw(st.lists(st.one_of(st.just("+"), LEVEL), min_size=0, max_size=4))
    hash_tail = draw(st.booleans()) or not fixed
    return ScopeMatch((*fixed, "#") if hash_tail else tuple(fixed))


@settings(max_examples=200, deadline=None)
@given(pattern=patterns(), scope=SCOPES, data=st.data())
def test_scope_regex_agrees_with_scope_matches(pattern, scope, data):
    if data.draw(st.booleans()):  # likely a match: instantiate the pattern's wildcards
        levels: list[str] = []
        for seg in pattern.segments:
            if seg == "+":
                levels.append(data.draw(LEVEL))
            elif seg == "#":
                levels.extend(data.draw(st.lists(LEVEL, max_size=2)))
            else:
                levels.append(seg)
        if levels:
            # ... or a near miss: one level longer, one level fewer, one more level
            tweak = data.draw(st.sampled_from(["none", "longer", "drop", "add"]))
            i = data.draw(st.integers(0, len(levels) - 1))
            if tweak == "longer":
                levels[i] += data.draw(LEVEL)
            elif tweak == "drop" and len(levels) > 1:
                del levels[i]
            elif tweak == "add":
                levels.insert(i, data.draw(LEVEL))
            scope = "/" + "/".join(levels)
    regex = scope_regex(pattern)
    assert _PORTABLE.fullmatch(regex), regex
    assert (re.search(regex, scope) is not None) is scope_matches(pattern, [scope])


@settings(max_examples=100, deadline=None)
@given(scope=SCOPES)
def test_generated_scopes_are_valid_and_match_themselves(scope):
    assert validate_scope(scope) == [scope]
    node = parse_scopeq(scope)
    assert scope_matches(node, [scope])
    assert re.search(scope_regex(node), scope)


# ------------------------------------------------------------------------------------------
# format_scopeq round trip
# ------------------------------------------------------------------------------------------


def _tree(leaves: st.SearchStrategy) -> st.SearchStrategy:
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
            st.lists(children, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
        ),
        max_leaves=6,
    )


def _normalise(node):
    if isinstance(node, (And, Or)):
        flat = []
        for item in map(_normalise, node.items):
            flat.extend(item.items if type(item) is type(node) else (item,))
        return type(node)(tuple(flat))
    return node


@settings(max_examples=100, deadline=None)
@given(tree=_tree(patterns()))
def test_format_then_parse_round_trips(tree):
    text = format_scopeq(tree)
    assert parse_scopeq(text, max_length=100_000) == _normalise(tree)
