"""Store contract, property-based: on random entity sets, the store's answer to random q trees
and random geo-queries equals the in-memory evaluators (`ngsild.q.matches` over the entity's
leaves, `ngsild.geo.geo_matches`), on every adapter."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityhub.ngsild.geo import GeoQuery
from cityhub.ngsild.logic import And, Or
from cityhub.ngsild.q import AttrPath, Comparison, Exists, QNode, Range
from cityhub.store.base import EntityQuery, Put, Store

from .support import (
    LAT,
    LON,
    NOW,
    entity,
    found,
    iri,
    memory_geo,
    memory_q,
    new_tenant,
    select,
    short,
)

pytestmark = pytest.mark.anyio

NS = "https://example.org/ns#"
ATTRS = [NS + "a", NS + "b", NS + "c"]
SUB = NS + "s"
KEYS = ["x", "y"]
PROPERTY_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# -------------------------------------------------------------------------------- q trees

texts = st.text(alphabet="abAB1é -", max_size=4)
numbers = st.one_of(st.integers(-3, 3), st.sampled_from([-1.5, 0.0, 0.5, 2.0, 2.5]))
scalars = st.one_of(numbers, texts, st.booleans())
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.sampled_from(KEYS), scalars, max_size=2),
)


@st.composite
def attribute(draw: st.DrawFn) -> dict[str, Any]:
    instance: dict[str, Any] = {"type": "Property", "value": draw(values)}
    if draw(st.booleans()):
        instance[SUB] = {"type": "Property", "value": draw(scalars)}
    if draw(st.booleans()):
        instance["observedAt"] = draw(st.sampled_from(
            ["2024-05-01T08:00:00Z", "2024-05-01T09:30:00Z", "2024-05-02T00:00:00Z"]))
    return instance


@st.composite
def payload(draw: st.DrawFn, index: int) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(ATTRS), unique=True, max_size=3))
    return {"id": f"E{index}", "type": "Thing", **{n: draw(attribute()) for n in names}}


entity_sets = st.integers(1, 6).flatmap(
    lambda n: st.tuples(*(payload(i) for i in range(n)))
)
paths = st.builds(
    AttrPath,
    st.sampled_from(ATTRS),
    st.sampled_from([(), (), (SUB,), ("https://uri.etsi.org/ngsi-ld/observedAt",)]),
    st.sampled_from([(), (), ("x",), ("y",)]),
)
PATTERNS = ["^a", "b$", "a|B", "[ab]1", "(?i)A", r"\d", ".", "^$", r"\w\s", "é", "^(a|b)+$"]
ordered = st.one_of(numbers, texts)
ranges = st.one_of(
    st.builds(Range, numbers, numbers), st.builds(Range, texts, texts)
)
comparisons = st.one_of(
    st.builds(Comparison, paths, st.sampled_from(["==", "!="]),
              st.one_of(scalars, ranges, st.lists(scalars, min_size=2, max_size=3).map(tuple))),
    st.builds(Comparison, paths, st.sampled_from([">", ">=", "<", "<="]), ordered),
    st.builds(Comparison, paths, st.sampled_from(["~=", "!~="]), st.sampled_from(PATTERNS)),
    st.builds(Exists, paths, st.booleans()),
)
q_trees: st.SearchStrategy[QNode] = st.recursive(
    comparisons,
    lambda children: st.one_of(
        st.lists(children, min_size=2, max_size=3).map(lambda items: And(tuple(items))),
        st.lists(children, min_size=2, max_size=3).map(lambda items: Or(tuple(items))),
    ),
    max_leaves=5,
)


@PROPERTY_SETTINGS
@given(payloads=entity_sets, trees=st.lists(q_trees, min_size=1, max_size=6))
async def test_q_matches_the_in_memory_evaluator(
    store: Store, payloads: tuple[dict[str, Any], ...], trees: list[QNode]
) -> None:
    tenant = new_tenant()
    entities = [entity(p) for p in payloads]
    outcomes = await store.write(tenant, [Put(e, NOW, "create") for e in entities])
    assert [o.error for o in outcomes] == [None] * len(entities)
    for tree in trees:
        assert await found(store, tenant, q=tree) == memory_q(entities, tree), tree
    result = await store.query(tenant, EntityQuery(q=trees[0], count=True, limit=0))
    assert result.count == len(memory_q(entities, trees[0]))


async def rewrite(store: Store, tenant: str, first: list[dict[str, Any]],
                  second: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Create `first`, then write `second` as the broker does a merge: each existing entity
    replaced at its stored version with the stored entity as `Put.previous` (a store may then
    change only the index rows that differ). Returns the entities stored, in creation order."""
    outcomes = await store.write(tenant, [Put(e, NOW, "create") for e in first])
    assert [o.error for o in outcomes] == [None] * len(first)
    stored = await store.get(tenant, [e["id"] for e in second])
    ops = [Put(e, NOW, "replace", expected_version=stored[e["id"]].version,
               previous=stored[e["id"]].entity) if e["id"] in stored else Put(e, NOW, "create")
           for e in second]
    outcomes = await store.write(tenant, ops)
    assert [o.error for o in outcomes] == [None] * len(second)
    final = {e["id"]: e for e in first}
    final.update({e["id"]: e for e in second})
    return list(final.values())


retyped_sets = st.tuples(entity_sets, st.lists(st.sampled_from(["Thing", "Other"]),
                                               min_size=6, max_size=6)).map(
    lambda pair: tuple({**p, "type": t} for p, t in zip(pair[0], pair[1], strict=False)))


@PROPERTY_SETTINGS
@given(before=entity_sets, after=retyped_sets, trees=st.lists(q_trees, min_size=1, max_size=5))
async def test_q_after_a_rewrite_matches_the_in_memory_evaluator(
    store: Store, before: tuple[dict[str, Any], ...], after: tuple[dict[str, Any], ...],
    trees: list[QNode],
) -> None:
    tenant = new_tenant()
    entities = await rewrite(store, tenant, [entity(p) for p in before],
                             [entity(p) for p in after])
    for tree in trees:
        assert await found(store, tenant, q=tree) == memory_q(entities, tree), tree
    for type_name in ("Thing", "Other"):
        expected = [short(e["id"]) for e in entities if e["type"] == [iri(type_name)]]
        assert await found(store, tenant, selectors=(select(type_text=type_name),)) == expected
    summaries = {s.attribute: (s.count, s.types)
                 for s in await store.attribute_summaries(tenant)}
    expected_summaries: dict[str, tuple[int, set[str]]] = {}
    for e in entities:
        for name in e["attrs"]:
            count, kinds = expected_summaries.get(name, (0, set()))
            expected_summaries[name] = (count + 1, kinds | set(e["type"]))
    assert summaries == expected_summaries


# ------------------------------------------------------------------------------ geometry

#: grid coordinates around Sejong, 111 m apart in latitude, so that shapes often touch
grid_lon = st.integers(-20, 20).map(lambda i: round(LON + i * 0.001, 6))
grid_lat = st.integers(-20, 20).map(lambda i: round(LAT + i * 0.001, 6))


@st.composite
def rectangle(draw: st.DrawFn) -> dict[str, Any]:
    lon0, lon1 = sorted(draw(st.lists(grid_lon, min_size=2, max_size=2, unique=True)))
    lat0, lat1 = sorted(draw(st.lists(grid_lat, min_size=2, max_size=2, unique=True)))
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    return {"type": "Polygon", "coordinates": [ring]}


points = st.builds(lambda lon, lat: {"type": "Point", "coordinates": [lon, lat]},
                   grid_lon, grid_lat)
lines = st.lists(st.tuples(grid_lon, grid_lat), min_size=2, max_size=3, unique=True).map(
    lambda ps: {"type": "LineString", "coordinates": [list(p) for p in ps]})
geometries = st.one_of(points, points, rectangle(), lines)


def geo_queries(shapes: list[dict[str, Any]]) -> st.SearchStrategy[GeoQuery]:
    """Random geo-queries; their geometry is often one of the entities' own shapes."""
    own = [shape for shape in shapes if shape["type"] in ("Point", "Polygon")]
    centres = st.one_of(points, *([st.sampled_from(
        [s for s in own if s["type"] == "Point"])] if any(
        s["type"] == "Point" for s in own) else []))
    query_shapes = st.one_of(points, rectangle(), *([st.sampled_from(own)] if own else []))
    relations = st.builds(
        lambda rel, shape: GeoQuery(rel, shape, NS + "where"),
        st.sampled_from(["within", "contains", "intersects", "equals", "disjoint", "overlaps"]),
        query_shapes,
    )
    return st.one_of(
        relations,
        relations,
        st.builds(
            lambda centre, low, extra: GeoQuery(
                "near", centre, NS + "where", max_distance=(low or 0) + extra, min_distance=low),
            centres, st.one_of(st.none(), st.floats(0, 1500)), st.floats(1, 2000),
        ),
        st.builds(lambda centre, low: GeoQuery("near", centre, NS + "where", min_distance=low),
                  centres, st.floats(0, 3000)),
    )




@st.composite
def geo_cases(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[GeoQuery]]:
    """Entity shapes and queries on them (drawn here: `st.data()` in an async test breaks
    anyio's runner when Hypothesis stops an example early)."""
    shapes = draw(st.lists(geometries, min_size=1, max_size=8))
    return shapes, draw(st.lists(geo_queries(shapes), min_size=1, max_size=6))


NUDGE = 1e-7


def on_a_boundary(entities: list[dict[str, Any]], geoq: GeoQuery) -> bool:
    """Whether some near distance lies so close to a bound that float noise decides."""
    if geoq.georel != "near":
        return False

    def scaled(value: float | None, factor: float) -> float | None:
        return None if value is None else value * factor

    narrow = replace(geoq, max_distance=scaled(geoq.max_distance, 1 - NUDGE),
                     min_distance=scaled(geoq.min_distance, 1 + NUDGE))
    wide = replace(geoq, max_distance=scaled(geoq.max_distance, 1 + NUDGE),
                   min_distance=scaled(geoq.min_distance, 1 - NUDGE))
    return memory_geo(entities, narrow) != memory_geo(entities, wide)


@PROPERTY_SETTINGS
@given(case=geo_cases())
async def test_geo_matches_the_in_memory_evaluator(
    store: Store, case: tuple[list[dict[str, Any]], list[GeoQuery]]
) -> None:
    shapes, queries = case
    tenant = new_tenant()
    entities = [entity({"id": f"G{i}", "type": "Thing",
                        NS + "where": {"type": "GeoProperty", "value": shape}})
                for i, shape in enumerate(shapes)]
    outcomes = await store.write(tenant, [Put(e, NOW, "create") for e in entities])
    assert [o.error for o in outcomes] == [None] * len(entities)
    for geoq in queries:
        if on_a_boundary(entities, geoq):
            continue
        assert await found(store, tenant, geoq=geoq) == memory_geo(entities, geoq), geoq


@PROPERTY_SETTINGS
@given(case=geo_cases(), moved=st.lists(st.one_of(st.none(), geometries), min_size=8, max_size=8))
async def test_geo_after_a_rewrite_matches_the_in_memory_evaluator(
    store: Store, case: tuple[list[dict[str, Any]], list[GeoQuery]],
    moved: list[dict[str, Any] | None],
) -> None:
    """Entities rewritten with their geometry moved, kept (None) or changed in kind."""
    shapes, queries = case
    tenant = new_tenant()

    def located(i: int, shape: dict[str, Any]) -> dict[str, Any]:
        return entity({"id": f"G{i}", "type": "Thing",
                       NS + "where": {"type": "GeoProperty", "value": shape}})

    first = [located(i, shape) for i, shape in enumerate(shapes)]
    second = [located(i, moved[i] or shape) for i, shape in enumerate(shapes)]
    entities = await rewrite(store, tenant, first, second)
    for geoq in queries:
        if on_a_boundary(entities, geoq):
            continue
        assert await found(store, tenant, geoq=geoq) == memory_geo(entities, geoq), geoq
