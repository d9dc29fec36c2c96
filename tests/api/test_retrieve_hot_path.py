"""GET /entities/{id} in the common case (no query string, default tenant, core context)
answers with exactly the headers every other JSON answer has (bench/broker.py's hot path)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import httpx
import pytest

from cityhub.broker import Hub
from cityhub.settings import Settings
from conftest import serve_hub

from .support import CORE_CONTEXT, assert_problem, payload

LINK = f'<{CORE_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'


@pytest.fixture
def default_tenant(api) -> Iterator[httpx.Client]:
    """A client of the same hub that sends no NGSILD-Tenant header."""
    with httpx.Client(base_url=api.hub_url + "/ngsi-ld/v1", timeout=30) as client:
        yield client


@pytest.fixture
def entity_id(api, default_tenant: httpx.Client) -> str:
    entity = payload("air_quality.json")
    entity["id"] = f"urn:ngsi-ld:AirQualityObserved:hot-{uuid.uuid4().hex}"
    for client in (api, default_tenant):
        assert client.post("/entities", json=entity).status_code == 201
    return entity["id"]


def test_default_answer_has_the_same_headers_as_the_general_path(
        default_tenant: httpx.Client, entity_id: str) -> None:
    plain = default_tenant.get(f"/entities/{entity_id}")
    general = default_tenant.get(f"/entities/{entity_id}?options=normalized")
    assert plain.status_code == general.status_code == 200
    for response in (plain, general):
        assert response.headers["content-type"] == "application/json"
        assert response.headers["link"] == LINK
        assert int(response.headers["content-length"]) == len(response.content)
        assert "ngsild-tenant" not in response.headers
    assert plain.json() == general.json()
    assert plain.json()["id"] == entity_id
    assert sorted(plain.headers) == sorted(general.headers)


def test_a_tenant_answer_names_its_tenant(api, entity_id: str) -> None:
    response = api.get(f"/entities/{entity_id}")
    assert response.status_code == 200
    assert response.headers["ngsild-tenant"] == api.tenant
    assert response.headers["link"] == LINK


def test_a_bad_geometry_property_is_400_whatever_the_accept(
        default_tenant: httpx.Client, entity_id: str) -> None:
    assert_problem(default_tenant.get(f"/entities/{entity_id}?geometryProperty=a%20b"), 400)
    assert_problem(default_tenant.get(f"/entities/{entity_id}?geometryProperty=a%20b",
                                      headers={"Accept": "application/geo+json"}), 400)


def test_missing_entity_is_404(default_tenant: httpx.Client) -> None:
    assert_problem(default_tenant.get("/entities/urn:ngsi-ld:AirQualityObserved:none"), 404)


# -- the shortcut layer (api.entities.DefaultRetrieve) against the general path ---------------
#: an entity with every kind of attribute (the shortcut renders with the default options)
EVERY_KIND = {
    "type": ["AirQualityObserved", "https://example.org/Other"],
    "scope": ["/sejong/hansol"],
    "temperature": [
        {"type": "Property", "value": 21.5, "unitCode": "CEL",
         "observedAt": "2026-11-30T10:00:00Z", "datasetId": "urn:ngsi-ld:Dataset:a",
         "accuracy": {"type": "Property", "value": 0.5}},
        {"type": "Property", "value": 21.9, "datasetId": "urn:ngsi-ld:Dataset:b"},
    ],
    "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [127.2, 36.5]}},
    "refDevice": {"type": "Relationship", "object": "urn:ngsi-ld:Device:d1",
                  "objectType": "Device"},
    "name": {"type": "LanguageProperty", "languageMap": {"en": "Lake park", "ko": "호수공원"}},
    "readings": {"type": "ListProperty", "valueList": [1, 2, 3]},
    "neighbours": {"type": "ListRelationship", "objectList": ["urn:ngsi-ld:Thing:a"]},
    "settings": {"type": "JsonProperty", "json": {"mode": "eco"}},
    "category": {"type": "VocabProperty", "vocab": "Property"},
}


@pytest.fixture
def rich_entity_id(default_tenant: httpx.Client) -> str:
    entity_id = f"urn:ngsi-ld:Thing:rich-{uuid.uuid4().hex}"
    response = default_tenant.post("/entities", json={"id": entity_id, **EVERY_KIND})
    assert response.status_code == 201, response.text
    return entity_id


@pytest.mark.parametrize("general", [
    {"params": {"lang": "*"}},  # same answer, general handler and general renderer
    {"headers": {"Link": LINK}},  # same context named explicitly: the general path
    {"headers": {"Accept": "application/json;q=1"}},  # parsed Accept: the general path
])
def test_the_shortcut_answers_byte_for_byte_as_the_general_path(
        default_tenant: httpx.Client, rich_entity_id: str, general: dict) -> None:
    plain = default_tenant.get(f"/entities/{rich_entity_id}")
    other = default_tenant.get(f"/entities/{rich_entity_id}", **general)
    assert plain.status_code == other.status_code == 200
    assert plain.content == other.content
    assert sorted(plain.headers.items()) == sorted(other.headers.items())
    body = plain.json()
    assert body["name"] == EVERY_KIND["name"] and body["readings"] == EVERY_KIND["readings"]
    assert body["neighbours"] == {"type": "ListRelationship",
                                  "objectList": [{"object": "urn:ngsi-ld:Thing:a"}]}


@pytest.mark.parametrize("path", [
    "/entities/urn:ngsi-ld:Thing:none",  # 404
    "/entities/not%20a%20uri",  # 400: not a URI
])
def test_the_shortcut_errors_are_the_general_path_errors(default_tenant: httpx.Client,
                                                         path: str) -> None:
    plain = default_tenant.get(path)
    other = default_tenant.get(path, params={"lang": "*"})
    assert_problem(plain, other.status_code)
    assert plain.json() == other.json()


def test_requests_the_shortcut_leaves_keep_their_answers(default_tenant: httpx.Client,
                                                         entity_id: str) -> None:
    path = f"/entities/{entity_id}"
    ld = default_tenant.get(path, headers={"Accept": "application/ld+json"})
    assert ld.status_code == 200 and ld.json()["@context"] == CORE_CONTEXT
    feature = default_tenant.get(path, headers={"Accept": "application/geo+json"})
    assert feature.status_code == 200 and feature.json()["type"] == "Feature"
    assert_problem(default_tenant.get(path, headers={"Accept": "text/html"}), 406)
    head = default_tenant.head(path)
    assert head.status_code == 200 and head.content == b""
    twice = default_tenant.get(path, headers=[("Link", LINK), ("Link", LINK)])
    assert_problem(twice, 400)
    assert_problem(default_tenant.get(path, headers={"NGSILD-Tenant": "no-such-tenant"}), 404)
    # GET is not a method of /attrs: the general path reads it as the entity id ".../attrs"
    assert_problem(default_tenant.get(path + "/attrs"), 404)


def test_the_shortcut_counts_usage_and_cors_still_applies(tmp_path) -> None:
    settings = Settings(db=f"sqlite:///{tmp_path / 'hub.db'}",
                        cors_origins=("https://app.example",))
    entity = payload("air_quality.json")
    with serve_hub(settings) as url, httpx.Client(base_url=url) as client:
        assert client.post("/ngsi-ld/v1/entities", json=entity).status_code == 201
        path = f"/ngsi-ld/v1/entities/{entity['id']}"
        for _ in range(2):
            assert client.get(path).status_code == 200
        assert client.get(path + "-none").status_code == 404  # not counted
        cors = client.get(path, headers={"Origin": "https://app.example"})
        assert cors.status_code == 200
        assert cors.headers["access-control-allow-origin"] == "https://app.example"
        assert cors.content == client.get(path).content
        usage = client.get("/cityhub/v1/catalogue/usage").json()
    assert usage["keys"] == [{"tenant": "@default", "type": "AirQualityObserved",
                              "key": "anonymous", "requests": 4, "entities": 4}]


def test_an_unexpected_failure_is_a_500_problem_on_both_paths(tmp_path, caplog) -> None:
    hub = Hub.from_dsn(f"sqlite:///{tmp_path / 'hub.db'}")

    async def broken_get(tenant: str, ids: object) -> dict:
        raise RuntimeError("secret internals /etc/cityhub")

    hub.store.get = broken_get  # type: ignore[method-assign]
    with serve_hub(Settings(db=f"sqlite:///{tmp_path / 'hub.db'}"), hub) as url, \
            httpx.Client(base_url=url + "/ngsi-ld/v1") as client, \
            caplog.at_level(logging.ERROR, logger="cityhub.api"):
        plain = client.get("/entities/urn:ngsi-ld:Thing:x")
        general = client.get("/entities/urn:ngsi-ld:Thing:x", params={"lang": "*"})
    for response in (plain, general):
        body = assert_problem(response, 500, "InternalError")
        assert "secret" not in response.text
    assert plain.json() == general.json()
    assert sum("unhandled error on GET /ngsi-ld/v1/entities/urn:ngsi-ld:Thing:x" in r.message
               for r in caplog.records) == 2
    assert body["detail"]
