"""GET /entities/{id} in the common case (no query string, default tenant, core context)
answers with exactly the headers every other JSON answer has (bench/broker.py's hot path)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

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
