"""The ingest pipeline over each store: mapping, checks, dead letters, counters, quality."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cityhub.broker import Hub
from cityhub.ingest.payloads import Measurement
from cityhub.ingest.pipeline import IngestPipeline, IngestReport, Record, entity_record
from cityhub.ingest.registry import parse_device
from cityhub.ngsild.context import core_term_map
from cityhub.ngsild.render import KEY_VALUES, RenderOptions, render_entity
from cityhub.ngsild.temporal import TemporalQuery

pytestmark = pytest.mark.anyio
TERMS = core_term_map()
AQ = {"deviceId": "aq-1", "entityType": "AirQualityObserved", "entityId":
      "urn:ngsi-ld:AirQualityObserved:aq-1", "tenant": "city",
      "attributes": {"pm25": {"name": "pm25", "unitCode": "GQ", "min": 0, "max": 500},
                     "t": {"name": "temperature", "unitCode": "CEL"}}}


async def provision(pipeline: IngestPipeline, *records: dict[str, Any]) -> None:
    await pipeline.registry.provision([parse_device(r) for r in records])


async def key_values(hub: Hub, tenant: str, entity_id: str) -> dict[str, Any]:
    stored = await hub.entities.retrieve(tenant, entity_id)
    return render_entity(stored.entity, TERMS, RenderOptions(format=KEY_VALUES))


async def history_size(hub: Hub, tenant: str, entity_id: str, attr: str) -> int:
    found = await hub.temporal.retrieve(tenant, entity_id, (TERMS.expand(attr),),
                                        TemporalQuery())
    return len(found.instances)


async def device(pipeline: IngestPipeline, device_id: str, *measurements: Measurement,
                 tenant: str = "city") -> IngestReport:
    report = IngestReport()
    records = await pipeline.device_records("test", tenant, device_id, measurements, report)
    await pipeline.write_now(records, report)
    return report


async def test_measurements_update_the_entity_with_units_and_times(
        pipeline: IngestPipeline, hub: Hub) -> None:
    await provision(pipeline, AQ)
    report = await device(pipeline, "aq-1", Measurement(
        {"pm25": 12.5, "t": 21}, "2026-05-01T09:00:00.000Z"))
    assert (report.accepted, report.rejected) == (1, 0)
    stored = await hub.entities.retrieve("city", AQ["entityId"])
    [pm25] = stored.entity["attrs"][TERMS.expand("pm25")]
    assert pm25["value"] == 12.5 and pm25["unitCode"] == "GQ"
    assert pm25["observedAt"] == "2026-05-01T09:00:00.000Z"
    assert (await key_values(hub, "city", AQ["entityId"]))["temperature"] == 21


async def test_two_readings_in_one_batch_are_both_kept(pipeline: IngestPipeline,
                                                      hub: Hub) -> None:
    await provision(pipeline, AQ)
    times = [f"2026-05-01T09:00:0{i}.000Z" for i in range(3)]
    report = await device(pipeline, "aq-1", *[Measurement({"pm25": i}, t)
                                              for i, t in enumerate(times)])
    assert report.accepted == 3
    assert (await key_values(hub, "city", AQ["entityId"]))["pm25"] == 2
    assert await history_size(hub, "city", AQ["entityId"], "pm25") == 3


async def test_bad_records_are_rejected_with_reasons_and_the_good_stored(
        pipeline: IngestPipeline, hub: Hub) -> None:
    await provision(pipeline, AQ)
    report = IngestReport()
    records = []
    for index, measurement in enumerate([
        Measurement({"pm25": 10}),                         # good
        Measurement({"pm25": 900}),                        # out of the device's range
        Measurement({"pm25": -3}),                         # below the device's range
        Measurement({"pm25": 5}, units={"pm25": "KGM"}),   # wrong unit
        Measurement({"pm25": "lots"}),                     # not a number (model)
        Measurement({"humidity": 3}),                      # not provisioned
        Measurement({"pm25": 11}, units={"pm25": "GQ"}),   # good, unit stated
    ]):
        records += await pipeline.device_records("test", "city", "aq-1", [measurement],
                                                 report, index)
    records += await pipeline.device_records("test", "city", "nobody", [Measurement({"x": 1})],
                                             report, 7)
    await pipeline.write_now(records, report)
    assert (report.received, report.accepted, report.rejected) == (8, 2, 6)
    reasons = dict(report.errors)
    assert "above the device's range" in reasons[1]
    assert "below the device's range" in reasons[2]
    assert "unit 'KGM'" in reasons[3]
    assert "must be a number" in reasons[4]
    assert "not provisioned" in reasons[5] and "not provisioned" in reasons[7]
    await pipeline.dead_letters.flush()
    rejections, count = await pipeline.dead_letters.list("city", limit=100)
    assert count == 6
    assert {r["source"] for r in rejections} == {"test"}
    assert any(r.get("deviceId") == "nobody" and r["record"] == {"measurements": ["x"]}
               for r in rejections)
    await pipeline.flush_side_effects()
    counters = await key_values(hub, "", "urn:ngsi-ld:IngestSource:test")
    assert (counters["received"], counters["accepted"], counters["rejected"]) == (8, 2, 6)


async def test_a_store_failure_rejects_only_that_entity(pipeline: IngestPipeline,
                                                       hub: Hub) -> None:
    good = entity_record("test", "city", {"id": "urn:ngsi-ld:WasteContainer:w1",
                                          "type": "WasteContainer", "fillingLevel": 0.5,
                                          "location": {"type": "Point",
                                                       "coordinates": [127.29, 36.48]}})
    # a geometry the broker refuses (longitude 500) fails at the broker, after validation
    bad = Record("test", "city", "urn:ngsi-ld:WasteContainer:w2", "WasteContainer",
                 {"where": {"type": "Point", "coordinates": [500, 100]}},
                 kinds={"where": "GeoProperty"})
    report = await pipeline.write_now([good, bad])
    assert (report.accepted, report.rejected) == (1, 1)
    assert (await key_values(hub, "city", "urn:ngsi-ld:WasteContainer:w1"))["fillingLevel"] \
        == 0.5


async def test_duplicates_are_suppressed_and_counted(pipeline: IngestPipeline) -> None:
    await provision(pipeline, AQ)
    reading = Measurement({"pm25": 10}, "2026-05-01T09:00:00.000Z")
    first = await device(pipeline, "aq-1", reading)
    again = await device(pipeline, "aq-1", Measurement({"pm25": 10},
                                                       "2026-05-01T09:00:00.000Z"))
    assert (first.accepted, again.accepted, again.duplicates) == (1, 0, 1)
    assert pipeline.counters.get("test").duplicates == 1


async def test_personal_values_are_pseudonymised(pipeline: IngestPipeline, hub: Hub) -> None:
    await provision(pipeline, {
        "deviceId": "counter-1", "entityType": "CrowdFlowObserved", "tenant": "city",
        "attributes": {"mac": {"name": "macAddress", "privacy": "pseudonymise"},
                       "n": {"name": "peopleCount"}}},
        {"deviceId": "band-7", "entityType": "Wearable", "tenant": "city", "personal": True,
         "attributes": {"pos": {"name": "location", "privacy": "generalise"}}})
    await device(pipeline, "counter-1", Measurement({"mac": "AA:BB:CC:DD:EE:FF", "n": 3}))
    await device(pipeline, "band-7", Measurement(
        {"pos": {"type": "Point", "coordinates": [127.291234, 36.481234]}}))
    crowd = await key_values(hub, "city", "urn:ngsi-ld:CrowdFlowObserved:counter-1")
    assert crowd["macAddress"] == pipeline.pseudonymiser.pseudonym("aa-bb-cc-dd-ee-ff")
    assert crowd["macAddress"].startswith("pse:k2:")
    token = pipeline.pseudonymiser.pseudonym("band-7").replace(":", "-")
    wearable = await key_values(hub, "city", f"urn:ngsi-ld:Wearable:{token}")
    assert wearable["location"]["coordinates"] == [127.291, 36.481]


async def test_a_silent_sensor_raises_an_alert_closed_when_it_speaks(
        pipeline: IngestPipeline, hub: Hub) -> None:
    await provision(pipeline, {**AQ, "intervalSeconds": 0.05})
    await device(pipeline, "aq-1", Measurement({"pm25": 10}))
    await asyncio.sleep(0.15)
    await pipeline.flush_side_effects()
    alert = await key_values(hub, "city", "urn:ngsi-ld:Alert:stale-aq-1")
    assert alert["subCategory"] == "staleSensor" and alert["category"] == "environment"
    assert alert["alertSource"] == "urn:ngsi-ld:Device:aq-1" and "validTo" not in alert
    await device(pipeline, "aq-1", Measurement({"pm25": 11}))
    assert "validTo" in await key_values(hub, "city", "urn:ngsi-ld:Alert:stale-aq-1")


async def test_the_windowed_path_writes_everything_submitted(pipeline: IngestPipeline,
                                                            hub: Hub) -> None:
    await provision(pipeline, AQ)
    for i in range(50):
        await pipeline.device_payload(
            "mqtt", "city", "aq-1",
            f'{{"pm25": {i}, "observedAt": "2026-05-01T09:00:{i:02d}Z"}}'.encode())
    await pipeline.device_payload("mqtt", "city", "aq-1", b"{nope")
    await pipeline.drain()
    count = pipeline.counters.get("mqtt")
    assert (count.received, count.accepted, count.rejected) == (51, 50, 1)
    assert await history_size(hub, "city", AQ["entityId"], "pm25") == 50


async def test_devices_persist_as_device_entities(pipeline: IngestPipeline, hub: Hub) -> None:
    await provision(pipeline, AQ)
    device_entity = await key_values(hub, "city", "urn:ngsi-ld:Device:aq-1")
    assert device_entity["type"] == "Device"
    assert device_entity["controlledAsset"] == AQ["entityId"]
    assert device_entity["controlledProperty"] == ["temperature"]
    fresh = IngestPipeline(hub)  # another process: no cache
    spec = await fresh.registry.get("city", "aq-1")
    assert spec is not None and spec.attributes["t"].name == "temperature"
    specs, count = await fresh.registry.list("city")
    assert count == 1 and specs[0].device_id == "aq-1"
    await fresh.registry.remove("city", "aq-1")
    assert await IngestPipeline(hub).registry.get("city", "aq-1") is None


async def test_the_city_simulators_provisioning_file_loads(pipeline: IngestPipeline,
                                                          tmp_path: Any) -> None:
    import json

    from cityhub.city.publish import provisioning
    from cityhub.city.virtual import default_city

    records = provisioning(default_city().assets, "city")
    path = tmp_path / "devices.json"
    path.write_text(json.dumps(records))
    loaded = await pipeline.registry.load_file(path)
    assert len(loaded) == len(records) > 100
    spec = await IngestPipeline(pipeline.hub).registry.get("city", records[0]["deviceId"])
    assert spec is not None and spec.entity_id == records[0]["entityId"]
