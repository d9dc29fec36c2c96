"""The entity routes: /ngsi-ld/v1/entities and /entities/{id}[/attrs[/{attr}]] (clauses 6.4-6.7)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from .support import CORE_CONTEXT, assert_problem, ids, payload

AQ = "urn:ngsi-ld:AirQualityObserved:Sejong-Hansol-001"
RAW = "urn:ngsi-ld:Dataset:raw"
CALIBRATED = "urn:ngsi-ld:Dataset:calibrated"


@pytest.fixture
def station(api) -> str:
    api.create(payload("air_quality.json"))
    return AQ


def get(api, entity_id: str = AQ, **params: str) -> dict[str, Any]:
    response = api.get(f"/entities/{entity_id}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


# -- 6.4.3.1 Create Entity --------------------------------------------------------------------
def test_create_answers_201_with_location_and_tenant(api) -> None:
    response = api.create(payload("air_quality.json"))
    assert response.headers["location"] == f"/ngsi-ld/v1/entities/{AQ}"
    assert response.headers["ngsild-tenant"] == api.tenant
    assert response.content == b""


def test_create_twice_is_409_already_exists(api, station: str) -> None:
    response = api.post("/entities", json={"id": station, "type": "AirQualityObserved"})
    assert_problem(response, 409, "AlreadyExists")


def test_create_accepts_concise_input(api) -> None:
    api.create({
        "id": "urn:ngsi-ld:Streetlight:1", "type": "Streetlight",
        "status": "on",
        "powerState": {"value": "on", "observedAt": "2024-05-01T20:00:00Z"},
        "refPole": {"object": "urn:ngsi-ld:Pole:1"},
        "location": {"type": "Point", "coordinates": [127.0, 37.5]},
    })
    entity = get(api, "urn:ngsi-ld:Streetlight:1")
    assert entity["status"] == {"type": "Property", "value": "on"}
    assert entity["powerState"] == {"type": "Property", "value": "on",
                                    "observedAt": "2024-05-01T20:00:00.000Z"}
    assert entity["refPole"] == {"type": "Relationship", "object": "urn:ngsi-ld:Pole:1"}
    assert entity["location"] == {"type": "GeoProperty",
                                  "value": {"type": "Point", "coordinates": [127.0, 37.5]}}


# -- 6.5.3.1 Retrieve Entity ------------------------------------------------------------------
def test_retrieve_round_trips_every_attribute_kind(api, station: str) -> None:
    entity = get(api)
    assert entity["id"] == AQ and entity["type"] == "AirQualityObserved"
    assert entity["scope"] == ["/Sejong/Hansol"]
    assert entity["pm25"] == {
        "type": "Property", "value": 12.5, "unitCode": "GQ",
        "observedAt": "2024-05-01T09:00:00.000Z",
        "accuracy": {"type": "Property", "value": 0.9},
    }
    assert entity["name"] == {"type": "LanguageProperty",
                              "languageMap": {"en": "Hansol air station", "ko": "한솔 대기측정소"}}
    assert entity["location"]["type"] == "GeoProperty"
    assert entity["location"]["value"] == {"type": "Point", "coordinates": [127.289, 36.48]}
    assert entity["refDevice"] == {"type": "Relationship",
                                   "object": "urn:ngsi-ld:Device:Sejong-Hansol-001",
                                   "objectType": "Device"}
    assert entity["refSensors"] == {"type": "ListRelationship", "objectList": [
        {"object": "urn:ngsi-ld:Device:Sejong-pm25-01"},
        {"object": "urn:ngsi-ld:Device:Sejong-pm25-02"},
    ]}
    assert entity["hourlyPm25"] == {"type": "ListProperty", "valueList": [10.5, 11.0, 12.5]}
    assert sorted(entity["temperature"], key=lambda i: i["datasetId"]) == [
        {"type": "Property", "value": 20.5, "datasetId": CALIBRATED},
        {"type": "Property", "value": 21.0, "datasetId": RAW},
    ]
    assert entity["address"]["value"]["addressLocality"] == "Sejong"


def test_retrieve_missing_is_404_and_bad_id_is_400(api, station: str) -> None:
    assert_problem(api.get("/entities/urn:ngsi-ld:Nothing:1"), 404, "ResourceNotFound")
    assert_problem(api.get("/entities/not-a-uri"), 400, "BadRequestData")


def test_observed_at_is_normalised_to_utc_milliseconds(api) -> None:
    api.create({"id": "urn:ngsi-ld:T:1", "type": "T",
                "a": {"type": "Property", "value": 1, "observedAt": "2024-05-01T18:00:00+09:00"}})
    assert get(api, "urn:ngsi-ld:T:1")["a"]["observedAt"] == "2024-05-01T09:00:00.000Z"


def test_key_values_simplifies_every_kind(api, station: str) -> None:
    entity = get(api, options="keyValues")
    assert entity["pm25"] == 12.5
    assert entity["refDevice"] == "urn:ngsi-ld:Device:Sejong-Hansol-001"
    assert entity["refSensors"] == ["urn:ngsi-ld:Device:Sejong-pm25-01",
                                    "urn:ngsi-ld:Device:Sejong-pm25-02"]
    assert entity["hourlyPm25"] == [10.5, 11.0, 12.5]
    assert entity["location"] == {"type": "Point", "coordinates": [127.289, 36.48]}
    assert entity["name"] == {"languageMap": {"en": "Hansol air station", "ko": "한솔 대기측정소"}}
    assert get(api, format="keyValues") == entity  # v1.8 `format` means the same


def test_concise_drops_what_can_be_inferred(api, station: str) -> None:
    entity = get(api, options="concise")
    assert entity["pm25"] == {"value": 12.5, "unitCode": "GQ",
                              "observedAt": "2024-05-01T09:00:00.000Z", "accuracy": 0.9}
    assert entity["refDevice"] == {"object": "urn:ngsi-ld:Device:Sejong-Hansol-001",
                                   "objectType": "Device"}
    assert entity["location"] == {"type": "Point", "coordinates": [127.289, 36.48]}
    assert entity["hourlyPm25"] == {"valueList": [10.5, 11.0, 12.5]}
    # concise input is accepted back: a round trip keeps the entity
    concise = dict(entity, id="urn:ngsi-ld:AirQualityObserved:copy")
    api.create(concise)
    copy = get(api, "urn:ngsi-ld:AirQualityObserved:copy")
    original = get(api)
    assert {k: v for k, v in copy.items() if k != "id"} == \
        {k: v for k, v in original.items() if k != "id"}


def test_sys_attrs_adds_created_and_modified_at(api, station: str) -> None:
    entity = get(api, options="sysAttrs")
    assert entity["createdAt"] <= entity["modifiedAt"]
    assert entity["pm25"]["createdAt"].endswith("Z")
    assert "modifiedAt" in entity["pm25"]
    assert "createdAt" not in get(api)
    assert "createdAt" not in get(api, options="keyValues,sysAttrs")


def test_conflicting_or_unknown_options_are_400(api, station: str) -> None:
    assert_problem(api.get(f"/entities/{AQ}?options=keyValues,concise"), 400, "BadRequestData")
    assert_problem(api.get(f"/entities/{AQ}?options=everything"), 400, "BadRequestData")


def test_attrs_pick_and_omit_project_the_entity(api, station: str) -> None:
    assert set(get(api, attrs="pm25,name")) == {"id", "type", "pm25", "name"}
    assert set(get(api, pick="id,pm25")) == {"id", "pm25"}
    assert set(get(api, pick="type,scope")) == {"type", "scope"}
    omitted = get(api, omit="type,temperature,address,scope")
    assert "type" not in omitted and "temperature" not in omitted and "scope" not in omitted
    assert {"id", "pm25", "location"} <= set(omitted)


def test_lang_picks_one_language(api, station: str) -> None:
    assert get(api, lang="ko", attrs="name")["name"] == {
        "type": "Property", "value": "한솔 대기측정소", "lang": "ko"}
    assert get(api, lang="en", options="keyValues")["name"] == "Hansol air station"
    assert get(api, lang="fr,ko;q=0.5", options="concise")["name"] == {
        "value": "한솔 대기측정소", "lang": "ko"}
    assert get(api, lang="*")["name"]["type"] == "LanguageProperty"


# -- representations (clause 6.3.6) -----------------------------------------------------------
def test_accept_ld_json_puts_the_context_in_the_body(api, station: str) -> None:
    response = api.get(f"/entities/{AQ}", headers={"Accept": "application/ld+json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/ld+json"
    assert "link" not in response.headers
    assert response.json()["@context"] == CORE_CONTEXT


def test_accept_json_puts_the_context_in_a_link_header(api, station: str) -> None:
    for accept in ("application/json", "*/*", "application/*", None):
        headers = {"Accept": accept} if accept else {}
        response = api.get(f"/entities/{AQ}", headers=headers)
        assert response.headers["content-type"] == "application/json"
        assert CORE_CONTEXT in response.headers["link"]
        assert "@context" not in response.json()


def test_accept_prefers_the_highest_quality(api, station: str) -> None:
    accept = "application/json;q=0.2, application/ld+json;q=0.9, text/html"
    response = api.get(f"/entities/{AQ}", headers={"Accept": accept})
    assert response.headers["content-type"] == "application/ld+json"


def test_accept_geo_json_answers_a_feature(api, station: str) -> None:
    response = api.get(f"/entities/{AQ}", headers={"Accept": "application/geo+json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    feature = response.json()
    assert feature["type"] == "Feature" and feature["id"] == AQ
    assert feature["geometry"] == {"type": "Point", "coordinates": [127.289, 36.48]}
    assert feature["properties"]["type"] == "AirQualityObserved"
    assert feature["properties"]["pm25"]["value"] == 12.5
    response = api.get(f"/entities/{AQ}?geometryProperty=nowhere",
                       headers={"Accept": "application/geo+json"})
    assert response.json()["geometry"] is None


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "image/png;q=1"])
def test_unsupported_accept_is_406(api, station: str, accept: str) -> None:
    assert_problem(api.get(f"/entities/{AQ}", headers={"Accept": accept}), 406)


# -- 6.5.3.3 Replace Entity -------------------------------------------------------------------
def test_replace_swaps_every_attribute_and_keeps_created_at(api, station: str) -> None:
    created = get(api, options="sysAttrs")["createdAt"]
    response = api.put(f"/entities/{AQ}", json={"type": "AirQualityObserved", "pm10": 30})
    assert response.status_code == 204, response.text
    entity = get(api, options="sysAttrs")
    assert set(entity) == {"id", "type", "pm10", "createdAt", "modifiedAt"}
    assert entity["createdAt"] == created


def test_replace_errors(api, station: str) -> None:
    assert_problem(api.put("/entities/urn:ngsi-ld:Nothing:1", json={"type": "T"}), 404,
                   "ResourceNotFound")
    response = api.put(f"/entities/{AQ}", json={"id": "urn:ngsi-ld:Other:1", "type": "T"})
    assert_problem(response, 400, "BadRequestData")
    assert get(api)["pm25"]["value"] == 12.5


# -- 6.5.3.4 Merge Entity ---------------------------------------------------------------------
def test_merge_changes_adds_and_deletes(api, station: str) -> None:
    response = api.patch(f"/entities/{AQ}", json={
        "pm25": {"value": 15.0},
        "pm10": {"type": "Property", "value": 31},
        "address": "urn:ngsi-ld:null",
    })
    assert response.status_code == 204, response.text
    entity = get(api)
    # a merge keeps what the fragment does not mention: unitCode, observedAt, sub-properties
    assert entity["pm25"] == {"type": "Property", "value": 15.0, "unitCode": "GQ",
                              "observedAt": "2024-05-01T09:00:00.000Z",
                              "accuracy": {"type": "Property", "value": 0.9}}
    assert entity["pm10"]["value"] == 31
    assert "address" not in entity


def test_merge_accepts_merge_patch_content_type(api, station: str) -> None:
    response = api.patch(f"/entities/{AQ}", content=b'{"pm25": {"value": 1.5}}',
                         headers={"Content-Type": "application/merge-patch+json"})
    assert response.status_code == 204, response.text
    assert get(api)["pm25"]["value"] == 1.5


def test_merge_errors(api, station: str) -> None:
    assert_problem(api.patch("/entities/urn:ngsi-ld:Nothing:1", json={"a": 1}), 404)
    assert_problem(api.patch(f"/entities/{AQ}", json={"newAttr": {"observedAt":
                                                                   "2024-01-01T00:00:00Z"}}),
                   400, "BadRequestData")
    assert get(api)["pm25"]["value"] == 12.5


# -- 6.6.3.1 Append Entity Attributes ---------------------------------------------------------
def test_append_adds_and_overwrites(api, station: str) -> None:
    response = api.post(f"/entities/{AQ}/attrs", json={"pm25": 99.0, "pm10": 30})
    assert response.status_code == 204, response.text
    entity = get(api, options="keyValues")
    assert entity["pm25"] == 99.0 and entity["pm10"] == 30


def test_append_no_overwrite_reports_what_it_kept(api, station: str) -> None:
    response = api.post(f"/entities/{AQ}/attrs?options=noOverwrite",
                        json={"pm25": 99.0, "pm10": 30})
    assert response.status_code == 207
    result = response.json()
    assert result["updated"] == ["pm10"]
    assert [item["attributeName"] for item in result["notUpdated"]] == ["pm25"]
    assert all(item["reason"] for item in result["notUpdated"])
    entity = get(api, options="keyValues")
    assert entity["pm25"] == 12.5 and entity["pm10"] == 30


def test_append_a_dataset_instance(api, station: str) -> None:
    response = api.post(f"/entities/{AQ}/attrs", json={"temperature": {
        "type": "Property", "value": 19.0, "datasetId": "urn:ngsi-ld:Dataset:forecast"}})
    assert response.status_code == 204
    assert len(get(api)["temperature"]) == 3


def test_append_errors(api, station: str) -> None:
    assert_problem(api.post("/entities/urn:ngsi-ld:Nothing:1/attrs", json={"a": 1}), 404)
    assert_problem(api.post(f"/entities/{AQ}/attrs?options=replace", json={"a": 1}), 400)
    assert_problem(api.post(f"/entities/{AQ}/attrs", json={"id": "urn:ngsi-ld:Other:1",
                                                           "a": 1}), 400)


# -- 6.6.3.2 Update Entity Attributes ---------------------------------------------------------
def test_update_attrs_all_present_is_204(api, station: str) -> None:
    response = api.patch(f"/entities/{AQ}/attrs",
                         json={"pm25": {"type": "Property", "value": 7.0}})
    assert response.status_code == 204, response.text
    assert get(api)["pm25"] == {"type": "Property", "value": 7.0}  # the attribute is replaced


def test_update_attrs_some_missing_is_207_update_result(api, station: str) -> None:
    response = api.patch(f"/entities/{AQ}/attrs", json={"pm25": 7.0, "noSuchAttr": 1})
    assert response.status_code == 207
    result = response.json()
    assert result["updated"] == ["pm25"]
    assert result["notUpdated"][0]["attributeName"] == "noSuchAttr"
    entity = get(api, options="keyValues")
    assert entity["pm25"] == 7.0 and "noSuchAttr" not in entity


def test_update_attrs_null_deletes(api, station: str) -> None:
    response = api.patch(f"/entities/{AQ}/attrs", json={"address": "urn:ngsi-ld:null"})
    assert response.status_code == 204
    assert "address" not in get(api)


def test_update_attrs_of_missing_entity_is_404(api, station: str) -> None:
    assert_problem(api.patch("/entities/urn:ngsi-ld:Nothing:1/attrs", json={"a": 1}), 404,
                   "ResourceNotFound")


# -- 6.7.3.1 Partial Attribute Update ---------------------------------------------------------
def test_partial_update_merges_into_the_attribute(api, station: str) -> None:
    response = api.patch(f"/entities/{AQ}/attrs/pm25", json={"value": 13.0})
    assert response.status_code == 204, response.text
    pm25 = get(api)["pm25"]
    assert pm25["value"] == 13.0 and pm25["unitCode"] == "GQ" and "accuracy" in pm25


def test_partial_update_of_one_dataset_instance(api, station: str) -> None:
    response = api.patch(f"/entities/{AQ}/attrs/temperature",
                         json={"value": 22.5, "datasetId": RAW})
    assert response.status_code == 204, response.text
    by_dataset = {i["datasetId"]: i["value"] for i in get(api)["temperature"]}
    assert by_dataset == {RAW: 22.5, CALIBRATED: 20.5}


def test_partial_update_errors(api, station: str) -> None:
    assert_problem(api.patch(f"/entities/{AQ}/attrs/noSuchAttr", json={"value": 1}), 404)
    assert_problem(api.patch(f"/entities/{AQ}/attrs/temperature",
                             json={"value": 1, "datasetId": "urn:ngsi-ld:Dataset:none"}), 404)
    assert_problem(api.patch("/entities/urn:ngsi-ld:Nothing:1/attrs/pm25", json={"value": 1}),
                   404)
    assert_problem(api.patch(f"/entities/{AQ}/attrs/pm25", json=[1, 2]), 400)
    assert get(api)["pm25"]["value"] == 12.5


# -- 6.7.3.2 Delete Entity Attribute ----------------------------------------------------------
def test_delete_attribute(api, station: str) -> None:
    assert api.delete(f"/entities/{AQ}/attrs/pm25").status_code == 204
    assert "pm25" not in get(api)
    assert_problem(api.delete(f"/entities/{AQ}/attrs/pm25"), 404, "ResourceNotFound")


def test_delete_one_dataset_instance(api, station: str) -> None:
    response = api.delete(f"/entities/{AQ}/attrs/temperature?datasetId={RAW}")
    assert response.status_code == 204
    assert get(api)["temperature"] == {"type": "Property", "value": 20.5, "datasetId": CALIBRATED}
    assert_problem(api.delete(f"/entities/{AQ}/attrs/temperature?datasetId={RAW}"), 404)
    # without datasetId the default instance is meant, and there is none
    assert_problem(api.delete(f"/entities/{AQ}/attrs/temperature"), 404)


def test_delete_all_instances(api, station: str) -> None:
    response = api.delete(f"/entities/{AQ}/attrs/temperature?deleteAll=true")
    assert response.status_code == 204
    assert "temperature" not in get(api)


def test_delete_attribute_bad_parameters(api, station: str) -> None:
    assert_problem(api.delete(f"/entities/{AQ}/attrs/temperature?deleteAll=maybe"), 400)
    assert_problem(api.delete(f"/entities/{AQ}/attrs/temperature?datasetId=not%20a%20uri"), 400)
    assert len(get(api)["temperature"]) == 2


# -- multi-attributes -------------------------------------------------------------------------
def test_a_dataset_id_may_appear_once_per_attribute(api) -> None:
    response = api.post("/entities", json={"id": "urn:ngsi-ld:T:1", "type": "T", "speed": [
        {"type": "Property", "value": 1, "datasetId": "urn:ngsi-ld:Dataset:a"},
        {"type": "Property", "value": 2, "datasetId": "urn:ngsi-ld:Dataset:a"},
    ]})
    assert_problem(response, 400, "BadRequestData")


def test_a_multi_attribute_may_have_a_default_instance(api) -> None:
    api.create({"id": "urn:ngsi-ld:T:1", "type": "T", "speed": [
        {"type": "Property", "value": 1},
        {"type": "Property", "value": 2, "datasetId": "urn:ngsi-ld:Dataset:a"},
    ]})
    assert api.delete("/entities/urn:ngsi-ld:T:1/attrs/speed").status_code == 204
    assert get(api, "urn:ngsi-ld:T:1")["speed"]["datasetId"] == "urn:ngsi-ld:Dataset:a"


# -- 6.5.3.2 Delete Entity --------------------------------------------------------------------
def test_delete_entity(api, station: str) -> None:
    response = api.delete(f"/entities/{AQ}")
    assert response.status_code == 204
    assert_problem(api.get(f"/entities/{AQ}"), 404, "ResourceNotFound")
    assert_problem(api.delete(f"/entities/{AQ}"), 404, "ResourceNotFound")


# -- DELETE /entities?type=...: purge ---------------------------------------------------------
def test_purge_deletes_what_matches(api) -> None:
    api.create_many(payload("city.json"))
    response = api.delete("/entities?type=Park")
    assert response.status_code == 204
    assert response.headers["ngsild-results-count"] == "2"
    assert ids(api.get("/entities?type=Park")) == []
    assert len(ids(api.get("/entities?type=Road"))) == 3
    response = api.delete("/entities", params={"type": "Road", "q": "speed>40"})
    assert response.headers["ngsild-results-count"] == "2"
    assert ids(api.get("/entities?type=Road")) == ["urn:ngsi-ld:Road:Busan-Jungangdaero"]


def test_purge_needs_a_selector(api) -> None:
    api.create_many(payload("city.json"))
    assert_problem(api.delete("/entities"), 400, "BadRequestData")
    assert_problem(api.delete("/entities?q=speed>0"), 400, "BadRequestData")
    assert len(ids(api.get("/entities?idPattern=.*"))) == 5


def test_method_not_allowed_is_405_with_allow(api) -> None:
    response = api.put("/entities")
    assert_problem(response, 405)
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST",
                                                                          "DELETE"}


def test_merge_with_json_null_deletes_like_urn_ngsi_ld_null(api, station: str) -> None:
    response = api.patch(f"/entities/{AQ}", json={
        "address": None, "pm25": {"value": 12.5, "accuracy": "urn:ngsi-ld:null"}})
    assert response.status_code == 204, response.text
    entity = get(api)
    assert "address" not in entity
    assert "accuracy" not in entity["pm25"] and entity["pm25"]["unitCode"] == "GQ"


# -- concurrency ------------------------------------------------------------------------------
def test_concurrent_changes_to_one_entity_lose_nothing(api, station: str) -> None:
    outcomes: dict[str, int] = {}

    def writer(n: int) -> None:
        with api.with_tenant(api.tenant) as client:
            for i in range(5):
                name = f"w{n}x{i}"
                response = client.post(f"/entities/{AQ}/attrs", json={name: i})
                outcomes[name] = response.status_code
                if response.status_code != 204:  # only a retryable Conflict may happen
                    assert_problem(response, 409)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    entity = get(api, options="keyValues")
    assert len(outcomes) == 30
    for name, status in outcomes.items():
        assert (name in entity) == (status == 204), name
    assert entity["pm25"] == 12.5
