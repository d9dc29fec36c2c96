"""Batch operations: /ngsi-ld/v1/entityOperations/{create,upsert,update,delete,query}
(clauses 6.14-6.17, 6.23). One bad entity never blocks nor corrupts the others."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .support import CORE_CONTEXT, assert_problem, ids, payload


def bin_(n: int, **attrs: Any) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:Bin:{n}", "type": "Bin", **attrs}


def key_values(api, *numbers: int) -> list[dict[str, Any]]:
    response = api.get("/entities", params={
        "id": ",".join(f"urn:ngsi-ld:Bin:{n}" for n in numbers), "options": "keyValues"})
    assert response.status_code == 200, response.text
    return sorted(response.json(), key=lambda e: e["id"])


def assert_batch_result(response, success: list[str], failed: dict[str, str]) -> None:
    """A 207 BatchOperationResult: these ids succeeded, these failed with these error types."""
    assert response.status_code == 207, response.text
    result = response.json()
    assert sorted(result["success"]) == sorted(success)
    errors = {e["entityId"]: e["error"] for e in result["errors"]}
    assert sorted(errors) == sorted(failed)
    for entity_id, error_type in failed.items():
        error = errors[entity_id]
        assert error["type"] == "https://uri.etsi.org/ngsi-ld/errors/" + error_type, error
        assert error["title"] and error["detail"]


# -- 6.14 create ------------------------------------------------------------------------------
def test_create_all_is_201_with_the_ids(api) -> None:
    response = api.post("/entityOperations/create", json=payload("city.json"))
    assert response.status_code == 201
    assert response.json() == [e["id"] for e in payload("city.json")]
    assert len(ids(api.get("/entities?idPattern=.*"))) == 5


def test_create_with_bad_and_existing_entities_is_207(api) -> None:
    api.create(bin_(1, fill=10))
    response = api.post("/entityOperations/create", json=[
        bin_(1, fill=99),                                # exists
        bin_(2, fill=20),
        {"id": "not a uri", "type": "Bin"},              # invalid
        bin_(3, fill={"type": "Relationship", "object": "no uri"}),
        bin_(4, fill=40),
    ])
    assert_batch_result(response, ["urn:ngsi-ld:Bin:2", "urn:ngsi-ld:Bin:4"], {
        "urn:ngsi-ld:Bin:1": "AlreadyExists", "not a uri": "BadRequestData",
        "urn:ngsi-ld:Bin:3": "BadRequestData"})
    assert key_values(api, 1, 2, 3, 4) == [bin_(1, fill=10), bin_(2, fill=20), bin_(4, fill=40)]


def test_create_the_same_id_twice_in_one_batch(api) -> None:
    response = api.post("/entityOperations/create", json=[bin_(1, fill=1), bin_(1, fill=2)])
    assert_batch_result(response, ["urn:ngsi-ld:Bin:1"], {"urn:ngsi-ld:Bin:1": "AlreadyExists"})
    assert key_values(api, 1) == [bin_(1, fill=1)]


# -- 6.15 upsert ------------------------------------------------------------------------------
def test_upsert_creates_then_replaces(api) -> None:
    response = api.post("/entityOperations/upsert", json=[bin_(1, fill=1, colour="red")])
    assert response.status_code == 201 and response.json() == ["urn:ngsi-ld:Bin:1"]
    response = api.post("/entityOperations/upsert", json=[bin_(1, fill=2)])
    assert response.status_code == 204, response.text
    assert key_values(api, 1) == [bin_(1, fill=2)]  # replace: colour is gone


def test_upsert_update_keeps_other_attributes(api) -> None:
    api.create(bin_(1, fill=1, colour="red"))
    response = api.post("/entityOperations/upsert?options=update",
                        json=[bin_(1, fill=2), bin_(2, fill=3)])
    assert response.status_code == 201 and response.json() == ["urn:ngsi-ld:Bin:2"]
    assert key_values(api, 1, 2) == [bin_(1, fill=2, colour="red"), bin_(2, fill=3)]


def test_upsert_mixing_created_and_replaced_answers_the_created(api) -> None:
    api.create(bin_(1, fill=1))
    response = api.post("/entityOperations/upsert", json=[bin_(1, fill=5), bin_(2, fill=6)])
    assert response.status_code == 201
    assert response.json() == ["urn:ngsi-ld:Bin:2"]


@pytest.mark.parametrize("options", ["", "?options=update", "?options=replace"])
def test_upsert_with_a_bad_entity_is_207_and_keeps_the_good_ones(api, options: str) -> None:
    api.create(bin_(1, fill=1))
    response = api.post("/entityOperations/upsert" + options, json=[
        bin_(1, fill=10),
        bin_(2, location={"type": "GeoProperty",
                          "value": {"type": "Point", "coordinates": [0, 200]}}),
        bin_(3, fill=30),
        {"type": "Bin", "fill": 1},                      # no id
    ])
    assert_batch_result(response, ["urn:ngsi-ld:Bin:1", "urn:ngsi-ld:Bin:3"], {
        "urn:ngsi-ld:Bin:2": "BadRequestData", "": "BadRequestData"})
    assert key_values(api, 1, 2, 3) == [bin_(1, fill=10), bin_(3, fill=30)]


def test_upsert_options_are_exclusive(api) -> None:
    response = api.post("/entityOperations/upsert?options=replace,update", json=[bin_(1)])
    assert_problem(response, 400, "BadRequestData")
    response = api.post("/entityOperations/upsert?options=noOverwrite", json=[bin_(1)])
    assert_problem(response, 400, "BadRequestData")
    assert_problem(api.get("/entities?type=Bin"), 404, "NonexistentTenant")


# -- 6.16 update ------------------------------------------------------------------------------
def test_update_changes_existing_entities_only(api) -> None:
    api.create_many([bin_(1, fill=1, colour="red"), bin_(2, fill=2)])
    response = api.post("/entityOperations/update", json=[bin_(1, fill=10), bin_(2, fill=20)])
    assert response.status_code == 204, response.text
    response = api.post("/entityOperations/update", json=[bin_(1, fill=11), bin_(9, fill=90)])
    assert_batch_result(response, ["urn:ngsi-ld:Bin:1"], {"urn:ngsi-ld:Bin:9": "ResourceNotFound"})
    assert key_values(api, 1, 2, 9) == [bin_(1, fill=11, colour="red"), bin_(2, fill=20)]


def test_update_no_overwrite_only_adds(api) -> None:
    api.create(bin_(1, fill=1))
    response = api.post("/entityOperations/update?options=noOverwrite",
                        json=[bin_(1, fill=99, colour="blue")])
    assert response.status_code == 204, response.text
    assert key_values(api, 1) == [bin_(1, fill=1, colour="blue")]


# -- 6.17 delete ------------------------------------------------------------------------------
def test_delete(api) -> None:
    api.create_many([bin_(1), bin_(2), bin_(3)])
    response = api.post("/entityOperations/delete", json=["urn:ngsi-ld:Bin:1",
                                                          "urn:ngsi-ld:Bin:2"])
    assert response.status_code == 204, response.text
    assert ids(api.get("/entities?type=Bin")) == ["urn:ngsi-ld:Bin:3"]


def test_delete_with_missing_and_bad_ids_is_207(api) -> None:
    api.create_many([bin_(1), bin_(2)])
    response = api.post("/entityOperations/delete",
                        json=["urn:ngsi-ld:Bin:1", "urn:ngsi-ld:Bin:404", "not a uri"])
    assert_batch_result(response, ["urn:ngsi-ld:Bin:1"], {
        "urn:ngsi-ld:Bin:404": "ResourceNotFound", "not a uri": "BadRequestData"})
    assert ids(api.get("/entities?type=Bin")) == ["urn:ngsi-ld:Bin:2"]


# -- the batch itself -------------------------------------------------------------------------
@pytest.mark.parametrize("operation", ["create", "upsert", "update", "delete"])
@pytest.mark.parametrize("body", [[], {"id": "urn:ngsi-ld:Bin:1", "type": "Bin"}, "x", 5, None])
def test_a_batch_must_be_a_non_empty_array(api, operation: str, body: Any) -> None:
    api.create(bin_(1, fill=1))
    before = api.snapshot()
    response = api.post(f"/entityOperations/{operation}", content=json.dumps(body),
                        headers={"Content-Type": "application/json"})
    assert_problem(response, 400)
    assert api.snapshot() == before


# -- 6.23 query -------------------------------------------------------------------------------
@pytest.fixture
def city(api):
    api.create_many(payload("city.json"))
    return api


def batch_query(api, body: dict[str, Any], **params: str) -> list[str]:
    return ids(api.post("/entityOperations/query", json={"type": "Query", **body}, params=params))


def test_query_by_selectors(city) -> None:
    assert batch_query(city, {"entities": [{"type": "Park"}]}) == [
        "urn:ngsi-ld:Park:Seoul-Namsan", "urn:ngsi-ld:Park:Sejong-Lake"]
    assert batch_query(city, {"entities": [{"type": "Road;Highway"},
                                           {"id": "urn:ngsi-ld:Park:Sejong-Lake"}]}) == [
        "urn:ngsi-ld:Road:Seoul-Teheranro", "urn:ngsi-ld:Park:Sejong-Lake"]
    assert batch_query(city, {"entities": [{"idPattern": "Busan", "type": "Road"}]}) == [
        "urn:ngsi-ld:Road:Busan-Jungangdaero"]


def test_query_with_q_geo_q_scope_q_and_attrs(city) -> None:
    assert batch_query(city, {"q": "speed>40;status==open"}) == [
        "urn:ngsi-ld:Road:Seoul-Sejongdaero"]
    assert batch_query(city, {"entities": [{"type": "Road"}], "geoQ": {
        "georel": "near;maxDistance==2000", "geometry": "Point",
        "coordinates": [126.978, 37.5665]}}) == ["urn:ngsi-ld:Road:Seoul-Sejongdaero"]
    assert batch_query(city, {"scopeQ": "/Seoul/#", "entities": [{"type": "Park"}]}) == [
        "urn:ngsi-ld:Park:Seoul-Namsan"]
    response = city.post("/entityOperations/query", params={"options": "keyValues"},
                         json={"type": "Query", "attrs": ["area"]})
    assert response.json() == [
        {"id": "urn:ngsi-ld:Park:Seoul-Namsan", "type": "Park", "area": 2896887},
        {"id": "urn:ngsi-ld:Park:Sejong-Lake", "type": "Park", "area": 705768}]


def test_query_lang_projects_language_maps(api) -> None:
    api.create({"id": "urn:ngsi-ld:Museum:1", "type": "Museum", "name": {
        "type": "LanguageProperty",
        "languageMap": {"ko": "국립중앙박물관", "en": "National Museum"}}})
    response = api.post("/entityOperations/query", params={"options": "keyValues"},
                        json={"type": "Query", "entities": [{"type": "Museum"}], "lang": "ko"})
    assert response.json()[0]["name"] == "국립중앙박물관"


def test_query_pages_and_counts(city) -> None:
    response = city.post("/entityOperations/query", params={"limit": "2", "count": "true"},
                         json={"type": "Query", "entities": [{"type": "Road"}]})
    assert len(response.json()) == 2
    assert response.headers["ngsild-results-count"] == "3"
    response = city.post("/entityOperations/query", params={"limit": "5000"},
                         json={"type": "Query", "entities": [{"type": "Road"}]})
    assert_problem(response, 403, "TooManyResults")


def test_query_representations(city) -> None:
    body = {"type": "Query", "entities": [{"type": "Park"}]}
    response = city.post("/entityOperations/query", json=body,
                         headers={"Accept": "application/ld+json"})
    assert response.headers["content-type"] == "application/ld+json"
    assert {e["@context"] for e in response.json()} == {CORE_CONTEXT}
    response = city.post("/entityOperations/query", json=body,
                         headers={"Accept": "application/geo+json"})
    assert response.json()["type"] == "FeatureCollection"
    assert_problem(city.post("/entityOperations/query", json=body,
                             headers={"Accept": "text/plain"}), 406)


@pytest.mark.parametrize("body", [
    {"type": "Query"},
    {"type": "Subscription", "entities": [{"type": "Park"}]},
    {"type": "Query", "entities": []},
    {"type": "Query", "entities": [{}]},
    {"type": "Query", "entities": [{"type": 5}]},
    {"type": "Query", "entities": "Park"},
    {"type": "Query", "q": 5, "entities": [{"type": "Park"}]},
    {"type": "Query", "attrs": "area"},
    {"type": "Query", "geoQ": "near", "entities": [{"type": "Park"}]},
    {"type": "Query", "geoQ": {"georel": "within", "geometry": "Polygon",
                               "coordinates": [[[0, 0], [1, 0], [1, 1]]]}},
    [{"type": "Query"}],
])
def test_bad_query_is_400(city, body: Any) -> None:
    assert_problem(city.post("/entityOperations/query", json=body), 400)


def test_batch_routes_refuse_other_methods(api) -> None:
    for operation in ("create", "upsert", "update", "delete", "query"):
        response = api.get(f"/entityOperations/{operation}")
        assert_problem(response, 405)
        assert response.headers["allow"] == "POST"
