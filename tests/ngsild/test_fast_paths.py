"""The parser's and the index's fast paths give exactly what their general paths give.

`EntityParser` parses the common instance shapes (`_known_instance`) and `index_leaves` indexes
the common instances without their general code. Here both sides meet generated entities that
mix those shapes with everything near them (bad values, odd members, sub-attributes, concise
forms, multi-attributes): the fast side must give the same entity, member order included, or
refuse it with the same words.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityhub.ngsild.context import core_term_map
from cityhub.ngsild.entity import (
    MAX_SUB_DEPTH,
    EntityParser,
    _instance_leaves,
    index_leaves,
    normalise_datetime,
)
from cityhub.ngsild.errors import BadRequestData

NOW = "2026-12-01T00:00:00.000Z"
TERMS = core_term_map()


def ordered(value: Any) -> Any:
    """`value` with every object as its list of (key, value) pairs: equal only when the key
    order is the same too (stored documents keep it)."""
    if isinstance(value, dict):
        return [(key, ordered(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [ordered(item) for item in value]
    if isinstance(value, float):
        return ("float", value, math.copysign(1.0, value))  # 0.0 and -0.0 differ
    return (type(value).__name__, value)  # 1, 1.0 and True differ


def general_parser(**options: bool) -> EntityParser:
    parser = EntityParser(TERMS, NOW, **options)
    parser.fast_paths = False
    return parser


def outcome(parse: Any) -> Any:
    try:
        return ("parsed", ordered(parse()))
    except BadRequestData as error:
        return ("refused", error.detail)


# -- generated payloads: the common shapes and their neighbours ------------------------------
def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Three in four from `good` (st.one_of would weigh every branch of `bad` like `good`)."""
    return st.integers(0, 3).flatmap(lambda pick: bad if pick == 0 else good)


NAMES = st.sampled_from(["pm25", "temperature", "location", "observationSpace", "refRoad",
                         "speed", "https://example.org/attr", "schema:name", "pm25", "bad name",
                         "a<b", "pm10", "intensity", "status", "refDevice"])
GOOD_TIMES = st.sampled_from(["2026-11-22T09:00:00Z", "2026-11-22T09:00:00.123Z",
                             "2026-11-22T18:00:00+09:00", "2026-11-22T09:00:00"])
TIMES = mostly(GOOD_TIMES, st.sampled_from([
    "2026-02-30T00:00:00Z", "2026-11-22T25:00:00Z", "yesterday", "2026-11-22", "",
    "0001-01-01T00:00:00+09:00", "2026-11-22T09:00:00.1Z", "\u0662026-11-22T09:00:00Z",
]) | st.integers() | st.none())
GOOD_URIS = st.sampled_from(["urn:ngsi-ld:Road:1", "https://example.org/x?y=1#z", "urn:a\n",
                            "urn:ngsi-ld:\u00e9t\u00e9"])
URIS = mostly(GOOD_URIS, st.sampled_from([
    "not a uri", "urn:", "1urn:x", "urn:ngsi-ld:\u00e9t\u00e9", "urn:a\tb",
    "x:" + "y" * 2100, "urn:ngsi-ld:null"]) | st.integers() | st.none())
SCALARS = (st.integers(-2**70, 2**70) | st.floats() | st.booleans() | st.none() | st.text()
           | st.text(max_size=8) | st.sampled_from(["urn:ngsi-ld:null", "nul\x00"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=8)
COORDINATE = (st.floats(-200, 200) | st.integers(-200, 200) | st.booleans()
              | st.sampled_from([math.nan, math.inf, 2**1100]))
GOOD_POINTS = st.fixed_dictionaries({"type": st.just("Point"), "coordinates": st.tuples(
    st.floats(-180, 180) | st.integers(-180, 180), st.floats(-90, 90)).map(list)})
GEOMETRIES = mostly(
    GOOD_POINTS,
    st.fixed_dictionaries({"type": st.just("Point"),
                           "coordinates": st.lists(COORDINATE, min_size=1, max_size=3)})
    | st.fixed_dictionaries({"type": st.just("Point"),
                             "coordinates": st.tuples(COORDINATE, COORDINATE)})
    | st.fixed_dictionaries({"type": st.just("Point"), "coordinates": st.just([127.0, 36.5]),
                             "bbox": st.just([127.0, 36.5, 127.0, 36.5])})
    | st.just({"type": "LineString", "coordinates": [[127.0, 36.5], [127.1, 36.6]]})
    | st.just({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]})
    | st.just({"type": "Circle", "coordinates": [0, 0]}) | VALUES
)
METADATA = st.fixed_dictionaries({}, optional={
    "observedAt": TIMES,
    "unitCode": mostly(st.sampled_from(["GQ", "CEL"]),
                       st.sampled_from(["", "x" * 65]) | st.integers()),
    "datasetId": URIS,
    "objectType": mostly(st.sampled_from(["Road", "schema:Thing"]),
                         st.sampled_from(["bad name", ""]) | st.integers()),
    "createdAt": st.just("2020-01-01T00:00:00Z"),
    "modifiedAt": st.just("whatever"),
    "lang": st.just("ko"),
})


def instances(subs: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Raw instances: mostly the fast path's shapes, with metadata and sub-attributes in any
    order, and the shapes around them."""
    known = st.one_of(
        st.fixed_dictionaries({"type": st.just("Property"), "value": VALUES}),
        st.fixed_dictionaries({"type": st.just("Property"), "value": SCALARS}),
        st.fixed_dictionaries({"type": st.just("Property")}, optional={"value": VALUES}),
        st.fixed_dictionaries({"type": st.just("GeoProperty"), "value": GEOMETRIES}),
        st.fixed_dictionaries({"type": st.just("GeoProperty")}, optional={"value": VALUES}),
        st.fixed_dictionaries({"type": st.just("Relationship"), "object": URIS}),
        st.fixed_dictionaries({"type": st.just("Relationship")},
                              optional={"object": URIS | st.lists(URIS, max_size=2),
                                        "value": URIS}),
    )

    def in_any_order(parts: tuple[dict, dict, dict]) -> st.SearchStrategy[dict]:
        members = list({**parts[0], **parts[1], **parts[2]}.items())
        return st.permutations(members).map(dict)

    sub_attributes = st.dictionaries(NAMES, subs, max_size=2)
    shaped = st.tuples(known, METADATA, sub_attributes).flatmap(in_any_order)
    other = st.one_of(
        SCALARS, VALUES, GEOMETRIES,
        st.fixed_dictionaries({"value": VALUES}, optional={"unitCode": st.just("GQ")}),
        st.fixed_dictionaries({"object": URIS}),
        st.fixed_dictionaries({"type": st.sampled_from(["LanguageProperty", "VocabProperty",
                                                        "ListProperty", "Point", "Unknown",
                                                        "JsonProperty"]),
                               "languageMap": st.just({"ko": "세종"}), "vocab": st.just("x"),
                               "valueList": st.just([1]), "json": VALUES,
                               "coordinates": st.just([1.0, 2.0])}),
        st.fixed_dictionaries({"type": st.integers() | st.none(), "value": st.just(1)}),
    )
    # one in five from `other` (st.one_of would flatten its many branches into the choice)
    return st.integers(0, 4).flatmap(lambda pick: other if pick == 0 else shaped)


#: sub-attributes two levels deep (deeper ones: test_fast_path_refuses_what_the_limits_refuse)
INSTANCES = instances(instances(instances(st.nothing())))
ATTRIBUTE_VALUES = INSTANCES | st.lists(INSTANCES, min_size=1, max_size=3)
ENTITIES = st.fixed_dictionaries(
    {"id": st.sampled_from(["urn:ngsi-ld:Sensor:1", "urn:ngsi-ld:Sensor:2"]) | URIS,
     "type": st.sampled_from(["Sensor", "AirQualityObserved", ["A", "B", "A"], "bad type",
                              [], ["ok", 5]])},
    optional={"scope": st.sampled_from(["/Sejong", ["/Sejong/Hansol"], "bad"])},
).flatmap(lambda head: st.dictionaries(NAMES, ATTRIBUTE_VALUES, max_size=5).map(
    lambda attrs: {**head, **attrs}))


@settings(max_examples=600, deadline=None)
@given(payload=ENTITIES)
def test_fast_path_entity_equals_general_path(payload: dict) -> None:
    fast = outcome(lambda: EntityParser(TERMS, NOW).entity(payload))
    assert fast == outcome(lambda: general_parser().entity(payload))


@settings(max_examples=600, deadline=None)
@given(name=NAMES, raw=INSTANCES, depth=st.integers(0, MAX_SUB_DEPTH + 1))
def test_fast_path_instance_equals_general_path(name: str, raw: Any, depth: int) -> None:
    fast = outcome(lambda: EntityParser(TERMS, NOW).instance(name, raw, depth))
    assert fast == outcome(lambda: general_parser().instance(name, raw, depth))


def test_the_generated_entities_reach_the_fast_path() -> None:
    """The generator above is worth something only if the fast path decides most of what it
    makes: count the instances it gives a result for."""
    parser = EntityParser(TERMS, NOW)
    decided = []
    original = parser._known_instance

    @given(name=NAMES, raw=INSTANCES)
    @settings(max_examples=300, deadline=None, database=None)
    def sample(name: str, raw: Any) -> None:
        if isinstance(raw, dict):
            try:
                decided.append(original(name, raw, 0) is not None)
            except BadRequestData:
                decided.append(True)

    sample()
    assert sum(decided) > 0.4 * len(decided)


def test_fast_path_refuses_what_the_limits_refuse() -> None:
    """A sub-attribute deeper than MAX_SUB_DEPTH is refused whatever its shape (the fast path
    once accepted a simple one there)."""
    simple: dict = {"type": "Property", "value": 1}
    for _ in range(MAX_SUB_DEPTH + 1):
        simple = {"type": "Property", "value": 1, "sub": simple}
    with pytest.raises(BadRequestData, match="nested more than"):
        EntityParser(TERMS, NOW).entity({"id": "urn:x:1", "type": "T", "a": simple})
    shallow = simple["sub"]
    assert EntityParser(TERMS, NOW).entity({"id": "urn:x:1", "type": "T", "a": shallow})


@pytest.mark.parametrize("text", ["2026-11-22T09:00:00Z", "2026-11-22T09:00:00.250Z"])
def test_remembered_times_are_still_checked_the_same(text: str) -> None:
    first = normalise_datetime(text, "t")
    assert normalise_datetime(text, "t") == first == text.replace(":00Z", ":00.000Z")
    with pytest.raises(BadRequestData, match="not a valid"):
        normalise_datetime("2026-02-30T00:00:00Z", "t")
    with pytest.raises(BadRequestData, match="not a valid"):
        normalise_datetime("2026-02-30T00:00:00Z", "t")  # refused again, not remembered


# -- index_leaves ------------------------------------------------------------------------------
def general_leaves(entity: dict) -> list:
    """index_leaves through `_instance_leaves` alone (its general path)."""
    rows: dict = {}
    for scope in entity.get("scope", ()):
        rows[("@scope", "s", 0.0, scope)] = None
    for iri, instances in entity["attrs"].items():
        for inst in instances:
            head = _instance_leaves(iri, inst, rows, 0)
            if rows[head] is None:
                rows[head] = inst["type"]
    return [(*row, kind) for row, kind in rows.items()]


@settings(max_examples=600, deadline=None)
@given(payload=ENTITIES)
def test_fast_leaves_equal_general_leaves(payload: dict) -> None:
    try:
        entity = EntityParser(TERMS, NOW).entity(payload)
    except BadRequestData:
        return
    assert ordered(index_leaves(entity)) == ordered(general_leaves(entity))


def test_leaves_of_repeated_values_and_colliding_keys() -> None:
    """Rows are unique and the type goes to the first instance's head row, also when two
    instances (datasetIds) hold one value or a key is another attribute's observedAt key."""
    a = "https://example.org/a"
    entity = EntityParser(TERMS, NOW).entity({
        "id": "urn:x:1", "type": "T",
        a: [{"type": "Property", "value": 1, "observedAt": "2026-11-22T09:00:00Z"},
              {"type": "Property", "value": 1.0, "datasetId": "urn:d:1"},
              {"type": "Property", "value": -0.0, "datasetId": "urn:d:2"},
              {"type": "Property", "value": 0, "datasetId": "urn:d:3"}],
        a + ".https://uri.etsi.org/ngsi-ld/observedAt": {
            "type": "Property", "value": "2026-11-22T09:00:00.000Z"},
        "b": {"type": "Property", "value": True},
    })
    leaves = index_leaves(entity)
    assert ordered(leaves) == ordered(general_leaves(entity))
    assert ordered(leaves) == ordered([
        (a, "n", 1.0, "", "Property"),
        (a + ".https://uri.etsi.org/ngsi-ld/observedAt", "s", 0.0, "2026-11-22T09:00:00.000Z",
         "Property"),
        (a, "n", -0.0, "", "Property"),
        ("https://uri.etsi.org/ngsi-ld/default-context/b", "b", 1.0, "", "Property"),
    ])


@pytest.mark.parametrize("reverse", [False, True])
def test_leaves_of_an_attribute_named_like_another_ones_observed_at(reverse: bool) -> None:
    """One instance each, yet two rows meet: the observedAt row of `a` and the value row of
    the attribute named like its path are one row, typed by the attribute."""
    a = "https://example.org/a"
    observed = "2026-11-22T09:00:00.000Z"
    attrs = [(a, {"type": "Property", "value": 1, "observedAt": observed}),
             (a + ".https://uri.etsi.org/ngsi-ld/observedAt",
              {"type": "Property", "value": observed})]
    entity = EntityParser(TERMS, NOW).entity(
        {"id": "urn:x:1", "type": "T", **dict(reversed(attrs) if reverse else attrs)})
    leaves = index_leaves(entity)
    assert ordered(leaves) == ordered(general_leaves(entity))
    assert len(leaves) == 2
    assert {row[4] for row in leaves} == {"Property"}
