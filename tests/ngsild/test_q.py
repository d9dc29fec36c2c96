"""Tests of the NGSI-LD `q` query language: parser, tree helpers and in-memory evaluator."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityhub.ngsild.errors import BadRequestData
from cityhub.ngsild.logic import And, Or
from cityhub.ngsild.q import (
    AttrPath,
    Comparison,
    Exists,
    QNode,
    Range,
    Scalar,
    attr_paths,
    map_attrs,
    matches,
    parse_q,
)

A = AttrPath("a")
B = AttrPath("b")
C = AttrPath("c")


def ex(name: str) -> Exists:
    return Exists(AttrPath(name))


def cmp(name: str, op: str, value: Scalar | Range | tuple[Scalar, ...]) -> Comparison:
    return Comparison(AttrPath(name), op, value)


# --- parsing: values and operators -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("a==1", 1),
        ("a==-17", -17),
        ("a==+3", 3),
        ("a==0", 0),
        ("a==1.5", 1.5),
        ("a==-0.25", -0.25),
        ("a==1e3", 1000.0),
        ("a==2.5E-2", 0.025),
        ('a=="hello"', "hello"),
        ("a=='single'", "single"),
        ('a=="with \\"quote\\" and \\\\ backslash"', 'with "quote" and \\ backslash'),
        ("a=='it\\'s'", "it's"),
        ('a=="keep \\d as is"', "keep \\d as is"),
        ('a=="spaces and ; | ( ) , = allowed"', "spaces and ; | ( ) , = allowed"),
        ('a==""', ""),
        ('a=="12"', "12"),
        ('a=="true"', "true"),
        ("a==true", True),
        ("a==false", False),
        ("a==True", "True"),
        ("a==2018-12-04T12:00:00Z", "2018-12-04T12:00:00Z"),
        ("a==2018-12-04T12:00:00.123+01:00", "2018-12-04T12:00:00.123+01:00"),
        ("a==2018-12-04", "2018-12-04"),
        ("a==12:00:00", "12:00:00"),
        ("a==urn:ngsi-ld:Building:1", "urn:ngsi-ld:Building:1"),
        ("a==https://example.org/x/y#z", "https://example.org/x/y#z"),
        ("a==plainword", "plainword"),
        ("a==ünïcödé", "ünïcödé"),
    ],
)
def test_values(text: str, value: Scalar) -> None:
    node = parse_q(text)
    assert node == cmp("a", "==", value)
    assert type(node.value) is type(value)  # type: ignore[union-attr]


@pytest.mark.parametrize("op", ["==", "!=", ">", ">=", "<", "<="])
def test_comparison_operators(op: str) -> None:
    assert parse_q(f"temperature{op}20") == cmp("temperature", op, 20)
    assert parse_q(f'name{op}"x"') == cmp("name", op, "x")


@pytest.mark.parametrize("op", ["~=", "!~="])
def test_regex_operators(op: str) -> None:
    assert parse_q(f"name{op}^Bu.*g$") == cmp("name", op, "^Bu.*g$")
    assert parse_q(f'name{op}"a b|c"') == cmp("name", op, "a b|c")


def test_unquoted_regex_extent() -> None:
    # Parentheses are balanced inside the pattern; ';', '|' and ')' end it at depth 0.
    assert parse_q("a~=(x|y)z;b") == And((cmp("a", "~=", "(x|y)z"), ex("b")))
    assert parse_q("a~=x|b") == Or((cmp("a", "~=", "x"), ex("b")))
    assert parse_q("(a~=x)") == cmp("a", "~=", "x")
    assert parse_q("a~=x\\|y") == cmp("a", "~=", "x\\|y")
    assert parse_q("a~=\\)") == cmp("a", "~=", "\\)")
    assert parse_q("a~=x,y..z=1") == cmp("a", "~=", "x,y..z=1")
    assert parse_q("a~=(?i)bus") == cmp("a", "~=", "(?i)bus")


def test_range_and_lists() -> None:
    assert parse_q("a==1..5") == cmp("a", "==", Range(1, 5))
    assert parse_q("a!=1.5..2.5") == cmp("a", "!=", Range(1.5, 2.5))
    assert parse_q("a==-5..-1") == cmp("a", "==", Range(-5, -1))
    assert parse_q("d==2018-01-01..2018-12-31") == cmp("d", "==", Range("2018-01-01", "2018-12-31"))
    assert parse_q('a=="a".."c"') == cmp("a", "==", Range("a", "c"))
    assert parse_q("a==1,2,3") == cmp("a", "==", (1, 2, 3))
    assert parse_q('a!=1,"x",true,2.5') == cmp("a", "!=", (1, "x", True, 2.5))
    assert parse_q("a==urn:a,urn:b") == cmp("a", "==", ("urn:a", "urn:b"))


def test_exists_and_absent() -> None:
    assert parse_q("a") == ex("a")
    assert parse_q("!a") == Exists(A, negated=True)
    assert parse_q("!a.b[c]") == Exists(AttrPath("a", ("b",), ("c",)), negated=True)
    assert parse_q("!a;b") == And((Exists(A, True), Exists(B)))


# --- parsing: paths ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("a", AttrPath("a")),
        ("a.b", AttrPath("a", ("b",))),
        ("a.b.c", AttrPath("a", ("b", "c"))),
        ("a[b]", AttrPath("a", (), ("b",))),
        ("a[b][c]", AttrPath("a", (), ("b", "c"))),
        ("a[b.c]", AttrPath("a", (), ("b", "c"))),
        ("a.s[b.c]", AttrPath("a", ("s",), ("b", "c"))),
        ("a.s.t[b][c.d]", AttrPath("a", ("s", "t"), ("b", "c", "d"))),
        ("schema:name", AttrPath("schema:name")),
        ("https://ex.org/ns#temp", AttrPath("https://ex", ("org/ns#temp",))),
        ("@id", AttrPath("@id")),
        ("air_quality-index", AttrPath("air_quality-index")),
        ("température", AttrPath("température")),
        ("名前", AttrPath("名前")),
        ("x2[0]", AttrPath("x2", (), ("0",))),
    ],
)
def test_paths(text: str, path: AttrPath) -> None:
    assert parse_q(text) == Exists(path)
    assert parse_q(text + "==1") == Comparison(path, "==", 1)


# --- parsing: connectives ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a;b", And((ex("a"), ex("b")))),
        ("a|b", Or((ex("a"), ex("b")))),
        ("a;b;c", And((ex("a"), ex("b"), ex("c")))),
        ("a;b|c", Or((And((ex("a"), ex("b"))), ex("c")))),
        ("a|b;c", Or((ex("a"), And((ex("b"), ex("c")))))),
        ("(a|b);c", And((Or((ex("a"), ex("b"))), ex("c")))),
        ("a;(b|c)", And((ex("a"), Or((ex("b"), ex("c")))))),
        ("(a;b);c", And((ex("a"), ex("b"), ex("c")))),
        ("a|(b|c)", Or((ex("a"), ex("b"), ex("c")))),
        ("((a))", ex("a")),
        ("((a;b));(c)", And((ex("a"), ex("b"), ex("c")))),
        ("(a|b)|(c;a)", Or((ex("a"), ex("b"), And((ex("c"), ex("a")))))),
        ("((a|b);(c|a))|b", Or((And((Or((ex("a"), ex("b"))), Or((ex("c"), ex("a"))))), ex("b")))),
        (
            'temperature>20;brand=="Volvo"|(speed<=50.5;!broken)',
            Or(
                (
                    And((cmp("temperature", ">", 20), cmp("brand", "==", "Volvo"))),
                    And((cmp("speed", "<=", 50.5), Exists(AttrPath("broken"), True))),
                )
            ),
        ),
    ],
)
def test_connectives(text: str, tree: QNode) -> None:
    assert parse_q(text) == tree


def test_nesting_up_to_max_depth() -> None:
    assert parse_q("(" * 32 + "a" + ")" * 32) == ex("a")
    assert parse_q("(" * 5 + "a" + ")" * 5, max_depth=5) == ex("a")
    with pytest.raises(BadRequestData, match="position 5"):
        parse_q("(" * 6 + "a" + ")" * 6, max_depth=5)


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pos"),
    [
        ("a==", 3),
        ("brand==;b", 7),
        ("==1", 0),
        ("a=1", 1),
        ("a===1", 3),
        ("a==1==2", 4),
        ("a == 1", 1),
        ("a==1 ", 4),
        ("a==1;DROP TABLE x", 9),
        ("a;;b", 2),
        ("a||b", 2),
        (";a", 0),
        ("a|", 2),
        ("()", 1),
        ("(a", 0),
        ("a;(b", 2),
        ("a)", 1),
        ("(a))", 3),
        ("a(b)", 1),
        ('a=="x', 3),
        ("a=='x\\'", 3),
        ('"a"==1', 0),
        ("!a==1", 2),
        ("!!a", 1),
        ("a.", 2),
        ("a..b", 2),
        ("a[b", 3),
        ("a[]", 2),
        ("a[b]c", 4),
        ("a[b].c", 4),
        ("a>1..5", 3),
        ("a<=1,2", 4),
        ("a>true", 2),
        ("a<false", 2),
        ("a==1..", 6),
        ("a==..5", 3),
        ("a==1..true", 6),
        ("a==false..2", 3),
        ('a==1.."z"', 3),
        ("a==1..5,6", 7),
        ("a==1,", 5),
        ("a==1,,2", 5),
        ("a~=", 3),
        ("a~=(", 3),
        ("a~=x;b~=[", 8),
        ("a~=*", 3),
        ("a~=x y", 4),
        ('a~="(unclosed"', 3),
        ("a==" + "9" * 5000, 3),
        ("a==1e999", 3),
        ("a\0", 1),
        ("a==\ud800", 3),
        ("a==\x07", 3),
        ("a\t", 1),
        ("a\u00a0==1", 1),
    ],
)
def test_error_positions(text: str, pos: int) -> None:
    with pytest.raises(BadRequestData) as info:
        parse_q(text, max_length=10_000)
    message = str(info.value)
    assert message.startswith("q: ")
    assert re.search(rf"\bat position {pos}\b", message), message
    assert info.value.detail == message


def test_error_messages_are_explicit() -> None:
    with pytest.raises(BadRequestData, match=r"^q: expected a value at position 3"):
        parse_q("a==")
    with pytest.raises(BadRequestData, match="whitespace"):
        parse_q("a== 1")
    with pytest.raises(BadRequestData, match="only allowed with '==' and '!='"):
        parse_q("a>1..3")
    with pytest.raises(BadRequestData, match="unbalanced"):
        parse_q("(a")
    with pytest.raises(BadRequestData, match="regular expression"):
        parse_q("a~=[z-a]")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "=",
        "==",
        "!",
        "!=",
        "~=",
        ";",
        "|",
        "(",
        ")",
        ")(",
        "((a)",
        '"',
        "'",
        '""',
        "a==\"'",
        "\0",
        "a==1\0",
        "a==1;DROP TABLE x",
        "a==1'; DROP TABLE entities; --",
        "1 OR 1=1",
        "a==1 OR 1=1",
        "<script>alert(1)</script>",
        "a[[b]]",
        "a]",
        "a==[1,2]",
        "a==1;",
        "a~=(?<",
        "a~=(((((",
    ],
)
def test_hostile_inputs(text: str) -> None:
    with pytest.raises(BadRequestData):
        parse_q(text)


def test_deep_nesting_is_rejected_without_recursion() -> None:
    deep = "(" * 10_000 + "a" + ")" * 10_000
    with pytest.raises(BadRequestData, match="longer than 4096"):
        parse_q(deep)
    with pytest.raises(BadRequestData, match="nested deeper than 32 levels at position 32"):
        parse_q(deep, max_length=100_000)
    with pytest.raises(BadRequestData):
        parse_q("(" * 10_000, max_length=100_000, max_depth=100_000)
    with pytest.raises(BadRequestData):
        parse_q("a~=" + "(" * 5_000 + ")" * 5_000, max_length=100_000)


def test_max_length() -> None:
    text = "a==" + "1" * 97
    assert len(text) == 100
    assert parse_q(text, max_length=100) == cmp("a", "==", int("1" * 97))
    with pytest.raises(BadRequestData, match="longer than 99 characters"):
        parse_q(text, max_length=99)


def test_non_string_input() -> None:
    with pytest.raises(BadRequestData):
        parse_q(None)  # type: ignore[arg-type]


# --- map_attrs and attr_paths ------------------------------------------------------------------


def test_map_attrs_expands_attrs_and_sub_attrs_not_compound_keys() -> None:
    tree = parse_q("a.b[c.d]==1;!e|(f~=x;g)")
    mapped = map_attrs(tree, lambda name: "https://ex.org/" + name)
    assert mapped == Or(
        (
            And(
                (
                    Comparison(
                        AttrPath("https://ex.org/a", ("https://ex.org/b",), ("c", "d")), "==", 1
                    ),
                    Exists(AttrPath("https://ex.org/e"), True),
                )
            ),
            And(
                (
                    Comparison(AttrPath("https://ex.org/f"), "~=", "x"),
                    Exists(AttrPath("https://ex.org/g")),
                )
            ),
        )
    )
    assert tree == parse_q("a.b[c.d]==1;!e|(f~=x;g)")  # unchanged
    assert map_attrs(ex("a"), str.upper) == ex("A")


def test_attr_paths_in_order_with_duplicates() -> None:
    tree = parse_q("a==1;(b.s|c[k])|a;!d")
    assert attr_paths(tree) == [
        A,
        AttrPath("b", ("s",)),
        AttrPath("c", (), ("k",)),
        A,
        AttrPath("d"),
    ]
    assert attr_paths(ex("z")) == [AttrPath("z")]


# --- evaluator ---------------------------------------------------------------------------------


def _key(path: AttrPath) -> str:
    return ".".join((path.attr, *path.sub)) + "".join(f"[{k}]" for k in path.compound)


def m(text: str, entity: dict[str, list[Scalar]]) -> bool:
    return matches(parse_q(text), lambda path: entity.get(_key(path)))


def test_exists() -> None:
    assert m("a", {"a": [1]})
    assert m("a", {"a": []})  # non-scalar value: present
    assert not m("a", {})
    assert m("!a", {})
    assert not m("!a", {"a": []})
    assert m("a.b[c]", {"a.b[c]": [1]})
    assert not m("a.b[c]", {"a.b": [1]})


@pytest.mark.parametrize(
    "text",
    [
        "a==1",
        "a!=1",
        "a>1",
        "a>=1",
        "a<1",
        "a<=1",
        "a~=x",
        "a!~=x",
        "a==1..2",
        "a!=1..2",
        "a==1,2",
        "a!=1,2",
        "a!=true",
    ],
)
def test_comparison_on_absent_path_is_false(text: str) -> None:
    assert not m(text, {})
    assert not m(text, {"b": [1, "x"]})


def test_equality_numbers_bools_strings() -> None:
    assert m("a==1", {"a": [1]})
    assert m("a==1", {"a": [1.0]})
    assert m("a==1.0", {"a": [1]})
    assert not m("a==1", {"a": [2]})
    assert not m("a==1", {"a": [True]})
    assert not m("a==true", {"a": [1]})
    assert not m("a==0", {"a": [False]})
    assert m("a==true", {"a": [True]})
    assert not m("a==true", {"a": [False]})
    assert m("a==false", {"a": [False]})
    assert not m('a=="1"', {"a": [1]})
    assert not m("a==1", {"a": ["1"]})
    assert m("a==x", {"a": ["x"]})
    assert m("a==urn:ngsi-ld:B:1", {"a": ["urn:ngsi-ld:B:1"]})
    assert not m("a==1", {"a": []})


def test_equality_any_leaf_of_array() -> None:
    assert m("a==2", {"a": [1, 2, 3]})
    assert not m("a==4", {"a": [1, 2, 3]})
    assert not m("a!=2", {"a": [1, 2, 3]})
    assert m("a!=4", {"a": [1, 2, 3]})


def test_inequality() -> None:
    assert m("a!=1", {"a": [2]})
    assert not m("a!=1", {"a": [1.0]})
    assert m("a!=1", {"a": [True]})
    assert m("a!=true", {"a": [1]})
    assert m('a!="x"', {"a": ["y"]})
    assert m("a!=1", {"a": []})  # present, and no leaf equals 1


def test_value_lists() -> None:
    assert m("a==1,2,3", {"a": [3]})
    assert m("a==1,2,3", {"a": [9, 2.0]})
    assert not m("a==1,2,3", {"a": [4]})
    assert m('a==x,"y",true', {"a": [True]})
    assert not m("a==1,2", {"a": [True]})
    assert m("a!=1,2", {"a": [3]})
    assert not m("a!=1,2", {"a": [3, 2]})


def test_ranges() -> None:
    assert m("a==1..5", {"a": [1]})
    assert m("a==1..5", {"a": [5]})
    assert m("a==1..5", {"a": [2.5]})
    assert not m("a==1..5", {"a": [0]})
    assert not m("a==1..5", {"a": [5.01]})
    assert not m("a==1..5", {"a": ["3"]})
    assert not m("a==1..5", {"a": [True]})
    assert m("a==1..5", {"a": [0, 3]})
    assert not m("a==5..1", {"a": [3]})
    assert m("a!=1..5", {"a": [7]})
    assert not m("a!=1..5", {"a": [7, 3]})
    assert not m("a!=1..5", {})
    d = "d==2018-01-01T00:00:00Z..2018-12-31T23:59:59Z"
    assert m(d, {"d": ["2018-06-15T12:00:00Z"]})
    assert not m(d, {"d": ["2019-01-01T00:00:00Z"]})
    assert not m('a=="b".."d"', {"a": [2]})
    assert m('a=="b".."d"', {"a": ["c"]})


@pytest.mark.parametrize(
    ("op", "leaf", "value", "expected"),
    [
        (">", 5, 4, True),
        (">", 4, 4, False),
        (">=", 4, 4, True),
        (">=", 3.9, 4, False),
        ("<", 3, 4, True),
        ("<", 4.0, 4, False),
        ("<=", 4.0, 4, True),
        ("<=", 5, 4, False),
        (">", "b", "a", True),
        ("<", "2018-12-04T12:00:00Z", "2018-12-05T00:00:00Z", True),
        (">=", "12:00:00", "09:30:00", True),
        (">", "5", 4, False),
        (">", 5, "4", False),
        (">", True, 0, False),
        ("<", False, 1, False),
    ],
)
def test_ordering(op: str, leaf: Scalar, value: Scalar, expected: bool) -> None:
    node = cmp("a", op, value)
    assert matches(node, lambda path: [leaf]) is expected


def test_ordering_any_leaf_and_hand_built_bool() -> None:
    assert m("a>10", {"a": [1, 20]})
    assert not m("a>10", {"a": [1, 2]})
    assert not m("a>10", {"a": []})
    assert not matches(cmp("a", ">", True), lambda path: [True, 2])
    assert not matches(cmp("a", ">", (1, 2)), lambda path: [5])


def test_regex() -> None:
    assert m("a~=^Bus", {"a": ["Bus stop"]})
    assert m("a~=stop", {"a": ["Bus stop"]})  # search, not match
    assert not m("a~=^stop", {"a": ["Bus stop"]})
    assert m("a~=(?i)^bus", {"a": ["Bus stop"]})
    assert m("a~=\\d+", {"a": ["abc", "x12"]})
    assert not m("a~=1", {"a": [1, 12]})  # numbers are not strings
    assert not m("a~=true", {"a": [True]})
    assert not m("a!~=^B", {"a": ["Bus"]})
    assert m("a!~=^B", {"a": ["Car"]})
    assert not m("a!~=^B", {"a": ["Car", "Bus"]})
    assert m("a!~=1", {"a": [1]})  # present, and no string leaf matches
    assert m("a!~=x", {"a": []})
    assert not m("a!~=x", {})


def test_connectives_eval() -> None:
    entity: dict[str, list[Scalar]] = {"a": [1], "b": ["x"]}
    assert m("a==1;b==x", entity)
    assert not m("a==1;b==y", entity)
    assert m("a==2|b==x", entity)
    assert not m("a==2|b==y", entity)
    assert m("a==2;c|b", entity)  # (a==2;c)|b
    assert not m("a==2;(c|b)", entity)
    assert m("!c;(a>0|c==1)", entity)


def test_unknown_operator_of_a_hand_built_tree() -> None:
    with pytest.raises(ValueError, match="unknown q operator"):
        matches(cmp("a", "=~", 1), lambda path: [1])


# --- property-based tests ----------------------------------------------------------------------

_NAME = st.text(alphabet="abcxyzé_:@#/-019", min_size=1, max_size=6)
_PATH = st.builds(
    AttrPath,
    _NAME,
    st.lists(_NAME, max_size=2).map(tuple),
    st.lists(_NAME, max_size=2).map(tuple),
)
_INTS = st.integers(min_value=-(10**20), max_value=10**20)
_FLOATS = st.floats(allow_nan=False, allow_infinity=False)
_STRINGS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"))
_NUMBERS = _INTS | _FLOATS
_SCALARS = _NUMBERS | _STRINGS | st.booleans()
_RANGES = st.builds(Range, _NUMBERS, _NUMBERS) | st.builds(Range, _STRINGS, _STRINGS)
_LISTS = st.lists(_SCALARS, min_size=2, max_size=4).map(tuple)
_PATTERNS = st.sampled_from(["", "a", "^x.*$", "(a|b)", "\\d+", 'say "hi"', "a;b|c", "[)]", "\\\\"])

_EQUALITY = st.builds(Comparison, _PATH, st.sampled_from(["==", "!="]), _SCALARS | _RANGES | _LISTS)
_ORDERING = st.builds(
    Comparison, _PATH, st.sampled_from([">", ">=", "<", "<="]), _NUMBERS | _STRINGS
)
_REGEXES = st.builds(Comparison, _PATH, st.sampled_from(["~=", "!~="]), _PATTERNS)
_LEAVES = _EQUALITY | _ORDERING | _REGEXES | st.builds(Exists, _PATH, st.booleans())
_TREES = st.recursive(
    _LEAVES,
    lambda children: (
        st.builds(And, st.lists(children, min_size=2, max_size=4).map(tuple))
        | st.builds(Or, st.lists(children, min_size=2, max_size=4).map(tuple))
    ),
    max_leaves=12,
)


def render_scalar(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_path(path: AttrPath) -> str:
    text = ".".join((path.attr, *path.sub))
    return text + "".join(f"[{key}]" for key in path.compound)


def render(node: QNode) -> str:
    if isinstance(node, And | Or):
        sep = ";" if isinstance(node, And) else "|"
        return sep.join(
            f"({render(item)})" if isinstance(item, And | Or) else render(item)
            for item in node.items
        )
    if isinstance(node, Exists):
        return ("!" if node.negated else "") + render_path(node.path)
    value = node.value
    if isinstance(value, Range):
        text = render_scalar(value.low) + ".." + render_scalar(value.high)
    elif isinstance(value, tuple):
        text = ",".join(render_scalar(v) for v in value)
    else:
        text = render_scalar(value)
    return render_path(node.path) + node.op + text


def flatten(node: QNode) -> QNode:
    if isinstance(node, And | Or):
        kind = type(node)
        items: list[QNode] = []
        for item in map(flatten, node.items):
            items.extend(item.items if isinstance(item, kind) else [item])
        return kind(tuple(items))
    return node


@settings(max_examples=100, deadline=None, database=None)
@given(_TREES)
def test_render_parse_roundtrip(tree: QNode) -> None:
    text = render(tree)
    assert parse_q(text, max_length=1_000_000) == flatten(tree)


_METACHARS = [*"=<>!~;|()[],.\"'\\ \t\0.:-+eE", "a", "b", "1", "0", "true", "==", "..", "é"]


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.sampled_from(_METACHARS), max_size=30).map("".join))
def test_random_text_only_raises_bad_request(text: str) -> None:
    try:
        node = parse_q(text)
    except BadRequestData as exc:
        assert str(exc).startswith("q: ")
        return
    leaves: list[Scalar] = ["a", 1, 1.5, True, "1"]
    matches(node, lambda path: leaves)
    matches(node, lambda path: None)
    assert attr_paths(map_attrs(node, str.upper))


@settings(max_examples=100, deadline=None, database=None)
@given(
    _EQUALITY,
    st.lists(_SCALARS, max_size=4),
)
def test_not_equal_is_present_and_not_equal(node: Comparison, values: Sequence[Scalar]) -> None:
    eq = Comparison(node.path, "==", node.value)
    ne = Comparison(node.path, "!=", node.value)
    assert matches(ne, lambda path: values) is not matches(eq, lambda path: values)
    assert not matches(ne, lambda path: None)
    assert not matches(eq, lambda path: None)
