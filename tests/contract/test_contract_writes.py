"""Store contract, writes: create / replace / upsert / delete outcomes, versions, tenants, get,
round trips, large batches and @context records, on every adapter."""

from __future__ import annotations

import pytest

from cityhub.store.base import ContextRecord, Delete, EntityQuery, Put, Store

from .support import LATER, NOW, entity, errors, found, new_tenant, put_all, q, urn

pytestmark = pytest.mark.anyio

T = new_tenant()


def sensor(name: str, temperature: float = 20.0, **extra: object) -> dict:
    return {"id": name, "type": "Sensor", "temperature": temperature, **extra}


async def test_create_reports_created_and_refuses_an_existing_id(store: Store) -> None:
    first = entity(sensor("A"))
    [outcome] = await store.write(T, [Put(first, NOW, "create")])
    assert (outcome.entity_id, outcome.created, outcome.error) == (urn("A"), True, None)
    [again] = await store.write(T, [Put(entity(sensor("A", 30)), LATER, "create")])
    assert errors([again]) == ["AlreadyExists"]
    assert not again.created
    stored = (await store.get(T, [urn("A")]))[urn("A")]
    assert (stored.entity, stored.version, stored.created_at, stored.modified_at) == (
        first, 1, NOW, NOW)


async def test_replace_needs_the_entity_keeps_created_at_and_bumps_the_version(
    store: Store,
) -> None:
    [missing] = await store.write(T, [Put(entity(sensor("R")), NOW, "replace")])
    assert errors([missing]) == ["ResourceNotFound"]
    assert await store.get(T, [urn("R")]) == {}
    await put_all(store, T, [sensor("R", status="on")])
    replacement = entity({"id": "R", "type": "Sensor", "humidity": 40}, LATER)
    [outcome] = await store.write(T, [Put(replacement, LATER, "replace")])
    assert (outcome.error, outcome.created) == (None, False)
    stored = (await store.get(T, [urn("R")]))[urn("R")]
    assert (stored.entity, stored.version, stored.created_at, stored.modified_at) == (
        replacement, 2, NOW, LATER)
    # the index follows the document: the old attributes are gone, the new one is there
    assert await found(store, T, q=q("temperature")) == []
    assert await found(store, T, q=q("status==on")) == []
    assert await found(store, T, q=q("humidity==40")) == ["R"]


async def test_upsert_creates_then_updates(store: Store) -> None:
    [created] = await store.write(T, [Put(entity(sensor("U", 1)), NOW)])
    [updated] = await store.write(T, [Put(entity(sensor("U", 2), LATER), LATER)])
    assert (created.created, updated.created) == (True, False)
    assert errors([created, updated]) == [None, None]
    stored = (await store.get(T, [urn("U")]))[urn("U")]
    assert (stored.version, stored.created_at, stored.modified_at) == (2, NOW, LATER)
    assert await found(store, T, q=q("temperature==2")) == ["U"]
    assert await found(store, T, q=q("temperature==1")) == []


async def test_delete_removes_the_entity_and_its_index_rows(store: Store) -> None:
    await put_all(store, T, [sensor("D", location={"type": "Point", "coordinates": [127, 36]})])
    [outcome] = await store.write(T, [Delete(urn("D"))])
    assert errors([outcome]) == [None]
    assert await store.get(T, [urn("D")]) == {}
    assert await found(store, T, q=q("temperature")) == []
    assert await store.type_summaries(T) == []
    [again] = await store.write(T, [Delete(urn("D"))])
    assert errors([again]) == ["ResourceNotFound"]


async def test_expected_version_guards_puts_and_deletes(store: Store) -> None:
    await put_all(store, T, [sensor("V")])
    outcomes = await store.write(T, [
        Put(entity(sensor("V", 2)), LATER, expected_version=2),  # stale: stored is 1
        Put(entity(sensor("V", 3)), LATER, expected_version=1),  # ok -> version 2
        Put(entity(sensor("V", 4)), LATER, expected_version=1),  # stale now: 2
        Put(entity(sensor("V", 5)), LATER, "replace", expected_version=2),  # ok -> 3
        Delete(urn("V"), expected_version=2),  # stale: 3
        Put(entity(sensor("W")), NOW, "upsert", expected_version=1),  # no such entity
        Delete(urn("X"), expected_version=1),  # no such entity
    ])
    assert errors(outcomes) == [
        "Conflict", None, "Conflict", None, "Conflict", "Conflict", "ResourceNotFound"]
    stored = (await store.get(T, [urn("V"), urn("W")]))
    assert list(stored) == [urn("V")]
    assert (stored[urn("V")].version, stored[urn("V")].entity["attrs"]) == (
        3, entity(sensor("V", 5))["attrs"])
    [deleted] = await store.write(T, [Delete(urn("V"), expected_version=3)])
    assert deleted.error is None
    assert await store.get(T, [urn("V")]) == {}


async def test_a_failing_operation_leaves_the_others_of_its_batch_alone(store: Store) -> None:
    await put_all(store, T, [sensor("A")])
    outcomes = await store.write(T, [
        Put(entity(sensor("B")), NOW, "create"),
        Put(entity(sensor("A", 99)), NOW, "create"),
        Put(entity(sensor("C")), NOW, "replace"),
        Delete(urn("Z")),
        Put(entity(sensor("D")), NOW, "create"),
    ])
    assert errors(outcomes) == [None, "AlreadyExists", "ResourceNotFound", "ResourceNotFound",
                                None]
    assert [o.created for o in outcomes] == [True, False, False, False, True]
    assert await found(store, T) == ["A", "B", "D"]
    assert await found(store, T, q=q("temperature==99")) == []


async def test_operations_on_one_id_in_one_batch_see_each_other(store: Store) -> None:
    await put_all(store, T, [sensor("E"), sensor("F")])
    outcomes = await store.write(T, [
        Put(entity(sensor("N", 1)), NOW, "create"),  # new
        Put(entity(sensor("N", 2)), NOW, "create"),  # exists now
        Put(entity(sensor("N", 3)), LATER, "upsert"),  # updates the new one
        Put(entity(sensor("G", 1)), NOW, "create"),
        Delete(urn("G")),  # created and deleted: never stored
        Delete(urn("E")),
        Put(entity(sensor("E", 7), LATER), LATER, "create"),  # created anew
        Put(entity(sensor("F", 8), LATER), LATER, "replace"),
        Put(entity(sensor("F", 9), LATER), LATER, "replace"),
    ])
    assert errors(outcomes) == [None, "AlreadyExists", None, None, None, None, None, None, None]
    assert [o.created for o in outcomes] == [
        True, False, False, True, False, False, True, False, False]
    stored = await store.get(T, [urn(n) for n in "NGEF"])
    assert sorted(stored) == [urn("E"), urn("F"), urn("N")]
    assert (stored[urn("N")].version, stored[urn("N")].created_at) == (2, NOW)
    assert stored[urn("N")].entity["attrs"] == entity(sensor("N", 3))["attrs"]
    assert (stored[urn("E")].version, stored[urn("E")].created_at) == (1, LATER)
    assert (stored[urn("F")].version, stored[urn("F")].created_at) == (3, NOW)
    # in creation order: F was stored first, then N, then the new E
    assert await found(store, T, q=q("temperature>2")) == ["F", "N", "E"]
    assert await found(store, T, q=q("temperature<3")) == []


async def test_previous_is_the_stored_state_when_asked_for(store: Store) -> None:
    [before] = await put_all(store, T, [sensor("P", 1)])
    ops = [Put(entity(sensor("P", 2), LATER), LATER), Put(entity(sensor("Q")), NOW),
           Delete(urn("P"))]
    plain = await store.write(T, ops[:1])
    assert plain[0].previous is None
    outcomes = await store.write(T, ops[1:], want_previous=True)
    assert outcomes[0].previous is None  # Q did not exist
    previous = outcomes[1].previous
    assert previous is not None
    assert (previous.version, previous.created_at, previous.modified_at) == (2, NOW, LATER)
    assert previous.entity["attrs"] == entity(sensor("P", 2), LATER)["attrs"]
    assert before["attrs"] != previous.entity["attrs"]


async def test_tenants_are_isolated(store: Store) -> None:
    one, two = new_tenant(), new_tenant()
    assert not await store.tenant_exists(one)
    await put_all(store, one, [sensor("X", 1), sensor("Y", 1)])
    await put_all(store, two, [sensor("X", 2)])
    assert await store.tenant_exists(one) and await store.tenant_exists(two)
    assert not await store.tenant_exists(new_tenant())
    got = await store.get(two, [urn("X"), urn("Y")])
    assert list(got) == [urn("X")]
    assert got[urn("X")].entity["attrs"] == entity(sensor("X", 2))["attrs"]
    assert (await store.query(one, EntityQuery(count=True, limit=0))).count == 2
    assert (await store.query(two, EntityQuery(count=True, limit=0))).count == 1
    assert await found(store, one, q=q("temperature==2")) == []
    assert await found(store, two, q=q("temperature==2")) == ["X"]
    assert [s.count for s in await store.type_summaries(two)] == [1]
    assert [s.count for s in await store.attribute_summaries(two)] == [1]
    [deleted] = await store.write(two, [Delete(urn("X"))])
    assert deleted.error is None
    assert sorted(await store.get(one, [urn("X"), urn("Y")])) == [urn("X"), urn("Y")]
    assert await store.delete_matching(one, EntityQuery()) == 2
    assert await store.tenant_exists(one)  # a tenant stays once it was written to


async def test_get_many_ids_some_missing(store: Store) -> None:
    await put_all(store, T, [sensor(f"M{i}", i) for i in range(1200)])
    wanted = [urn(f"M{i}") for i in range(0, 2400, 2)]
    got = await store.get(T, wanted)
    assert sorted(got) == sorted(urn(f"M{i}") for i in range(0, 1200, 2))
    assert got[urn("M10")].entity["attrs"] == entity(sensor("M10", 10))["attrs"]
    assert await store.get(T, []) == {}


async def test_large_batches_create_then_update(store: Store) -> None:
    n = 2500
    payloads = [sensor(f"L{i}", i, location={"type": "Point", "coordinates": [127.0, 36.0]})
                for i in range(n)]
    outcomes = await store.write(T, [Put(entity(p), NOW) for p in payloads])
    assert all(o.created and o.error is None for o in outcomes)
    result = await store.query(T, EntityQuery(q=q("temperature>=2490"), count=True))
    assert result.count == 10
    assert [e.entity["id"] for e in result.entities] == [urn(f"L{i}") for i in range(2490, n)]
    updated = [Put(entity(sensor(f"L{i}", -i), LATER), LATER) for i in range(n)]
    outcomes = await store.write(T, updated, want_previous=True)
    assert not any(o.created or o.error for o in outcomes)
    assert outcomes[7].previous is not None and outcomes[7].previous.version == 1
    assert (await store.query(T, EntityQuery(q=q("temperature>=0"), count=True))).count == 1
    assert (await store.query(T, EntityQuery(q=q("location"), count=True, limit=0))).count == 0
    stored = (await store.get(T, [urn("L42")]))[urn("L42")]
    assert (stored.version, stored.created_at, stored.modified_at) == (2, NOW, LATER)


async def test_documents_round_trip(store: Store) -> None:
    payload = {
        "id": "urn:ngsi-ld:Test:RT",
        "type": ["Sensor", "https://example.org/ns#Device"],
        "scope": ["/Sejong/Hansol", "/Sejong"],
        "name": {"type": "LanguageProperty", "languageMap": {"ko": "세종 센서", "en": "Sejong"}},
        "reading": {"type": "Property", "value": 1e-7, "unitCode": "CEL",
                    "observedAt": "2024-05-01T08:00:00Z",
                    "quality": {"type": "Property", "value": {"grade": "A", "score": [1, 2.5]}}},
        "big": 12345678901234567,
        "ratio": 0.1,
        "flag": False,
        "nothing": {"type": "JsonProperty", "json": {"a": None, "b": [True, {"c": "ü"}]}},
        "road": {"type": "Relationship", "object": "urn:ngsi-ld:Road:1"},
        "roads": {"type": "ListRelationship", "objectList": ["urn:ngsi-ld:Road:1"]},
        "levels": {"type": "ListProperty", "valueList": [1, "two", 3.5]},
        "category": {"type": "VocabProperty", "vocab": ["traffic", "safety"]},
        "area": {"type": "GeoProperty", "value": {
            "type": "Polygon", "coordinates": [[[127, 36], [128, 36], [128, 37], [127, 36]]]}},
        "multi": [{"type": "Property", "value": 1, "datasetId": "urn:ds:1"},
                  {"type": "Property", "value": 2, "datasetId": "urn:ds:2"}],
        "text": "tab\there \"quoted\" \\ back\u2028slash",
    }
    [written] = await put_all(store, T, [payload])
    stored = (await store.get(T, [payload["id"]]))[payload["id"]]
    assert stored.entity == written


async def test_contexts_crud(store: Store) -> None:
    assert await store.list_contexts() == []
    first = ContextRecord("c1", "https://example.org/c1.jsonld", "Hosted",
                          {"@context": {"b": "https://b/", "a": "https://a/"}}, NOW)
    second = ContextRecord("c2", "https://example.org/c2.jsonld", "Cached",
                           {"@context": ["https://x/"]}, "2024-04-01T00:00:00.000Z")
    await store.put_context(first)
    await store.put_context(second)
    assert await store.list_contexts() == [second, first]  # by creation time
    changed = ContextRecord("c1", first.url, "Hosted", {"@context": {"c": "https://c/"}}, LATER)
    await store.put_context(changed)
    assert await store.list_contexts() == [second, changed]
    assert await store.delete_context("c2") is True
    assert await store.delete_context("c2") is False
    assert await store.list_contexts() == [changed]
