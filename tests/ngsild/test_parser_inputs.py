"""Any input to the ngsild parsers either parses or raises NgsiLdError (never another
exception), and long hostile inputs are answered quickly (no catastrophic backtracking).

The per-parser files test the grammars; this one feeds every parser arbitrary text and JSON.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityhub.ngsild.context import compile_context, core_term_map
from cityhub.ngsild.entity import EntityParser
from cityhub.ngsild.errors import LdContextNotAvailable, NgsiLdError
from cityhub.ngsild.geo import parse_geoq, validate_geometry
from cityhub.ngsild.q import parse_q
from cityhub.ngsild.scope import format_scopeq, parse_scopeq, validate_scope
from cityhub.ngsild.temporal import (
    parse_aggr_methods,
    parse_duration,
    parse_instance_id,
    parse_last_n,
    parse_temporal_query,
    parse_timeproperty,
)
from cityhub.ngsild.typeexpr import format_type_expression, parse_type_expression

TERMS = core_term_map()
NOW = "2026-12-01T00:00:00Z"
#: characters the grammars give meaning to, plus letters, digits and a few others
GRAMMAR_TEXT = st.text(alphabet=st.sampled_from(list(
    "()[]{};|,.:=!~<>'\"\\/#*+-_ aZ09PTYMDHS@%&^`?\t\u00e9\u0000")), max_size=80)
ANY_TEXT = st.one_of(GRAMMAR_TEXT, st.text(max_size=80))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=20,
)


def parses_or_refuses(parse: Callable[[], Any]) -> Any:
    """Run `parse`: a result, or None when it raised an NgsiLdError (anything else fails)."""
    try:
        return parse()
    except NgsiLdError as error:
        assert error.detail, error
        return None


TEXT_PARSERS: dict[str, Callable[[str], Any]] = {
    "q": parse_q,
    "scopeQ": parse_scopeq,
    "type": parse_type_expression,
    "duration": parse_duration,
    "aggrMethods": parse_aggr_methods,
    "lastN": parse_last_n,
    "timeproperty": parse_timeproperty,
    "instanceId": parse_instance_id,
    "timeAt": lambda text: parse_temporal_query(timerel="after", time_at=text),
    "between": lambda text: parse_temporal_query(timerel="between", time_at=NOW,
                                                 end_time_at=text),
    "timerel": lambda text: parse_temporal_query(timerel=text, time_at=NOW),
    "geometry": lambda text: parse_geoq("intersects", text, "[1,2]", None),
    "georel": lambda text: parse_geoq(text, "Point", "[1,2]", None),
    "coordinates": lambda text: parse_geoq("near;maxDistance==10", "Point", text, None),
    "polygon": lambda text: parse_geoq("within", "Polygon", text, None),
    "geoproperty": lambda text: parse_geoq("intersects", "Point", "[1,2]", text),
}


@pytest.mark.parametrize("name", sorted(TEXT_PARSERS))
@settings(max_examples=150, deadline=None)
@given(text=ANY_TEXT)
def test_any_text_parses_or_is_an_ngsi_ld_error(name: str, text: str) -> None:
    parses_or_refuses(lambda: TEXT_PARSERS[name](text))


@given(text=GRAMMAR_TEXT)
def test_a_parsed_type_expression_round_trips(text: str) -> None:
    tree = parses_or_refuses(lambda: parse_type_expression(text))
    if tree is not None:
        assert parse_type_expression(format_type_expression(tree)) == tree


@given(text=GRAMMAR_TEXT)
def test_a_parsed_scopeq_round_trips(text: str) -> None:
    tree = parses_or_refuses(lambda: parse_scopeq(text))
    if tree is not None:
        assert parse_scopeq(format_scopeq(tree)) == tree


@given(value=JSON)
def test_any_json_as_an_entity_parses_or_is_an_ngsi_ld_error(value: Any) -> None:
    parses_or_refuses(lambda: EntityParser(TERMS, NOW).entity(value))
    parses_or_refuses(lambda: EntityParser(TERMS, NOW, allow_null=True, partial=True)
                      .entity(value, require_id=False, require_type=False))


ATTR_VALUES = st.dictionaries(
    st.sampled_from(["type", "value", "object", "languageMap", "valueList", "objectList",
                     "json", "vocab", "observedAt", "unitCode", "datasetId", "sub"]),
    JSON, max_size=4)


@given(attrs=st.dictionaries(st.sampled_from(["a", "location", "b:c", "observationSpace"]),
                             ATTR_VALUES | JSON, max_size=3))
def test_any_attributes_of_an_entity_parse_or_are_an_ngsi_ld_error(attrs: dict) -> None:
    entity = {"id": "urn:ngsi-ld:T:1", "type": "T", **attrs}
    parses_or_refuses(lambda: EntityParser(TERMS, NOW).entity(entity))


@given(value=JSON | st.fixed_dictionaries(
    {"type": st.sampled_from(["Point", "LineString", "Polygon", "MultiPoint",
                              "MultiLineString", "MultiPolygon"]),
     "coordinates": JSON}))
def test_any_json_as_a_geometry_parses_or_is_an_ngsi_ld_error(value: Any) -> None:
    parses_or_refuses(lambda: validate_geometry(value))


@given(value=JSON)
def test_any_json_as_geoq_coordinates_or_scope_parses_or_is_an_ngsi_ld_error(value: Any
                                                                              ) -> None:
    parses_or_refuses(lambda: parse_geoq("intersects", "Polygon", value, None))
    parses_or_refuses(lambda: validate_scope(value))
    parses_or_refuses(lambda: parse_aggr_methods(value))
    parses_or_refuses(lambda: parse_last_n(value))


def _unavailable(url: str) -> Any:
    raise LdContextNotAvailable(f"{url} is not known here")


@given(value=JSON)
def test_any_json_as_a_context_compiles_or_is_an_ngsi_ld_error(value: Any) -> None:
    terms = parses_or_refuses(lambda: compile_context(value, _unavailable))
    if terms is not None:
        parses_or_refuses(lambda: terms.expand("a"))


#: long hostile inputs: nesting, repetition and near-misses that backtracking regexes choke on
HOSTILE = [
    "(" * 5000, ")" * 5000, "(" * 2000 + "a==1" + ")" * 2000, "a==1;" * 2000 + "(",
    "a" * 100_000, "a==" + "'" * 50_000, "a==\"" + "\\\"" * 20_000, "a~=" + "(a*)*" * 2000,
    "a.b.c" * 10_000 + "==", "a[" * 5000, "a==1|" * 3000 + "|", "/" * 50_000 + "#",
    "/a" * 20_000 + "/", "/a/+" * 10_000 + "x", "P" + "1Y" * 20_000, "PT" + "1" * 50_000,
    "P1Y" + "T1H" * 10_000, "2026-01-01T00:00:00" + "0" * 50_000, "[" * 10_000 + "]" * 10_000,
    "[1," * 20_000 + "1", "[[" + "1,2]," * 20_000 + "]]", "A,B;" * 10_000 + "(",
    "avg," * 20_000 + ",", "near;maxDistance==" + "9" * 50_000, "\u0000" * 20_000,
    " " * 100_000 + "a", "a" * 50_000 + "!",
]


@pytest.mark.parametrize("name", sorted(TEXT_PARSERS))
def test_long_hostile_inputs_are_answered_quickly(name: str) -> None:
    parse = TEXT_PARSERS[name]
    for text in HOSTILE:
        started = time.perf_counter()
        parses_or_refuses(lambda text=text: parse(text))
        elapsed = time.perf_counter() - started
        assert elapsed < 1.0, f"{name} took {elapsed:.2f} s on {text[:40]!r}..."


def test_deeply_nested_json_is_refused_quickly() -> None:
    deep: Any = 1
    for _ in range(500):
        deep = {"a": [deep]}
    for make in (lambda: EntityParser(TERMS, NOW).entity(
                     {"id": "urn:ngsi-ld:T:1", "type": "T", "p": {"value": deep}}),
                 lambda: validate_geometry({"type": "Point", "coordinates": deep}),
                 lambda: compile_context(deep, _unavailable)):
        started = time.perf_counter()
        parses_or_refuses(make)
        assert time.perf_counter() - started < 1.0
