"""Store contract, queries: selectors, attrs, q (every operator and path form), scopeQ, paging,
count, delete_matching and the type / attribute summaries, on every adapter.

Every q case states the expected entities and is also checked against the in-memory evaluator
(`ngsild.q.matches` over `leaves_lookup`), so the table cannot drift from the q semantics.
"""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.ngsild.errors import BadRequestData, TooComplexQuery
from cityhub.store.base import AttributeSummary, Delete, EntityQuery, Store, TypeSummary

from .support import (
    entity,
    found,
    iri,
    memory_q,
    new_tenant,
    put_all,
    q,
    scope,
    select,
    urn,
)

pytestmark = pytest.mark.anyio

T = new_tenant()

DATASET: list[dict[str, Any]] = [
    {
        "id": "S1", "type": "Sensor", "scope": ["/Sejong/Hansol"],
        "temperature": {"type": "Property", "value": 21.5, "observedAt": "2024-05-01T08:00:00Z",
                        "accuracy": {"type": "Property", "value": 0.5}},
        "status": "ok", "count": 3, "active": True, "tags": ["a", "b"],
        "address": {"type": "Property",
                    "value": {"city": "Sejong", "zip": "30100", "geo": {"lat": 36.48}}},
        "refRoad": {"type": "Relationship", "object": "urn:ngsi-ld:Road:R1"},
    },
    {
        "id": "S2", "type": "Sensor", "scope": ["/Seoul"],
        "temperature": {"type": "Property", "value": 25, "observedAt": "2024-05-02T08:00:00Z"},
        "status": "fault", "count": 10, "active": False, "tags": ["c"],
        "address": {"type": "Property", "value": {"city": "Seoul", "zip": "04500"}},
        "refRoad": {"type": "Relationship", "object": "urn:ngsi-ld:Road:R2"},
    },
    {
        "id": "C3", "type": "Camera", "scope": ["/Sejong/Jochiwon"],
        "status": "ok", "count": "3", "active": 1,
        "address": {"type": "Property", "value": {"city": "Sejong"}},
    },
    {
        "id": "M4", "type": ["Sensor", "Camera"],
        "temperature": 19.99, "status": "OK", "count": 3.0, "tags": ["b", "d"],
        "name": {"type": "LanguageProperty", "languageMap": {"en": "north gate", "ko": "북문"}},
    },
    {
        "id": "N5", "type": "Road",
        "description": "Route 1\nnorth", "count": -2,
    },
]
ALL = ["S1", "S2", "C3", "M4", "N5"]

Q_CASES: list[tuple[str, list[str]]] = [
    # presence and absence
    ("temperature", ["S1", "S2", "M4"]),
    ("!temperature", ["C3", "N5"]),
    ("address[zip]", ["S1", "S2"]),
    ("!address[zip]", ["C3", "M4", "N5"]),
    ("temperature.accuracy", ["S1"]),
    # numbers: int and float compare numerically
    ("temperature==25", ["S2"]),
    ("temperature==25.0", ["S2"]),
    ("temperature==21.5", ["S1"]),
    ("temperature!=25", ["S1", "M4"]),
    ("temperature>20", ["S1", "S2"]),
    ("temperature>=21.5", ["S1", "S2"]),
    ("temperature<21.5", ["M4"]),
    ("temperature<=19.99", ["M4"]),
    ("count==3", ["S1", "M4"]),
    ("count>0", ["S1", "S2", "M4"]),
    ("count<0", ["N5"]),
    ("count!=3", ["S2", "C3", "N5"]),
    # ranges and lists
    ("temperature==19..22", ["S1", "M4"]),
    ("temperature!=19..22", ["S2"]),
    ("temperature==19.99,25", ["S2", "M4"]),
    ("status==fault,ok", ["S1", "S2", "C3"]),
    ("status==a..p", ["S1", "S2", "C3"]),
    ("count==3,ok", ["S1", "M4"]),
    # strings, kinds never mix
    ('count=="3"', ["C3"]),
    ("status==ok", ["S1", "C3"]),
    ("status==OK", ["M4"]),
    ("status>n", ["S1", "C3"]),
    ("status<5", []),
    ("temperature>abc", []),
    # booleans are not numbers
    ("active==true", ["S1"]),
    ("active==false", ["S2"]),
    ("active==1", ["C3"]),
    ("active!=true", ["S2", "C3"]),
    ("temperature==true", []),
    ("temperature!=true", ["S1", "S2", "M4"]),
    # arrays: any member
    ("tags==b", ["S1", "M4"]),
    ("tags==a,d", ["S1", "M4"]),
    ("tags!=b", ["S2"]),
    ("tags==x", []),
    # compound paths inside JSON values
    ("address[city]==Sejong", ["S1", "C3"]),
    ("address[geo.lat]>36", ["S1"]),
    ("address[geo][lat]==36.48", ["S1"]),
    ("address[city]!=Sejong", ["S2"]),
    # sub-attributes, observedAt, relationships, language maps
    ("temperature.accuracy<1", ["S1"]),
    ("temperature.observedAt>=2024-05-02T00:00:00Z", ["S2"]),
    ("temperature.observedAt==2024-05-01T08:00:00.000Z", ["S1"]),
    ("refRoad==urn:ngsi-ld:Road:R1", ["S1"]),
    ("name~=북", ["M4"]),
    ('name=="north gate"', ["M4"]),
    # regular expressions with Python's semantics
    ("status~=(?i)^ok$", ["S1", "C3", "M4"]),
    ("status!~=^o", ["S2", "M4"]),
    ("status~=^(ok|fault)$", ["S1", "S2", "C3"]),
    ("description~=north$", ["N5"]),
    ("description~=1$", []),
    ("description~=^north", []),
    ("description~=(?m)^north", ["N5"]),
    ("description~=Route.1", ["N5"]),
    ("description~=1.north", []),
    ("description~=(?s)1.north", ["N5"]),
    (r"description~=\bnorth\b", ["N5"]),
    (r"description~=\d\s\w", ["N5"]),
    ("refRoad~=R[0-1]$", ["S1"]),
    ("count~=3", ["C3"]),
    ("address[city]~=^Se", ["S1", "S2", "C3"]),
    # AND, OR, nesting
    ("temperature>20;status==ok", ["S1"]),
    ("status==fault|count<0", ["S2", "N5"]),
    ("(temperature>20|count<0);!tags", ["N5"]),
    ("status==ok;status==fault", []),
    ("(status==ok|status==OK);(count==3|tags==d)", ["S1", "M4"]),
    ("!temperature;!count", []),
]


@pytest.fixture
async def dataset(store: Store) -> list[dict[str, Any]]:
    return await put_all(store, T, DATASET)


def test_the_table_agrees_with_the_in_memory_evaluator() -> None:
    entities = [entity(p) for p in DATASET]
    for text, expected in Q_CASES:
        assert memory_q(entities, q(text)) == expected, text


async def test_q(store: Store, dataset: list[dict[str, Any]]) -> None:
    wrong = {}
    for text, expected in Q_CASES:
        got = await found(store, T, q=q(text))
        if got != expected:
            wrong[text] = (got, expected)
    assert wrong == {}


SELECTOR_CASES: list[tuple[Any, list[str]]] = [
    ((select(ids=["S1", "C3", "nope"]),), ["S1", "C3"]),
    ((select(id_pattern="^urn:ngsi-ld:Test:S[12]$"),), ["S1", "S2"]),
    ((select(id_pattern=r"(?i)test:s\d"),), ["S1", "S2"]),
    ((select(id_pattern="M4|N5"),), ["M4", "N5"]),
    ((select(type_text="Sensor"),), ["S1", "S2", "M4"]),
    ((select(type_text="Sensor;Camera"),), ["M4"]),
    ((select(type_text="Sensor|Road"),), ["S1", "S2", "M4", "N5"]),
    ((select(type_text="Sensor,Road"),), ["S1", "S2", "M4", "N5"]),
    ((select(type_text="(Sensor;Camera)|Road"),), ["M4", "N5"]),
    ((select(type_text="Nothing"),), []),
    ((select(ids=["S1", "C3", "M4"], type_text="Camera"),), ["C3", "M4"]),
    ((select(ids=["S1", "C3"], id_pattern="C"),), ["C3"]),
    ((select(ids=["S1"]), select(type_text="Road")), ["S1", "N5"]),
    ((select(type_text="Camera"), select(id_pattern="S2$")), ["S2", "C3", "M4"]),
    ((select(),), ALL),
]


async def test_selectors(store: Store, dataset: list[dict[str, Any]]) -> None:
    for selectors, expected in SELECTOR_CASES:
        assert await found(store, T, selectors=selectors) == expected, selectors


async def test_attrs(store: Store, dataset: list[dict[str, Any]]) -> None:
    assert await found(store, T, attrs=(iri("temperature"),)) == ["S1", "S2", "M4"]
    assert await found(store, T, attrs=(iri("tags"), iri("description"))) == [
        "S1", "S2", "M4", "N5"]
    assert await found(store, T, attrs=(iri("nothing"),)) == []
    # a sub-attribute is not an attribute of the entity
    assert await found(store, T, attrs=(iri("accuracy"),)) == []


SCOPE_CASES: list[tuple[str, list[str]]] = [
    ("/Sejong/#", ["S1", "C3"]),
    ("/Sejong", []),
    ("/Sejong/+", ["S1", "C3"]),
    ("/Seoul", ["S2"]),
    ("/#", ["S1", "S2", "C3"]),
    ("/Sejong/Hansol;/Seoul", []),
    ("/Sejong/Hansol|/Seoul", ["S1", "S2"]),
    ("/+/Jochiwon", ["C3"]),
]


async def test_scopeq(store: Store, dataset: list[dict[str, Any]]) -> None:
    for text, expected in SCOPE_CASES:
        assert await found(store, T, scopeq=scope(text)) == expected, text


async def test_filters_combine(store: Store, dataset: list[dict[str, Any]]) -> None:
    assert await found(
        store, T, selectors=(select(type_text="Sensor"),), q=q("temperature>20"),
        scopeq=scope("/Sejong/#"), attrs=(iri("refRoad"),),
    ) == ["S1"]


async def test_paging_and_count(store: Store, dataset: list[dict[str, Any]]) -> None:
    page = await store.query(T, EntityQuery(limit=2, offset=1, count=True))
    assert page.count == 5
    assert [e.entity["id"][-2:] for e in page.entities] == ["S2", "C3"]
    assert (await store.query(T, EntityQuery(limit=2, offset=1))).count is None
    only_count = await store.query(T, EntityQuery(q=q("status==ok"), limit=0, count=True))
    assert (only_count.count, only_count.entities) == (2, [])
    assert await found(store, T, offset=4) == ["N5"]
    assert await found(store, T, offset=5) == []
    beyond = await store.query(T, EntityQuery(offset=10, count=True))
    assert (beyond.count, beyond.entities) == (5, [])
    assert (await store.query(new_tenant(), EntityQuery(count=True))).count == 0


async def test_paging_after_a_position(store: Store) -> None:
    """`after` pages neither skip nor repeat entities when earlier ones are deleted meanwhile
    (an offset would skip one), and find those created meanwhile at the end."""
    tenant = new_tenant()
    await put_all(store, tenant, [{"id": f"P{i}", "type": "Sensor"} for i in range(7)])
    seen: list[str] = []
    after = None
    for page_number in range(10):
        page = await store.query(tenant, EntityQuery(limit=3, after=after))
        seen.extend(e.entity["id"].removeprefix("urn:ngsi-ld:Test:") for e in page.entities)
        if len(page.entities) < 3:
            break
        after = page.last
        assert after is not None
        if page_number == 0:
            [gone] = await store.write(tenant, [Delete(urn("P1"))])
            assert gone.error is None
            await put_all(store, tenant, [{"id": "P7", "type": "Sensor"}])
    assert seen == ["P0", "P1", "P2", "P3", "P4", "P5", "P6", "P7"]
    counted = await store.query(tenant, EntityQuery(after=after, count=True, limit=0))
    assert (counted.count, counted.last) == (2, None)
    typed = await store.query(tenant, EntityQuery(selectors=(select(type_text="Sensor"),),
                                                  limit=2, after=after))
    assert [e.entity["id"][-2:] for e in typed.entities] == ["P6", "P7"]


async def test_delete_matching(store: Store, dataset: list[dict[str, Any]]) -> None:
    assert await store.delete_matching(T, EntityQuery(selectors=(select(type_text="Sensor"),))) == 3
    assert await found(store, T) == ["C3", "N5"]
    assert await found(store, T, q=q("status==ok")) == ["C3"]
    assert await found(store, T, selectors=(select(type_text="Sensor"),)) == []
    assert [s.type for s in await store.type_summaries(T)] == [iri("Camera"), iri("Road")]
    assert await store.delete_matching(T, EntityQuery(q=q("count<0"))) == 1
    assert await store.delete_matching(T, EntityQuery(q=q("count<0"))) == 0
    assert await found(store, T) == ["C3"]


async def test_type_summaries(store: Store, dataset: list[dict[str, Any]]) -> None:
    summaries = await store.type_summaries(T)
    common = {iri("status"): {"Property"}, iri("count"): {"Property"}}
    assert summaries == [
        TypeSummary(iri("Camera"), 2, {
            **common, iri("active"): {"Property"}, iri("address"): {"Property"},
            iri("temperature"): {"Property"}, iri("tags"): {"Property"},
            iri("name"): {"LanguageProperty"}}),
        TypeSummary(iri("Road"), 1, {iri("description"): {"Property"}, iri("count"): {"Property"}}),
        TypeSummary(iri("Sensor"), 3, {
            **common, iri("active"): {"Property"}, iri("address"): {"Property"},
            iri("temperature"): {"Property"}, iri("tags"): {"Property"},
            iri("refRoad"): {"Relationship"}, iri("name"): {"LanguageProperty"}}),
    ]
    assert [s.type for s in await store.type_summaries(T, [iri("Road"), iri("Nope")])] == [
        iri("Road")]
    assert await store.type_summaries(new_tenant()) == []


async def test_attribute_summaries(store: Store, dataset: list[dict[str, Any]]) -> None:
    summaries = {s.attribute: s for s in await store.attribute_summaries(T)}
    assert list(summaries) == sorted(summaries)
    assert summaries[iri("refRoad")] == AttributeSummary(
        iri("refRoad"), 2, {"Relationship"}, {iri("Sensor")})
    assert summaries[iri("description")] == AttributeSummary(
        iri("description"), 1, {"Property"}, {iri("Road")})
    assert summaries[iri("status")].types == {iri("Sensor"), iri("Camera")}
    # attributeCount counts attribute instances: M4's, of two types, once
    assert summaries[iri("status")].count == 4
    assert summaries[iri("temperature")].count == 3
    assert summaries[iri("name")].kinds == {"LanguageProperty"}
    assert iri("accuracy") not in summaries
    [only] = await store.attribute_summaries(T, [iri("count")])
    assert (only.attribute, only.kinds) == (iri("count"), {"Property"})
    assert only.types == {iri("Sensor"), iri("Camera"), iri("Road")}


async def test_an_invalid_pattern_is_an_ngsi_ld_error(store: Store) -> None:
    await put_all(store, T, [{"id": "X", "type": "T", "name": "x"}])
    with pytest.raises((BadRequestData, TooComplexQuery)):
        await found(store, T, selectors=(select(id_pattern="(unclosed"),))
    with pytest.raises((BadRequestData, TooComplexQuery)):
        await store.delete_matching(T, EntityQuery(selectors=(select(id_pattern="a{2,1}"),)))
    assert await found(store, T) == ["X"]
