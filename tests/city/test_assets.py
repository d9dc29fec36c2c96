"""Assets placed on a city: Smart Data Model entities, labelled simulated, wired to the model."""

from __future__ import annotations

import json
from collections import Counter

from cityhub.city.entities import SIMULATED, SIMULATED_SCOPE
from cityhub.city.publish import provisioning
from cityhub.city.virtual import VirtualCity, synthetic_city
from cityhub.ngsild.context import core_term_map
from cityhub.ngsild.entity import EntityParser, now_iso

ASSET_TYPES = {"AirQualityObserved", "WeatherObserved", "TrafficFlowObserved",
               "OffStreetParking", "ParkingSpot", "Streetlight", "WasteContainer",
               "EVChargingStation", "Camera", "EmergencyUnit", "ACMeasurement"}


def test_every_kind_of_asset_is_placed(helsinki_city: VirtualCity) -> None:
    counts = Counter(a.type for a in helsinki_city.assets)
    assert set(counts) == ASSET_TYPES
    assert counts["AirQualityObserved"] == len(helsinki_city.model.districts)
    assert counts["TrafficFlowObserved"] == 40
    # real places are used where the extract has them
    assert counts["OffStreetParking"] == 30  # capped; the extract has 39 parking areas
    assert counts["EVChargingStation"] == 4
    assert counts["WasteContainer"] == 52


def test_assets_are_labelled_simulated_and_valid_ngsi_ld(helsinki_city: VirtualCity) -> None:
    parser = EntityParser(core_term_map(), now_iso())
    entities = helsinki_city.entities()
    ids = {e["id"] for e in entities}
    assert len(ids) == len(entities)
    for entity in entities:
        parser.entity(entity)  # raises on anything that is not valid NGSI-LD
        if entity["type"] in ASSET_TYPES:
            assert entity["dataProvider"]["value"] == SIMULATED
            assert entity["scope"] == SIMULATED_SCOPE
        elif entity["type"] != "City":
            provider = entity["dataProvider"]["value"]
            assert provider.startswith("OpenStreetMap") or entity.get("derived", {}).get(
                "value"), entity["id"]


def test_relationships_point_at_entities_of_the_city(helsinki_city: VirtualCity) -> None:
    entities = helsinki_city.entities()
    by_id = {e["id"]: e for e in entities}
    wanted = {"refRoadSegment": "RoadSegment", "refStation": "PointOfInterest",
              "refParkingSite": "OffStreetParking", "refCity": "City",
              "refStartJunction": "RoadJunction", "refEndJunction": "RoadJunction"}
    seen = Counter()
    for entity in entities:
        for name, target_type in wanted.items():
            if name in entity:
                assert by_id[entity[name]["object"]]["type"] == target_type
                seen[name] += 1
    assert set(seen) == set(wanted)


def test_missing_emergency_stations_are_derived(helsinki_city: VirtualCity) -> None:
    police = helsinki_city.model.places_of("police")
    assert len(police) == 1 and police[0].derived  # the extract has no police station
    fire = helsinki_city.model.places_of("fireStation")
    assert fire and not fire[0].derived  # but it has a fire station
    units = [a for a in helsinki_city.assets if a.type == "EmergencyUnit"]
    assert Counter(a.attrs["unitKind"] for a in units) == {"police": 2, "fire": 2}


def test_cameras_have_a_position_heading_and_field_of_view(helsinki_city: VirtualCity) -> None:
    cameras = [a for a in helsinki_city.assets if a.type == "Camera"]
    assert len(cameras) == 25
    for camera in cameras:
        assert 0 <= camera.attrs["heading"] < 360
        assert camera.attrs["fieldOfView"] == 90
    assert len({c.attrs["heading"] for c in cameras}) > 5


def test_the_provisioning_file_describes_every_device(helsinki_city: VirtualCity) -> None:
    devices = provisioning(helsinki_city.assets, "helsinki")
    measuring = [a for a in helsinki_city.assets if a.measurements]
    assert len(devices) == len(measuring)
    assert len({d["deviceId"] for d in devices}) == len(devices)
    json.dumps(devices)
    air = next(d for d in devices if d["entityType"] == "AirQualityObserved")
    assert air["tenant"] == "helsinki"
    assert air["attributes"]["pm25"] == {"name": "pm25", "unitCode": "GQ", "min": 0, "max": 500}
    weather = next(d for d in devices if d["entityType"] == "WeatherObserved")
    assert weather["attributes"]["temp"]["name"] == "temperature"


def test_placement_is_deterministic_by_seed() -> None:
    a, b = synthetic_city(5, 6), synthetic_city(5, 6)
    assert [(x.entity_id, x.lon, x.lat) for x in a.assets] == \
        [(x.entity_id, x.lon, x.lat) for x in b.assets]
    c = synthetic_city(5, 6, asset_seed=6)
    assert [(x.lon, x.lat) for x in a.assets] != [(x.lon, x.lat) for x in c.assets]


def test_the_ingest_gateway_accepts_the_provisioning_file(helsinki_city: VirtualCity) -> None:
    from cityhub.ingest.registry import parse_device

    for device in provisioning(helsinki_city.assets, "default"):
        spec = parse_device(device)
        assert spec.tenant == "" and spec.entity_id == device["entityId"]
