"""The entity normal form: parsing, the fast path's equivalence, q leaves, rendering."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityhub.ngsild.context import core_term_map
from cityhub.ngsild.entity import (
    EntityParser,
    index_leaves,
    leaf_key,
    leaves_lookup,
)
from cityhub.ngsild.errors import BadRequestData
from cityhub.ngsild.q import map_attrs, matches, parse_q
from cityhub.ngsild.render import CONCISE, KEY_VALUES, RenderOptions, render_entity

NOW = "2026-11-22T00:00:00.000Z"
TERMS = core_term_map()
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"


def parse(payload: dict) -> dict:
    return EntityParser(TERMS, NOW).entity(payload)


def general_path(name: str, raw: dict) -> dict:
    """The instance the general (slow) path gives: partial mode skips the fast path, and for
    complete instances partial mode changes nothing."""
    return EntityParser(TERMS, NOW, partial=True).instance(name, raw)


def outcome(parser: EntityParser, name: str, raw: dict) -> object:
    """What parsing gives: the instance, or the error's message (both paths must refuse the
    same input, such as a string holding U+0000, with the same words)."""
    try:
        return parser.instance(name, raw)
    except BadRequestData as error:
        return ("refused", error.detail)


scalars = st.one_of(
    st.integers(-10**6, 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.text(max_size=20),
)
metadata = st.fixed_dictionaries(
    {},
    optional={
        "observedAt": st.sampled_from(["2026-11-22T09:00:00Z", "2026-11-22T09:00:00.123Z",
                                       "2026-11-22T18:00:00+09:00"]),
        "unitCode": st.sampled_from(["GQ", "CEL", "KMH"]),
    },
)


@settings(max_examples=200, deadline=None)
@given(value=scalars, extra=metadata)
def test_fast_path_property_equals_general_path(value: object, extra: dict) -> None:
    raw = {"type": "Property", "value": value, **extra}
    assert outcome(EntityParser(TERMS, NOW), "pm25", raw) == outcome(
        EntityParser(TERMS, NOW, partial=True), "pm25", raw)


@settings(max_examples=100, deadline=None)
@given(lon=st.floats(-180, 180), lat=st.floats(-90, 90), extra=metadata)
def test_fast_path_point_equals_general_path(lon: float, lat: float, extra: dict) -> None:
    raw = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}, **extra}
    assert EntityParser(TERMS, NOW).instance("location", raw) == general_path("location", raw)


def test_fast_path_relationship_equals_general_path() -> None:
    raw = {"type": "Relationship", "object": "urn:ngsi-ld:Device:1", "observedAt":
           "2026-11-22T09:00:00Z"}
    assert EntityParser(TERMS, NOW).instance("refDevice", raw) == general_path("refDevice", raw)


@pytest.mark.parametrize("raw", [
    {"type": "Property", "value": math.inf},
    {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [200, 0]}},
    {"type": "Relationship", "object": "not a uri"},
    {"type": "Property", "value": 1, "observedAt": "yesterday"},
    {"type": "Property", "value": 1, "observedAt": "0001-01-01T00:00:00+09:00"},
    {"type": "Property", "value": "nul\x00inside"},
    {"type": "Property", "value": {"deep": ["nul\x00inside"]}},
])
def test_fast_path_rejects_what_the_general_path_rejects(raw: dict) -> None:
    with pytest.raises(BadRequestData):
        EntityParser(TERMS, NOW).instance("x", raw)


def test_concise_input_infers_kinds() -> None:
    entity = parse({
        "id": "urn:ngsi-ld:T:1", "type": "T", "a": 5, "b": {"value": 2, "unitCode": "GQ"},
        "r": {"object": "urn:x:1"}, "location": {"type": "Point", "coordinates": [127, 36]},
        "n": {"languageMap": {"ko": "세종"}}, "l": {"valueList": [1, 2]},
    })
    kinds = {iri.rsplit("/", 1)[-1]: inst[0]["type"] for iri, inst in entity["attrs"].items()}
    assert kinds == {"a": "Property", "b": "Property", "r": "Relationship",
                     "location": "GeoProperty", "n": "LanguageProperty", "l": "ListProperty"}


def test_leaves_cover_values_sub_attributes_compounds_and_observed_at() -> None:
    entity = parse({
        "id": "urn:ngsi-ld:T:1", "type": "T", "scope": ["/Sejong/Hansol"],
        "speed": {"type": "Property", "value": 30, "observedAt": "2026-11-22T09:00:00Z",
                  "accuracy": {"type": "Property", "value": 0.5}},
        "address": {"type": "Property", "value": {"city": "Sejong", "zip": 30100}},
        "tags": {"type": "Property", "value": ["a", "b"]},
    })
    lookup = leaves_lookup(entity)
    speed = VOCAB + "speed"
    assert lookup(speed) == [30]
    assert lookup(leaf_key(speed, (VOCAB + "accuracy",))) == [0.5]
    assert lookup(leaf_key(speed, ("https://uri.etsi.org/ngsi-ld/observedAt",))) == [
        "2026-11-22T09:00:00.000Z"]
    assert lookup(leaf_key(VOCAB + "address", (), ("city",))) == ["Sejong"]
    assert lookup(VOCAB + "address") == []  # present, no scalar at the top
    assert sorted(lookup(VOCAB + "tags")) == ["a", "b"]
    assert lookup("@scope") == ["/Sejong/Hansol"]
    assert lookup(VOCAB + "missing") is None


def test_every_attribute_has_one_row_carrying_its_type() -> None:
    entity = parse({"id": "urn:ngsi-ld:T:1", "type": "T", "a": {"value": {"x": {"y": 1}}},
                    "b": {"object": "urn:x:1"}, "c": [{"value": 1, "datasetId": "urn:d:1"},
                                                      {"value": 1}]})
    typed = {(row[0], row[4]) for row in index_leaves(entity) if row[4] is not None}
    assert typed == {(VOCAB + "a", "Property"), (VOCAB + "b", "Relationship"),
                     (VOCAB + "c", "Property")}


@pytest.mark.parametrize(("q", "expected"), [
    ("speed>20", True), ("speed==30", True), ("speed==1..29", False),
    ("speed.accuracy<1", True), ("address[city]==\"Sejong\"", True),
    ("tags==\"b\"", True), ("speed!=30", False), ("missing!=1", False), ("!missing", True),
])
def test_q_over_leaves(q: str, expected: bool) -> None:
    entity = parse({
        "id": "urn:ngsi-ld:T:1", "type": "T",
        "speed": {"type": "Property", "value": 30, "accuracy": {"value": 0.5}},
        "address": {"value": {"city": "Sejong"}}, "tags": {"value": ["a", "b"]},
    })
    lookup = leaves_lookup(entity)
    node = map_attrs(parse_q(q), TERMS.expand)
    assert matches(node, lambda p: lookup(leaf_key(p.attr, p.sub, p.compound))) is expected


def test_render_round_trip_normalized_and_concise() -> None:
    payload = {"id": "urn:ngsi-ld:T:1", "type": "T",
               "pm25": {"type": "Property", "value": 12.5, "unitCode": "GQ"},
               "location": {"type": "GeoProperty",
                            "value": {"type": "Point", "coordinates": [127.29, 36.48]}}}
    entity = parse(payload)
    assert render_entity(entity, TERMS) == payload
    concise = render_entity(entity, TERMS, RenderOptions(format=CONCISE))
    assert concise["location"] == {"type": "Point", "coordinates": [127.29, 36.48]}
    assert parse(concise) == entity
    assert render_entity(entity, TERMS, RenderOptions(format=KEY_VALUES))["pm25"] == 12.5


def test_an_entity_may_have_at_most_64_geometries() -> None:
    point = {"type": "Point", "coordinates": [127.29, 36.48]}
    many = {"id": "urn:ngsi-ld:T:1", "type": "T",
            "where": [{"type": "GeoProperty", "value": point, "datasetId": f"urn:d:{i}"}
                      for i in range(65)]}
    with pytest.raises(BadRequestData, match="at most 64"):
        parse(many)
    many["where"] = many["where"][:64]
    assert len(parse(many)["attrs"][VOCAB + "where"]) == 64
