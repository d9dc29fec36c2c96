"""Context information discovery: /ngsi-ld/v1/types and /attributes (clauses 6.25-6.28)."""

from __future__ import annotations

import pytest

from .support import CORE_CONTEXT, assert_problem, link_header, payload

DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"


@pytest.fixture
def city(api):
    api.create_many(payload("city.json"))
    return api


def test_types(city) -> None:
    response = city.get("/types")
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "EntityTypeList"
    assert body["id"].startswith("urn:ngsi-ld:EntityTypeList:")
    assert sorted(body["typeList"]) == ["Highway", "Park", "Road"]


def test_types_with_details(city) -> None:
    body = {t["typeName"]: t for t in city.get("/types?details=true").json()}
    assert sorted(body) == ["Highway", "Park", "Road"]
    park = body["Park"]
    assert park["id"] == DEFAULT_VOCAB + "Park" and park["type"] == "EntityType"
    assert park["attributeNames"] == ["area", "location", "name", "servedArea"]
    assert "lanes" in body["Road"]["attributeNames"]


def test_type_info(city) -> None:
    body = city.get("/types/Road").json()
    assert body["type"] == "EntityTypeInfo"
    assert body["typeName"] == "Road" and body["entityCount"] == 3
    details = {a["attributeName"]: a for a in body["attributeDetails"]}
    assert details["speed"]["attributeTypes"] == ["Property"]
    assert details["location"]["attributeTypes"] == ["GeoProperty"]
    assert details["location"]["type"] == "Attribute"
    # a full IRI names the same type
    assert city.get("/types/" + DEFAULT_VOCAB + "Road").json()["entityCount"] == 3


def test_attributes(city) -> None:
    body = city.get("/attributes").json()
    assert body["type"] == "AttributeList"
    assert sorted(body["attributeList"]) == sorted([
        "name", "speed", "lanes", "status", "dimensions", "location", "area", "servedArea"])


def test_attributes_with_details_and_attribute_info(city) -> None:
    details = {a["attributeName"]: a for a in city.get("/attributes?details=true").json()}
    assert details["location"]["typeNames"] == ["Highway", "Park", "Road"]
    assert details["area"] == city.get("/attributes/area").json()
    area = details["area"]
    assert area["type"] == "Attribute" and area["attributeTypes"] == ["Property"]
    assert area["typeNames"] == ["Park"] and area["attributeCount"] == 2


def test_attribute_count_counts_each_entity_once(city) -> None:
    # Teheran-ro is a Road and a Highway: still one entity with a location
    assert city.get("/attributes/location").json()["attributeCount"] == 5


def test_kinds_of_attributes_are_reported(api) -> None:
    api.create(payload("air_quality.json"))
    details = {a["attributeName"]: a["attributeTypes"]
               for a in api.get("/types/AirQualityObserved").json()["attributeDetails"]}
    assert details["name"] == ["LanguageProperty"]
    assert details["refDevice"] == ["Relationship"]
    assert details["refSensors"] == ["ListRelationship"]
    assert details["hourlyPm25"] == ["ListProperty"]


def test_discovery_follows_deletes(city) -> None:
    assert city.delete("/entities?type=Park").status_code == 204
    assert "Park" not in city.get("/types").json()["typeList"]
    assert_problem(city.get("/types/Park"), 404, "ResourceNotFound")
    assert_problem(city.get("/attributes/area"), 404, "ResourceNotFound")


def test_unknown_type_and_attribute_are_404(city) -> None:
    assert_problem(city.get("/types/Bridge"), 404, "ResourceNotFound")
    assert_problem(city.get("/attributes/height"), 404, "ResourceNotFound")


def test_ld_json_and_406(city) -> None:
    response = city.get("/types", headers={"Accept": "application/ld+json"})
    assert response.headers["content-type"] == "application/ld+json"
    assert response.json()["@context"] == CORE_CONTEXT
    listed = city.get("/attributes?details=true", headers={"Accept": "application/ld+json"})
    assert all(item["@context"] == CORE_CONTEXT for item in listed.json())
    for path in ("/types", "/types/Road", "/attributes", "/attributes/area"):
        assert_problem(city.get(path, headers={"Accept": "application/geo+json"}), 406)


def test_names_are_compacted_with_the_request_context(city, context_server) -> None:
    url = context_server.publish({"@context": {"Parque": DEFAULT_VOCAB + "Park",
                                               "superficie": DEFAULT_VOCAB + "area"}})
    headers = {"Link": link_header(url)}
    assert "Parque" in city.get("/types", headers=headers).json()["typeList"]
    assert city.get("/types/Parque", headers=headers).json()["entityCount"] == 2
    assert city.get("/attributes/superficie", headers=headers).json()["typeNames"] == ["Parque"]


def test_bad_parameters(city) -> None:
    assert_problem(city.get("/types?details=yes"), 400, "BadRequestData")
    assert_problem(city.get("/types?limit=5"), 400, "BadRequestData")
    assert_problem(city.get("/attributes/area?details=true"), 400, "BadRequestData")
    assert_problem(city.post("/types", json={}), 405)
