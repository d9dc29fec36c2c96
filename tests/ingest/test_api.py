"""The HTTP routes of ingestion: devices, bulk ingest, dead letters, counters, public views."""

from __future__ import annotations

from typing import Any

from api.support import assert_problem
from conftest import ApiClient

AQ = {"deviceId": "aq-1", "entityType": "AirQualityObserved",
      "attributes": {"pm25": {"unitCode": "GQ", "min": 0, "max": 500}}}


def cityhub(api: ApiClient, path: str) -> str:
    return f"{api.hub_url}/cityhub/v1{path}"


def provision(api: ApiClient, body: Any) -> None:
    response = api.post(cityhub(api, "/devices"), json=body)
    assert response.status_code == 201, response.text


def test_devices_are_provisioned_read_listed_and_removed(api: ApiClient) -> None:
    provision(api, [AQ, {**AQ, "deviceId": "aq-2"}])
    response = api.get(cityhub(api, "/devices/aq-1"))
    assert response.status_code == 200
    device = response.json()
    assert device["tenant"] == api.tenant  # the request's tenant when the record names none
    assert device["entityId"] == "urn:ngsi-ld:AirQualityObserved:aq-1"
    listed = api.get(cityhub(api, "/devices"))
    assert [d["deviceId"] for d in listed.json()] == ["aq-1", "aq-2"]
    assert listed.headers["NGSILD-Results-Count"] == "2"
    assert api.get("/entities/urn:ngsi-ld:Device:aq-1").json()["type"] == "Device"
    assert api.delete(cityhub(api, "/devices/aq-2")).status_code == 204
    assert_problem(api.get(cityhub(api, "/devices/aq-2")), 404, "ResourceNotFound")
    assert_problem(api.delete(cityhub(api, "/devices/aq-2")), 404, "ResourceNotFound")


def test_bad_provisioning_changes_nothing(api: ApiClient) -> None:
    for body in ({"deviceId": "a/b", "entityType": "X"}, [AQ, {"deviceId": "x"}],
                 {**AQ, "attributes": {"pm25": {"min": 5, "max": 1}}},
                 {**AQ, "colour": "red"}, [], "text"):
        assert_problem(api.post(cityhub(api, "/devices"), json=body), 400)
    assert api.get(cityhub(api, "/devices")).json() == []
    assert_problem(api.get(cityhub(api, "/devices"), params={"limit": "0"}), 400)
    assert_problem(api.get(cityhub(api, "/devices"), params={"colour": "x"}), 400)


def test_bulk_ingest_stores_the_good_and_reports_the_bad(api: ApiClient) -> None:
    provision(api, AQ)
    body = [
        {"deviceId": "aq-1", "pm25": 12, "observedAt": "2026-05-01T09:00:00Z"},
        {"deviceId": "aq-1", "pm25": 900},
        {"deviceId": "ghost", "pm25": 1},
        {"id": "urn:ngsi-ld:ParkingSpot:p1", "type": "ParkingSpot", "status": "free",
         "category": ["onStreet"], "refParkingSite": "urn:ngsi-ld:OnStreetParking:s1",
         "location": {"type": "Point", "coordinates": [127.29, 36.48]}},
        {"id": "urn:ngsi-ld:ParkingSpot:p2", "type": "ParkingSpot", "status": "gone"},
        "not an object",
        {"deviceId": "aq-1", "pm25": 12, "observedAt": "2026-05-01T09:00:00Z"},
    ]
    response = api.post(cityhub(api, "/ingest"), json=body)
    assert response.status_code == 207
    report = response.json()
    assert {k: report[k] for k in ("received", "accepted", "rejected", "duplicates")} == {
        "received": 7, "accepted": 2, "rejected": 4, "duplicates": 1}
    assert [e["index"] for e in report["errors"]] == [1, 2, 4, 5]
    spot = api.get("/entities/urn:ngsi-ld:ParkingSpot:p1").json()
    assert spot["refParkingSite"]["type"] == "Relationship"
    assert spot["location"]["type"] == "GeoProperty"
    assert api.get("/entities/urn:ngsi-ld:AirQualityObserved:aq-1",
                   params={"options": "keyValues"}).json()["pm25"] == 12
    rejections = api.get(cityhub(api, "/ingest/rejections"))
    assert rejections.headers["NGSILD-Results-Count"] == "4"
    reasons = sorted(r["reason"] for r in rejections.json())
    assert any("above the device's range" in r for r in reasons)
    assert any("status" in r for r in reasons)
    sources = {s["name"]: s for s in api.get(cityhub(api, "/ingest/sources")).json()}
    assert sources["http"]["received"] >= 7
    assert api.get("/entities", params={"type": "IngestRejection"}).status_code == 200


def test_bulk_ingest_refuses_what_is_not_a_batch(api: ApiClient) -> None:
    assert_problem(api.post(cityhub(api, "/ingest"), json={"deviceId": "x"}), 400)
    assert_problem(api.post(cityhub(api, "/ingest"), content=b"[{",
                            headers={"Content-Type": "application/json"}), 400)
    assert_problem(api.post(cityhub(api, "/ingest"), content=b"[]",
                            headers={"Content-Type": "text/csv"}), 415)
    assert_problem(api.get(cityhub(api, "/ingest")), 405)


def test_public_views_hide_people_and_small_groups(api: ApiClient) -> None:
    provision(api, {"deviceId": "cam-1", "entityType": "Vehicle",
                    "attributes": {"plate": {"name": "vehiclePlateIdentifier"},
                                   "pos": {"name": "location"}}})
    crowd = [{"id": f"urn:ngsi-ld:CrowdFlowObserved:c{i}", "type": "CrowdFlowObserved",
              "dateObserved": "2026-05-01T09:00:00Z",
              "location": {"type": "Point", "coordinates": [127.2912 + i * 1e-4, 36.4811]}}
             for i in range(6)]
    crowd.append({**crowd[0], "id": "urn:ngsi-ld:CrowdFlowObserved:far",
                  "location": {"type": "Point", "coordinates": [127.35, 36.50]}})
    api.create_many(crowd)
    counts = api.get(cityhub(api, "/public/counts"), params={"type": "CrowdFlowObserved"})
    assert counts.status_code == 200
    assert counts.json()["k"] == 5
    assert [c["count"] for c in counts.json()["cells"]] == [6]
    assert counts.json()["suppressed"] == 1
    public = api.get(cityhub(api, "/public/entities"), params={"type": "CrowdFlowObserved",
                                                               "limit": "1"}).json()
    assert public[0]["location"]["coordinates"] == [127.295, 36.485]
    assert_problem(api.get(cityhub(api, "/public/counts")), 400)
    assert_problem(api.get(cityhub(api, "/public/counts"),
                           params={"type": "X", "cellDegrees": "0"}), 400)


def test_every_ingest_route_is_documented() -> None:
    from pathlib import Path

    from cityhub.api import devices, ingest, public

    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    for module in (devices, ingest, public):
        for route in module.routes:
            base = route.path.split("{")[0].rstrip("/")
            assert f"/cityhub/v1{base}" in text, f"{route.path} is not in docs/api.md"
