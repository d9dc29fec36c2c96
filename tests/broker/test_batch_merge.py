"""Batch upsert with options=update (the MQTT gateway's write): each entity's attributes are
appended to the stored entity's, through the broker over a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cityhub.broker import Hub
from cityhub.ngsild.context import core_term_map

pytestmark = pytest.mark.anyio

TERMS = core_term_map()
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
LOCATION = TERMS.expand("location")  # a core term


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    hub = Hub.from_dsn(f"sqlite:///{tmp_path / 'hub.db'}")
    await hub.start()
    yield hub
    await hub.stop()


def sensor(number: int, **attrs: object) -> dict:
    return {"id": f"urn:ngsi-ld:Sensor:{number}", "type": "Sensor", **attrs}


def reading(value: float, observed: str = "2026-11-22T09:00:00Z") -> dict:
    return {"type": "Property", "value": value, "unitCode": "GQ", "observedAt": observed}


async def stored(hub: Hub, number: int) -> dict:
    return (await hub.batch.store.get("", [f"urn:ngsi-ld:Sensor:{number}"]))[
        f"urn:ngsi-ld:Sensor:{number}"].entity


async def test_update_appends_to_stored_entities_and_creates_missing(hub: Hub) -> None:
    first = await hub.batch.upsert("", [sensor(1, pm25=reading(10), colour={"value": "red"}),
                                        sensor(2, pm25=reading(20))], TERMS)
    assert sorted(first.created) == ["urn:ngsi-ld:Sensor:1", "urn:ngsi-ld:Sensor:2"]
    before = await stored(hub, 1)
    result = await hub.batch.upsert("", [
        sensor(1, pm25=reading(11, "2026-11-22T10:00:00Z"),
               location={"type": "GeoProperty",
                         "value": {"type": "Point", "coordinates": [127, 36]}}),
        {**sensor(3, pm25=reading(30)), "type": ["Sensor", "Device"]},
    ], TERMS, replace=False)
    assert sorted(result.success) == ["urn:ngsi-ld:Sensor:1", "urn:ngsi-ld:Sensor:3"]
    assert result.created == ["urn:ngsi-ld:Sensor:3"] and not result.errors
    after = await stored(hub, 1)
    pm25 = after["attrs"][VOCAB + "pm25"]
    assert [i["value"] for i in pm25] == [11]
    assert pm25[0]["observedAt"] == "2026-11-22T10:00:00.000Z"
    assert pm25[0]["createdAt"] == before["attrs"][VOCAB + "pm25"][0]["createdAt"]
    assert pm25[0]["modifiedAt"] > pm25[0]["createdAt"]
    # what the update did not name stays as it was, instance for instance
    assert after["attrs"][VOCAB + "colour"] == before["attrs"][VOCAB + "colour"]
    assert after["attrs"][LOCATION][0]["value"]["coordinates"] == [127.0, 36.0]
    assert list(after["attrs"]) == [VOCAB + "pm25", VOCAB + "colour", LOCATION]
    assert (await stored(hub, 2))["attrs"][VOCAB + "pm25"][0]["value"] == 20


async def test_update_merges_one_id_twice_in_order_and_unions_types(hub: Hub) -> None:
    await hub.batch.upsert("", [sensor(1, pm25=reading(1))], TERMS)
    result = await hub.batch.upsert("", [
        {**sensor(1, pm25=reading(2)), "type": ["Device"]},
        sensor(1, pm10=reading(3), pm25=reading(4)),
    ], TERMS, replace=False)
    assert result.success == ["urn:ngsi-ld:Sensor:1"] and not result.errors
    entity = await stored(hub, 1)
    assert entity["type"] == [VOCAB + "Sensor", VOCAB + "Device"]
    assert {iri: [i["value"] for i in insts] for iri, insts in entity["attrs"].items()} == {
        VOCAB + "pm25": [4], VOCAB + "pm10": [3]}


async def test_update_keeps_other_datasets_and_adds_new_ones(hub: Hub) -> None:
    await hub.batch.upsert("", [sensor(1, pm25=[{"value": 1}, {"value": 2,
                                                              "datasetId": "urn:d:a"}])], TERMS)
    await hub.batch.upsert("", [sensor(1, pm25=[{"value": 5, "datasetId": "urn:d:a"},
                                                {"value": 6, "datasetId": "urn:d:b"}])],
                           TERMS, replace=False)
    pm25 = (await stored(hub, 1))["attrs"][VOCAB + "pm25"]
    assert [(i.get("datasetId"), i["value"]) for i in pm25] == [
        (None, 1), ("urn:d:a", 5), ("urn:d:b", 6)]


async def test_update_refuses_bad_entities_one_by_one(hub: Hub) -> None:
    await hub.batch.upsert("", [sensor(1, pm25=reading(1)), sensor(2, pm25=reading(2))], TERMS)
    result = await hub.batch.upsert("", [
        sensor(1, pm25={"type": "Property", "value": "urn:ngsi-ld:null"}),
        sensor(2, pm25=reading(22)),
        sensor(3, pm25={"type": "Property", "value": 1, "observedAt": "2026-02-30T00:00:00Z"}),
    ], TERMS, replace=False)
    assert result.success == ["urn:ngsi-ld:Sensor:2"]
    errors = {entity_id: error.detail for entity_id, error in result.errors}
    assert "null is not a value" in errors["urn:ngsi-ld:Sensor:1"]
    assert "not a valid" in errors["urn:ngsi-ld:Sensor:3"]
    assert (await stored(hub, 1))["attrs"][VOCAB + "pm25"][0]["value"] == 1
    assert (await stored(hub, 2))["attrs"][VOCAB + "pm25"][0]["value"] == 22
