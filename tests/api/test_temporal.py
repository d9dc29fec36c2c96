"""The temporal routes: /ngsi-ld/v1/temporal/... (clauses 6.18 - 6.22, 6.24), on both stores.

Every test runs against a hub on SQLite and on PostgreSQL (a fresh schema), each test in a
tenant of its own. Aggregated values are checked against values computed here.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cityhub.broker import Hub
from cityhub.broker.retention import RetentionPolicy
from cityhub.settings import Settings
from cityhub.store.postgres import PostgresStore
from cityhub.store.sqlite import SqliteStore
from conftest import ApiClient, new_tenant, postgres_test_schema, serve_hub

from .support import assert_problem, link_header, payload

AQ1 = "urn:ngsi-ld:AirQualityObserved:Sejong-1"
AQ2 = "urn:ngsi-ld:AirQualityObserved:Sejong-2"
LIGHT = "urn:ngsi-ld:Streetlight:Sejong-7"
RAW = "urn:ngsi-ld:Dataset:raw"
CALIBRATED = "urn:ngsi-ld:Dataset:calibrated"
PM25_AQ1 = [(10, "2024-05-01T10:00:00.000Z"), (14, "2024-05-01T10:20:00.000Z"),
            (18, "2024-05-01T10:40:00.000Z"), (30, "2024-05-01T11:00:00.000Z"),
            (32, "2024-05-01T11:30:00.000Z")]


#: base URL of a module hub -> the DSN of its store (for the retention command)
DSN_OF: dict[str, str] = {}


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hub_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[str]:
    """A hub on each store in turn, for the whole module (PostgreSQL: a fresh schema)."""
    if request.param == "sqlite":
        db = tmp_path_factory.mktemp("temporal") / "hub.db"
        with serve_hub(Settings(db=f"sqlite:///{db}")) as url:
            DSN_OF[url] = f"sqlite:///{db}"
            yield url
        return
    schema_of_module = postgres_test_schema()
    dsn, schema = asyncio.run(schema_of_module.__aenter__())
    try:
        hub = Hub(PostgresStore(dsn, schema=schema, max_size=4))
        with serve_hub(Settings(db=dsn), hub) as url:
            DSN_OF[url] = f"{dsn}?search_path={schema},public"
            yield url
    finally:
        asyncio.run(schema_of_module.__aexit__(None, None, None))


@pytest.fixture
def api(hub_url: str) -> Iterator[ApiClient]:
    client = ApiClient(hub_url, new_tenant())
    yield client  # teardown runs whatever the test did
    client.close()


@pytest.fixture
def stations(api: ApiClient) -> ApiClient:
    for item in payload("temporal_stations.json"):
        response = api.post("/temporal/entities", json=item)
        assert response.status_code == 201, response.text
    return api


def temporal(api: ApiClient, entity_id: str = AQ1, **params: str) -> dict[str, Any]:
    response = api.get(f"/temporal/entities/{entity_id}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def pairs(instances: list[dict[str, Any]]) -> list[tuple[Any, str]]:
    return [(i["value"], i["observedAt"]) for i in instances]


# -- 6.18.3.1 POST /temporal/entities ---------------------------------------------------------
def test_create_answers_201_then_204_and_the_entity_holds_the_latest(stations: ApiClient
                                                                      ) -> None:
    current = stations.get(f"/entities/{AQ1}").json()
    assert current["pm25"] == {"type": "Property", "value": 32, "unitCode": "GQ",
                               "observedAt": "2024-05-01T11:30:00.000Z"}
    assert stations.get(f"/entities/{AQ2}").json()["pm10"] == [
        {"type": "Property", "value": 50, "observedAt": "2024-05-01T10:10:00.000Z",
         "datasetId": RAW},
        {"type": "Property", "value": 46, "observedAt": "2024-05-01T10:10:00.000Z",
         "datasetId": CALIBRATED}]
    # an older observation joins the history; the entity keeps the later one
    again = stations.post("/temporal/entities", json={
        "id": AQ1, "type": "AirQualityObserved",
        "pm25": {"type": "Property", "value": 5, "observedAt": "2024-05-01T09:00:00Z"}})
    assert again.status_code == 204, again.text
    assert stations.get(f"/entities/{AQ1}").json()["pm25"]["value"] == 32
    assert pairs(temporal(stations, attrs="pm25")["pm25"]) == [
        (5, "2024-05-01T09:00:00.000Z"), *PM25_AQ1]
    # a later one becomes the present
    stations.post("/temporal/entities", json={
        "id": AQ1, "type": "AirQualityObserved",
        "pm25": [{"value": 40, "observedAt": "2024-05-01T12:00:00Z"},
                 {"value": 35, "observedAt": "2024-05-01T11:45:00Z"}]})
    assert stations.get(f"/entities/{AQ1}").json()["pm25"]["value"] == 40
    assert len(temporal(stations, attrs="pm25")["pm25"]) == 8


def test_create_answers_with_location_and_tenant(api: ApiClient) -> None:
    response = api.post("/temporal/entities", json={
        "id": "urn:ngsi-ld:Sensor:a", "type": "Sensor", "t": {"value": 1}})
    assert response.status_code == 201
    assert response.headers["location"] == "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Sensor:a"
    assert response.headers["ngsild-tenant"] == api.tenant


@pytest.mark.parametrize("body", [
    {"id": AQ1, "type": "AirQualityObserved", "pm25": []},
    {"id": AQ1, "type": "AirQualityObserved", "pm25": [{"value": 1, "observedAt": "later"}]},
    {"id": AQ1, "type": "AirQualityObserved", "location": [{"value": 1}]},
    {"id": "no uri", "type": "AirQualityObserved"},
    {"id": AQ1},
    [{"id": AQ1, "type": "AirQualityObserved"}],
])
def test_bad_temporal_entities_are_400_and_change_nothing(stations: ApiClient, body: Any) -> None:
    before = stations.snapshot(), temporal(stations)
    assert_problem(stations.post("/temporal/entities", json=body), 400)
    assert (stations.snapshot(), temporal(stations)) == before


# -- 6.19.3.1 GET /temporal/entities/{entityId} -----------------------------------------------
def test_retrieve_lists_every_instance_with_an_instance_id(stations: ApiClient) -> None:
    body = temporal(stations)
    assert (body["id"], body["type"], body["scope"]) == (AQ1, "AirQualityObserved",
                                                         ["/Sejong/Hansol"])
    assert pairs(body["pm25"]) == PM25_AQ1
    assert all(i["unitCode"] == "GQ" and i["instanceId"].startswith("urn:ngsi-ld:Instance:")
               for i in body["pm25"])
    assert len({i["instanceId"] for i in body["pm25"]}) == 5
    assert body["refDevice"] == [{"type": "Relationship", "object": "urn:ngsi-ld:Device:aq-1",
                                  "observedAt": "2024-05-01T10:00:00.000Z",
                                  "instanceId": body["refDevice"][0]["instanceId"]}]
    assert "createdAt" not in body["pm25"][0]


@pytest.mark.parametrize(("params", "expected"), [
    ({"timerel": "before", "timeAt": "2024-05-01T10:40:00Z"}, PM25_AQ1[:2]),
    ({"timerel": "after", "timeAt": "2024-05-01T10:40:00Z"}, PM25_AQ1[2:]),
    ({"timerel": "between", "timeAt": "2024-05-01T10:20:00Z",
      "endTimeAt": "2024-05-01T11:00:00Z"}, PM25_AQ1[1:3]),
    ({"timerel": "after", "timeAt": "2024-05-01T20:00:00+09:00"}, PM25_AQ1[3:]),
    ({"lastN": "2"}, PM25_AQ1[3:]),
    ({"lastN": "2", "timerel": "before", "timeAt": "2024-05-01T11:00:00Z"}, PM25_AQ1[1:3]),
    ({"lastN": "100"}, PM25_AQ1),
])
def test_timerel_and_last_n(stations: ApiClient, params: dict[str, str],
                            expected: list[tuple[Any, str]]) -> None:
    assert pairs(temporal(stations, attrs="pm25", **params).get("pm25", [])) == expected


def test_attrs_projects_and_an_empty_interval_leaves_only_the_entity(stations: ApiClient
                                                                     ) -> None:
    assert set(temporal(stations, attrs="pm25,status")) == {"id", "type", "scope", "pm25",
                                                            "status"}
    assert temporal(stations, timerel="before", timeAt="2000-01-01T00:00:00Z") == {
        "id": AQ1, "type": "AirQualityObserved", "scope": ["/Sejong/Hansol"]}


def test_timeproperty_and_sys_attrs(stations: ApiClient) -> None:
    created = temporal(stations, options="sysAttrs", attrs="pm25")
    assert created["createdAt"] <= created["modifiedAt"]
    written = created["pm25"][0]["modifiedAt"]
    assert all(i["createdAt"] and i["modifiedAt"] == written for i in created["pm25"])
    late = temporal(stations, attrs="pm25", timeproperty="modifiedAt", timerel="after",
                    timeAt=written)
    assert len(late["pm25"]) == 5
    assert temporal(stations, attrs="pm25", timeproperty="createdAt", timerel="before",
                    timeAt=written) == {"id": AQ1, "type": "AirQualityObserved",
                                        "scope": ["/Sejong/Hansol"]}
    values = temporal(stations, attrs="pm25", timeproperty="modifiedAt",
                      options="temporalValues")
    assert [t for _, t in values["pm25"]["values"]] == [written] * 5


def test_temporal_values_is_the_simplified_representation(stations: ApiClient) -> None:
    body = temporal(stations, options="temporalValues")
    assert body["pm25"] == {"type": "Property", "values": [list(p) for p in PM25_AQ1]}
    assert body["refDevice"] == {"type": "Relationship", "objects": [
        ["urn:ngsi-ld:Device:aq-1", "2024-05-01T10:00:00.000Z"]]}
    two = temporal(stations, AQ2, options="temporalValues", attrs="pm10")
    assert sorted(two["pm10"], key=lambda g: g["datasetId"]) == [
        {"type": "Property", "datasetId": CALIBRATED,
         "values": [[46, "2024-05-01T10:10:00.000Z"]]},
        {"type": "Property", "datasetId": RAW, "values": [[50, "2024-05-01T10:10:00.000Z"]]}]


def test_output_is_compacted_with_the_request_context(stations: ApiClient, context_server: Any
                                                      ) -> None:
    context = stations.get(f"/entities/{AQ1}").headers["link"].split(";")[0].strip("<>")
    url = context_server.publish({"@context": [
        {"fineDust": "https://uri.etsi.org/ngsi-ld/default-context/pm25",
         "AQ": "https://uri.etsi.org/ngsi-ld/default-context/AirQualityObserved"}, context]})
    body = stations.get(f"/temporal/entities/{AQ1}", params={"attrs": "fineDust"},
                        headers={"Link": link_header(url)}).json()
    assert set(body) == {"id", "type", "scope", "fineDust"} and body["type"] == "AQ"
    ld = stations.get(f"/temporal/entities/{AQ1}", params={"lastN": "1"},
                      headers={"Accept": "application/ld+json"})
    assert ld.headers["content-type"] == "application/ld+json"
    assert ld.json()["@context"] == context
    assert_problem(stations.get(f"/temporal/entities/{AQ1}",
                                headers={"Accept": "application/geo+json"}), 406)


# -- aggregation --------------------------------------------------------------------------------
def test_aggregated_values_per_hour_match_values_computed_here(stations: ApiClient) -> None:
    body = temporal(stations, attrs="pm25", options="aggregatedValues",
                    aggrMethods="totalCount,distinctCount,sum,avg,min,max,stddev,sumsq",
                    aggrPeriodDuration="PT1H", timerel="between",
                    timeAt="2024-05-01T10:00:00Z", endTimeAt="2024-05-01T11:45:00Z")
    hours = [[10, 14, 18], [30, 32]]
    spans = [["2024-05-01T10:00:00.000Z", "2024-05-01T11:00:00.000Z"],
             ["2024-05-01T11:00:00.000Z", "2024-05-01T11:45:00.000Z"]]
    computed = {
        "totalCount": [len(h) for h in hours], "distinctCount": [len(set(h)) for h in hours],
        "sum": [sum(h) for h in hours], "avg": [statistics.fmean(h) for h in hours],
        "min": [min(h) for h in hours], "max": [max(h) for h in hours],
        "stddev": [statistics.stdev(h) for h in hours],
        "sumsq": [sum(x * x for x in h) for h in hours],
    }
    aggregated = body["pm25"]
    assert aggregated["type"] == "Property"
    for method, expected in computed.items():
        assert [v[1:] for v in aggregated[method]] == spans
        assert [v[0] for v in aggregated[method]] == pytest.approx(expected), method


def test_aggregation_over_the_whole_interval_and_over_entities(stations: ApiClient) -> None:
    whole = temporal(stations, attrs="pm25", options="aggregatedValues", aggrMethods="avg")
    assert whole["pm25"]["avg"] == [[20.8, "2024-05-01T10:00:00.000Z",
                                     "2024-05-01T11:30:00.000Z"]]
    response = stations.get("/temporal/entities", params={
        "type": "AirQualityObserved", "attrs": "pm25,pm10", "options": "aggregatedValues",
        "aggrMethods": "max", "aggrPeriodDuration": "P1D", "lastN": "1"})
    assert response.status_code == 200, response.text
    by_id = {e["id"]: e for e in response.json()}
    day = ["2024-05-01T00:00:00.000Z", "2024-05-02T00:00:00.000Z"]
    assert by_id[AQ1]["pm25"] == {"type": "Property", "max": [[32, *day]]}
    assert by_id[AQ2]["pm25"] == {"type": "Property", "max": [[44, *day]]}
    assert sorted(by_id[AQ2]["pm10"], key=lambda g: g["datasetId"]) == [
        {"type": "Property", "datasetId": CALIBRATED, "max": [[46, *day]]},
        {"type": "Property", "datasetId": RAW, "max": [[50, *day]]}]


def test_strings_count_but_have_no_average(stations: ApiClient) -> None:
    body = temporal(stations, LIGHT, options="aggregatedValues",
                    aggrMethods="totalCount,distinctCount,avg")
    span = ["2024-05-01T19:00:00.000Z", "2024-05-02T05:00:00.000Z"]
    assert body["powerState"] == {"type": "Property", "totalCount": [[2, *span]],
                                  "distinctCount": [[2, *span]], "avg": [[None, *span]]}


# -- 6.18.3.2 GET /temporal/entities ----------------------------------------------------------
def query_ids(api: ApiClient, **params: str) -> list[str]:
    response = api.get("/temporal/entities", params=params)
    assert response.status_code == 200, response.text
    return [e["id"] for e in response.json()]


@pytest.mark.parametrize(("params", "expected"), [
    ({"type": "AirQualityObserved"}, [AQ1, AQ2]),
    ({"type": "Streetlight"}, [LIGHT]),
    ({"id": f"{AQ2},{LIGHT}"}, [AQ2, LIGHT]),
    ({"idPattern": ".*Sejong-[12]$"}, [AQ1, AQ2]),
    ({"type": "AirQualityObserved", "q": "pm25>35"}, [AQ2]),
    ({"attrs": "pm10"}, [AQ2]),
    ({"type": "AirQualityObserved", "scopeQ": "/Sejong/Hansol"}, [AQ1]),
    ({"type": "AirQualityObserved", "georel": "near;maxDistance==1000", "geometry": "Point",
      "coordinates": "[127.289,36.481]"}, [AQ1]),
    ({"type": "Nothing"}, []),
])
def test_query_filters_on_the_current_state(stations: ApiClient, params: dict[str, str],
                                            expected: list[str]) -> None:
    assert query_ids(stations, **params) == expected


def test_query_pages_counts_and_filters_the_history(stations: ApiClient) -> None:
    response = stations.get("/temporal/entities", params={
        "type": "AirQualityObserved,Streetlight", "limit": "2", "offset": "1", "count": "true",
        "timerel": "after", "timeAt": "2024-05-01T11:00:00Z"})
    assert response.headers["ngsild-results-count"] == "3"
    aq2, light = response.json()
    assert (aq2["id"], light["id"]) == (AQ2, LIGHT)
    assert pairs(aq2["pm25"]) == [(44, "2024-05-01T11:10:00.000Z")] and "pm10" not in aq2
    assert len(light["powerState"]) == 2
    ld = stations.get("/temporal/entities", params={"type": "Streetlight"},
                      headers={"Accept": "application/ld+json"}).json()
    assert all("@context" in e for e in ld)


def test_query_needs_a_filter(stations: ApiClient) -> None:
    assert_problem(stations.get("/temporal/entities"), 400, "BadRequestData")


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("params", "message"), [
    ({"options": "aggregatedValues", "aggrMethods": "median"}, "unknown aggregation method"),
    ({"options": "aggregatedValues", "aggrMethods": "avg", "aggrPeriodDuration": "1 hour"},
     "not an ISO 8601 duration"),
    ({"options": "aggregatedValues", "aggrMethods": "avg", "aggrPeriodDuration": "P1M"},
     "years or months"),
    ({"options": "aggregatedValues"}, "needs aggrMethods"),
    ({"aggrMethods": "avg"}, "need options=aggregatedValues"),
    ({"options": "temporalValues,aggregatedValues", "aggrMethods": "avg"}, "not both"),
    ({"timerel": "between", "timeAt": "2024-05-01T11:00:00Z",
      "endTimeAt": "2024-05-01T10:00:00Z"}, "later than timeAt"),
    ({"timerel": "between", "timeAt": "2024-05-01T11:00:00Z"}, "needs endTimeAt"),
    ({"timerel": "after"}, "needs timeAt"),
    ({"timeAt": "2024-05-01T11:00:00Z"}, "need timerel"),
    ({"timerel": "after", "timeAt": "11 o'clock"}, "timeAt"),
    ({"timerel": "sometime", "timeAt": "2024-05-01T11:00:00Z"}, "before, after or between"),
    ({"lastN": "0"}, "lastN"),
    ({"lastN": "-3"}, "lastN"),
    ({"lastN": "many"}, "lastN"),
    ({"timeproperty": "deletedAt"}, "timeproperty"),
    ({"options": "keyValues"}, "not supported here"),
    ({"frequency": "daily"}, "unknown query parameter"),
])
def test_bad_parameters_are_400(stations: ApiClient, params: dict[str, str], message: str
                                ) -> None:
    for path in (f"/temporal/entities/{AQ1}", "/temporal/entities"):
        query = {**params, "type": "AirQualityObserved"} if path.endswith("entities") else params
        body = assert_problem(stations.get(path, params=query), 400, "BadRequestData")
        assert message in body["detail"], body


def test_too_many_instances_is_403(stations: ApiClient, monkeypatch: pytest.MonkeyPatch
                                   ) -> None:
    monkeypatch.setattr("cityhub.broker.temporal.MAX_INSTANCES", 3)  # the hub runs in-process
    body = assert_problem(stations.get(f"/temporal/entities/{AQ1}"), 403, "TooManyResults")
    assert "lastN" in body["detail"]
    assert len(temporal(stations, lastN="1", attrs="pm25")["pm25"]) == 1


def test_unknown_tenants_entities_and_instances_are_404(stations: ApiClient) -> None:
    stranger = stations.with_tenant(new_tenant())
    assert_problem(stranger.get(f"/temporal/entities/{AQ1}"), 404, "NonexistentTenant")
    assert_problem(stranger.get("/temporal/entities", params={"type": "AirQualityObserved"}),
                   404, "NonexistentTenant")
    neighbour = stations.with_tenant(new_tenant())
    neighbour.post("/temporal/entities", json={"id": "urn:x:1", "type": "T", "a": 1})
    assert_problem(neighbour.get(f"/temporal/entities/{AQ1}"), 404, "ResourceNotFound")
    assert query_ids(neighbour, type="AirQualityObserved") == []
    assert_problem(stations.get("/temporal/entities/urn:ngsi-ld:Nothing:1"), 404,
                   "ResourceNotFound")


# -- 6.20.3.1 POST /temporal/entities/{entityId}/attrs ----------------------------------------
def test_add_attrs_appends_instances(stations: ApiClient) -> None:
    response = stations.post(f"/temporal/entities/{AQ1}/attrs", json={
        "pm25": [{"value": 1, "observedAt": "2024-05-01T08:00:00Z"}],
        "humidity": [{"value": 60, "observedAt": "2024-05-01T08:00:00Z"},
                     {"value": 62, "observedAt": "2024-05-01T09:00:00Z"}]})
    assert response.status_code == 204, response.text
    assert stations.get(f"/entities/{AQ1}").json()["humidity"]["value"] == 62
    assert pairs(temporal(stations, attrs="humidity")["humidity"]) == [
        (60, "2024-05-01T08:00:00.000Z"), (62, "2024-05-01T09:00:00.000Z")]
    assert pairs(temporal(stations, attrs="pm25")["pm25"])[0] == (1, "2024-05-01T08:00:00.000Z")


@pytest.mark.parametrize(("entity_id", "body", "status"), [
    ("urn:ngsi-ld:Nothing:1", {"pm25": [{"value": 1}]}, 404),
    (AQ1, {"id": AQ2, "pm25": [{"value": 1}]}, 400),
    (AQ1, {}, 400),
    (AQ1, {"pm25": [{"value": 1, "observedAt": "x"}]}, 400),
    (AQ1, [{"pm25": 1}], 400),
])
def test_bad_additions_change_nothing(stations: ApiClient, entity_id: str, body: Any,
                                      status: int) -> None:
    before = temporal(stations)
    assert_problem(stations.post(f"/temporal/entities/{entity_id}/attrs", json=body), status)
    assert temporal(stations) == before


# -- 6.21.3.1 DELETE /temporal/entities/{entityId}/attrs/{attrId} -----------------------------
def test_delete_attribute_history_by_dataset(stations: ApiClient) -> None:
    path = f"/temporal/entities/{AQ2}/attrs/pm10"
    assert_problem(stations.delete(path), 404, "ResourceNotFound")  # no default instance
    assert_problem(stations.delete(path, params={"datasetId": RAW, "deleteAll": "true"}), 400)
    assert stations.delete(path, params={"datasetId": RAW}).status_code == 204
    assert [g["datasetId"] for g in temporal(stations, AQ2, attrs="pm10",
                                             options="temporalValues")["pm10"]] == [CALIBRATED]
    assert stations.delete(path, params={"deleteAll": "true"}).status_code == 204
    assert "pm10" not in temporal(stations, AQ2)
    assert_problem(stations.delete(path, params={"deleteAll": "true"}), 404)
    # the history only: the entity keeps its attribute
    assert "pm10" in stations.get(f"/entities/{AQ2}").json()
    assert stations.delete(f"/temporal/entities/{AQ2}/attrs/pm25").status_code == 204
    assert "pm25" not in temporal(stations, AQ2)
    assert_problem(stations.delete("/temporal/entities/urn:ngsi-ld:Nothing:1/attrs/pm25"), 404)


# -- 6.22.3.1 / 6.22.3.2 PATCH and DELETE .../attrs/{attrId}/{instanceId} ---------------------
def test_modify_an_instance(stations: ApiClient) -> None:
    first = temporal(stations, attrs="pm25", options="sysAttrs")["pm25"][1]
    path = f"/temporal/entities/{AQ1}/attrs/pm25/{first['instanceId']}"
    response = stations.patch(path, json={"pm25": {"value": 15, "observedAt":
                                                   "2024-05-01T10:25:00Z"}})
    assert response.status_code == 204, response.text
    assert stations.patch(path, json={"unitCode": "ug/m3"}).status_code == 204
    changed = temporal(stations, attrs="pm25", options="sysAttrs")["pm25"][1]
    assert (changed["value"], changed["observedAt"], changed["unitCode"]) == (
        15, "2024-05-01T10:25:00.000Z", "ug/m3")
    assert changed["instanceId"] == first["instanceId"]
    assert changed["createdAt"] == first["createdAt"]
    assert changed["modifiedAt"] >= first["modifiedAt"]
    # a correction of the record: the entity keeps its value
    assert stations.get(f"/entities/{AQ1}").json()["pm25"]["value"] == 32
    whole = temporal(stations, attrs="pm25", options="aggregatedValues", aggrMethods="sum")
    assert whole["pm25"]["sum"][0][0] == 10 + 15 + 18 + 30 + 32


@pytest.mark.parametrize(("instance", "body", "status"), [
    ("urn:ngsi-ld:Instance:999999999", {"value": 1}, 404),
    ("urn:x:1", {"value": 1}, 404),
    (None, {"value": 1, "datasetId": RAW}, 400),
    (None, {"value": 1, "observedAt": "soon"}, 400),
    (None, [{"value": 1}], 400),
    (None, {"pm25": [{"value": 1}, {"value": 2}]}, 400),
])
def test_bad_instance_changes_change_nothing(stations: ApiClient, instance: str | None,
                                             body: Any, status: int) -> None:
    before = temporal(stations)
    instance = instance or before["pm25"][0]["instanceId"]
    response = stations.patch(f"/temporal/entities/{AQ1}/attrs/pm25/{instance}", json=body)
    assert_problem(response, status)
    assert temporal(stations) == before


def test_an_instance_belongs_to_its_entity_and_attribute(stations: ApiClient) -> None:
    instance = temporal(stations, attrs="pm25")["pm25"][0]["instanceId"]
    for path in (f"/temporal/entities/{AQ2}/attrs/pm25/{instance}",
                 f"/temporal/entities/{AQ1}/attrs/status/{instance}"):
        assert_problem(stations.patch(path, json={"value": 1}), 404)
        assert_problem(stations.delete(path), 404)


def test_delete_an_instance(stations: ApiClient) -> None:
    instance = temporal(stations, attrs="pm25")["pm25"][0]["instanceId"]
    path = f"/temporal/entities/{AQ1}/attrs/pm25/{instance}"
    assert stations.delete(path).status_code == 204
    assert pairs(temporal(stations, attrs="pm25")["pm25"]) == PM25_AQ1[1:]
    assert_problem(stations.delete(path), 404, "ResourceNotFound")


# -- 6.19.3.2 DELETE /temporal/entities/{entityId} --------------------------------------------
def test_delete_a_temporal_entity_deletes_the_entity_and_its_history(stations: ApiClient
                                                                     ) -> None:
    assert stations.delete(f"/temporal/entities/{AQ1}").status_code == 204
    assert_problem(stations.get(f"/temporal/entities/{AQ1}"), 404, "ResourceNotFound")
    assert_problem(stations.get(f"/entities/{AQ1}"), 404, "ResourceNotFound")
    assert_problem(stations.delete(f"/temporal/entities/{AQ1}"), 404, "ResourceNotFound")
    stations.post("/temporal/entities", json={"id": AQ1, "type": "AirQualityObserved",
                                              "pm25": {"value": 1}})
    assert len(temporal(stations)["pm25"]) == 1


def test_updates_through_the_entity_api_enter_the_history(api: ApiClient) -> None:
    api.create({"id": AQ1, "type": "AirQualityObserved",
                "pm25": {"value": 10, "observedAt": "2024-05-01T10:00:00Z"}})
    for minute, value in ((1, 11), (2, 12)):
        response = api.patch(f"/entities/{AQ1}/attrs", json={
            "pm25": {"value": value, "observedAt": f"2024-05-01T10:0{minute}:00Z"}})
        assert response.status_code == 204
    assert [v for v, _ in pairs(temporal(api)["pm25"])] == [10, 11, 12]


# -- 6.24.3.1 POST /temporal/entityOperations/query -------------------------------------------
def test_query_by_body(stations: ApiClient) -> None:
    response = stations.post("/temporal/entityOperations/query", params={"lastN": "1"}, json={
        "type": "Query", "entities": [{"type": "AirQualityObserved"}], "attrs": ["pm25"],
        "q": "pm25>20", "temporalQ": {"timerel": "before", "timeAt": "2024-05-01T11:00:00Z"}})
    assert response.status_code == 200, response.text
    assert [(e["id"], pairs(e["pm25"])) for e in response.json()] == [
        (AQ1, [(18, "2024-05-01T10:40:00.000Z")]), (AQ2, [(40, "2024-05-01T10:10:00.000Z")])]
    aggregated = stations.post("/temporal/entityOperations/query", params={
        "options": "aggregatedValues", "aggrMethods": "min", "count": "true"},
        json={"type": "Query", "entities": [{"id": AQ2}], "attrs": ["pm25"],
              "temporalQ": {"lastN": 5}})
    assert aggregated.headers["ngsild-results-count"] == "1"
    assert aggregated.json()[0]["pm25"]["min"] == [
        [40, "2024-05-01T10:10:00.000Z", "2024-05-01T11:10:00.000Z"]]


@pytest.mark.parametrize(("params", "body"), [
    ({}, {"type": "Query", "entities": [{"type": "T"}], "temporalQ": {"when": "now"}}),
    ({}, {"type": "Query", "entities": [{"type": "T"}], "temporalQ": "after"}),
    ({}, {"type": "Query", "entities": [{"type": "T"}], "temporalQ": {"timerel": "after"}}),
    ({"lastN": "1"}, {"type": "Query", "entities": [{"type": "T"}], "temporalQ": {"lastN": 2}}),
    ({}, {"type": "Query", "entities": [{"type": "T"}], "temporalQ": {"timeAt": 5}}),
    ({}, {"type": "Query"}),
    ({}, ["Query"]),
])
def test_bad_queries_by_body_are_400(stations: ApiClient, params: dict[str, str], body: Any
                                     ) -> None:
    assert_problem(stations.post("/temporal/entityOperations/query", params=params, json=body),
                   400)


def test_routes_answer_405_for_other_methods(stations: ApiClient) -> None:
    assert_problem(stations.put(f"/temporal/entities/{AQ1}", json={}), 405)
    assert_problem(stations.get("/temporal/entityOperations/query"), 405)


# -- retention in the hub ---------------------------------------------------------------------
def test_the_hub_applies_its_retention_policy_periodically(tmp_path: Any) -> None:
    policy = RetentionPolicy(RetentionPolicy.from_document({"rules": [{"days": 30}]}).rules,
                             interval_s=0.2)
    hub = Hub(SqliteStore(str(tmp_path / "hub.db")), retention=policy)
    with serve_hub(Settings(db="sqlite:///unused"), hub) as url:
        client = ApiClient(url, new_tenant())
        try:
            client.post("/temporal/entities", json={
                "id": AQ1, "type": "AirQualityObserved",
                "pm25": [{"value": 1, "observedAt": "2001-01-01T00:00:00Z"},
                         {"value": 2, "observedAt": "2001-01-02T00:00:00Z"},
                         {"value": 3}]})
            deadline = time.monotonic() + 10
            while len(temporal(client, attrs="pm25")["pm25"]) > 1:
                assert time.monotonic() < deadline, "retention did not run"
                time.sleep(0.05)
            assert [i["value"] for i in temporal(client)["pm25"]] == [3]
        finally:
            client.close()


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_the_retention_command_applies_a_policy_once(stations: ApiClient, tmp_path: Any,
                                                     suffix: str) -> None:
    stations.post(f"/temporal/entities/{AQ1}/attrs", json={"pm25": [
        {"value": 1, "observedAt": "2001-01-01T00:00:00Z"}]})
    policy = tmp_path / f"policy{suffix}"
    if suffix == ".toml":
        policy.write_text(f'interval = "PT1H"\n[[rules]]\ntenant = "{stations.tenant}"\n'
                          'type = "AirQualityObserved"\ndays = 3650\n')
    else:
        policy.write_text(json.dumps({"rules": [{"tenant": stations.tenant,
                                                 "type": "AirQualityObserved", "days": 3650}]}))
    command = [sys.executable, "-m", "cityhub.cli", "retention", "--db",
               DSN_OF[stations.hub_url], "--policy", str(policy)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["deleted"] == {stations.tenant: 1}
    assert pairs(temporal(stations, attrs="pm25")["pm25"]) == PM25_AQ1
    assert [e["id"] for e in stations.get("/entities", params={"type": "Streetlight"}).json()
            ] == [LIGHT]
    bad = subprocess.run([*command[:-2], "--days", "-1"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 1 and "positive" in bad.stderr
    nothing = subprocess.run(command[:-2], capture_output=True, text=True, timeout=60,
                             env={k: v for k, v in os.environ.items()
                                  if not k.startswith("CITYHUB_RETENTION")})
    assert nothing.returncode == 2


def test_retention_policy_errors() -> None:
    for document in ({"rules": [{"days": 0}]}, {"rules": [{"days": "30"}]},
                     {"rules": [{"days": 1, "table": "x"}]}, {"rules": {"days": 1}},
                     {"interval": "P1M", "rules": []}, {"interval": "PT0.1S", "rules": []},
                     {"rules": [{"days": 1}, {"days": 2}]}, {"retain": []},
                     {"rules": [{"days": 1, "type": "not a name"}]}):
        with pytest.raises(Exception, match=r"retention|duration|months|entity type") as caught:
            RetentionPolicy.from_document(json.loads(json.dumps(document)))
        assert type(caught.value).__name__ == "BadRequestData"
