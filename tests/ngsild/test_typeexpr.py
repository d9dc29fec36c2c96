"""Tests of cityhub.ngsild.typeexpr: the entity type selection language."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityhub.ngsild.errors import BadRequestData
from cityhub.ngsild.logic import MAX_NESTING, And, Or
from cityhub.ngsild.typeexpr import (
    TypeName,
    format_type_expression,
    map_types,
    parse_type_expression,
    type_matches,
    type_names,
)

A, B, C, D = TypeName("A"), TypeName("B"), TypeName("C"), TypeName("D")
AQO = "https://uri.fiware.org/ns/data-models#AirQualityObserved"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Building", TypeName("Building")),
        (AQO, TypeName(AQO)),
        ("ngsi-ld:Vehicle", TypeName("ngsi-ld:Vehicle")),
        ("urn:ngsi-ld:Type:1", TypeName("urn:ngsi-ld:Type:1")),
        ("Straße", TypeName("Straße")),
        ("A,B", Or((A, B))),
        ("A|B", Or((A, B))),
        ("A;B", And((A, B))),
        ("A,B|C", Or((A, B, C))),
        (f"Building,{AQO}", Or((TypeName("Building"), TypeName(AQO)))),
        ("(A;B)|C", Or((And((A, B)), C))),
        ("A;B|C;D", Or((And((A, B)), And((C, D))))),  # AND binds tighter than OR
        ("A;(B|C);D", And((A, Or((B, C)), D))),
        ("(A|B)|(C|D)", Or((A, B, C, D))),  # flattened
        ("A;(B;C)", And((A, B, C))),
        ("((A))", A),
        (" A , B ", Or((A, B))),
        ("\tA;\n(B | C) ", And((A, Or((B, C))))),
    ],
)
def test_parse(text, expected):
    assert parse_type_expression(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must not be empty"),
        ("  ", "must not be empty"),
        ("A,,B", "expected a type name at position 2, got ','"),
        (",A", "expected a type name at position 0, got ','"),
        ("A,", "expected a type name at position 2 (end of input)"),
        ("A;", "expected a type name at position 2 (end of input)"),
        ("A;|B", "expected a type name at position 2, got '|'"),
        ("(A", "missing ')' for the '(' at position 0 (at position 2)"),
        ("(A B)", "missing ')' for the '(' at position 0 (at position 3)"),
        ("A)", "unmatched ')' at position 1"),
        ("()", "expected a type name at position 1, got ')'"),
        ("A(B)", "expected ';', '|' or ',' at position 1, got '('"),
        ("Air Quality", "expected ';', '|' or ',' at position 4, got 'Quality'"),
        ("A\x00B", "control character '\\x00' at position 1"),
        ("A,\x7f", "control character '\\x7f' at position 2"),
        ("(" * (MAX_NESTING + 1) + "A" + ")" * (MAX_NESTING + 1), "nested deeper than 32"),
    ],
)
def test_parse_errors_say_what_and_where(text, message):
    with pytest.raises(BadRequestData) as info:
        parse_type_expression(text)
    assert message in info.value.detail


def test_nesting_up_to_the_limit():
    text = "(" * MAX_NESTING + "A" + ")" * MAX_NESTING
    assert parse_type_expression(text) == A


@pytest.mark.parametrize(
    "text",
    [
        "(" * 10_000,
        "(" * 5_000 + "A" + ")" * 5_000,
        ")" * 10_000,
        "A," * 10_000,
        "\x00" * 10_000,
        "x" * 100_000,
    ],
)
def test_hostile_input(text):
    with pytest.raises(BadRequestData):
        parse_type_expression(text)
    with contextlib.suppress(BadRequestData):  # within the limit: a tree or a clean error
        parse_type_expression(text[:2048])


def test_max_length():
    text = ",".join(["Building"] * 300)
    with pytest.raises(BadRequestData, match="too long"):
        parse_type_expression(text)
    assert len(parse_type_expression(text, max_length=5000).items) == 300


@pytest.mark.parametrize("value", [None, 5, b"A", ["A"], TypeName("A")])
def test_non_string(value):
    with pytest.raises(BadRequestData, match="must be a string"):
        parse_type_expression(value)


def test_map_types():
    context = {"A": "https://ex.org/A", "B": "https://ex.org/B"}
    tree = parse_type_expression("(A;B)|C")
    mapped = map_types(tree, lambda name: context.get(name, "https://default/" + name))
    assert mapped == Or(
        (
            And((TypeName("https://ex.org/A"), TypeName("https://ex.org/B"))),
            TypeName("https://default/C"),
        )
    )
    assert map_types(A, str.lower) == TypeName("a")
    assert tree == parse_type_expression("(A;B)|C")  # the original is untouched


def test_type_names_in_order_without_duplicates():
    assert type_names(parse_type_expression("C,(A;B)|C;A")) == ["C", "A", "B"]
    assert type_names(TypeName(AQO)) == [AQO]


@pytest.mark.parametrize(
    ("expression", "types", "expected"),
    [
        ("A", {"A"}, True),
        ("A", {"B"}, False),
        ("A", set(), False),
        ("A,B", {"B"}, True),
        ("A|B", {"C"}, False),
        ("A;B", {"A", "B"}, True),
        ("A;B", {"A"}, False),
        ("A;B", {"A", "B", "C"}, True),
        ("(A;B)|C", {"C"}, True),
        ("(A;B)|C", {"A"}, False),
        ("A;(B|C)", {"A", "C"}, True),
        ("A;(B|C)", {"B", "C"}, False),
        (AQO, [AQO], True),
    ],
)
def test_type_matches(expression, types, expected):
    assert type_matches(parse_type_expression(expression), types) is expected


def test_type_matches_with_a_bare_string():
    assert type_matches(TypeName("AB"), "AB") is True
    assert type_matches(TypeName("A"), "AB") is False  # not a substring test


def test_unknown_nodes():
    for fn in (format_type_expression, type_names):
        with pytest.raises(TypeError):
            fn("A")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        map_types("A", str)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        type_matches("A", {"A"})  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# round trip
# ------------------------------------------------------------------------------------------

NAMES = st.one_of(
    st.sampled_from(["A", "B", "Building", AQO, "ngsi-ld:Vehicle", "urn:x:1#y"]),
    st.text(
        st.characters(codec="utf-8", exclude_characters=",;|()", exclude_categories=("C", "Z")),
        min_size=1,
        max_size=12,
    ),
).map(TypeName)

TREES = st.recursive(
    NAMES,
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


def _evaluate(node, types) -> bool:
    if isinstance(node, TypeName):
        return node.name in types
    results = [_evaluate(i, types) for i in node.items]
    return all(results) if isinstance(node, And) else any(results)


@settings(max_examples=100, deadline=None)
@given(tree=TREES, data=st.data())
def test_format_then_parse_round_trips(tree, data):
    text = format_type_expression(tree)
    parsed = parse_type_expression(text, max_length=100_000)
    assert parsed == _normalise(tree)
    names = type_names(tree)
    assert type_names(parsed) == names
    types = set(data.draw(st.lists(st.sampled_from(names), unique=True)))
    assert type_matches(parsed, types) is _evaluate(tree, types)
