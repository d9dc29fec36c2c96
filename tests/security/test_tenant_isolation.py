"""One tenant can never read, query, count, write or subscribe to another tenant's data,
through any route: credentials of `city-a` (API key or JWT) aimed at `city-b` are refused
with 403 and change nothing; what `city-b` holds never shows in `city-a`'s answers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.support import assert_problem

from .support import TENANT_A, TENANT_B, SecuredHub, entity

B_ENTITY = "urn:ngsi-ld:ParkingSpot:b-1"
A_ENTITY = "urn:ngsi-ld:ParkingSpot:a-1"
NOTIFY = {"uri": "http://127.0.0.1:1/notify", "accept": "application/json"}


@pytest.fixture(scope="module")
def two_tenants(secured: SecuredHub) -> tuple[SecuredHub, str]:
    with secured.client("operator-b", TENANT_B) as b:
        assert b.post("/entities", json=entity("ParkingSpot", "b-1", status="free")
                      ).status_code == 201
        created = b.post("/subscriptions", json={
            "type": "Subscription", "entities": [{"type": "ParkingSpot"}],
            "notification": {"endpoint": NOTIFY}})
        assert created.status_code == 201, created.text
    with secured.client("operator", TENANT_A) as a:
        assert a.post("/entities", json=entity("ParkingSpot", "a-1", status="busy")
                      ).status_code == 201
    return secured, created.headers["location"].rsplit("/", 1)[-1]


def every_route(client: httpx.Client, sub_id: str) -> list[httpx.Response]:
    query = {"type": "Query", "entities": [{"type": "ParkingSpot"}]}
    return [
        client.get("/entities", params={"type": "ParkingSpot"}),
        client.get("/entities", params={"type": "ParkingSpot", "count": "true", "limit": "0"}),
        client.get(f"/entities/{B_ENTITY}"),
        client.post("/entities", json=entity("ParkingSpot", "intruder")),
        client.patch(f"/entities/{B_ENTITY}/attrs", json={"status": {"value": "x"}}),
        client.put(f"/entities/{B_ENTITY}", json={"type": "ParkingSpot"}),
        client.delete(f"/entities/{B_ENTITY}"),
        client.delete("/entities", params={"type": "ParkingSpot"}),
        client.post("/entityOperations/query", json=query),
        client.post("/entityOperations/upsert", json=[entity("ParkingSpot", "b-1")]),
        client.post("/entityOperations/delete", json=[B_ENTITY]),
        client.get("/temporal/entities", params={"type": "ParkingSpot",
                                                 "timerel": "after",
                                                 "timeAt": "2000-01-01T00:00:00Z"}),
        client.get(f"/temporal/entities/{B_ENTITY}"),
        client.post("/temporal/entityOperations/query", json=query),
        client.get("/types"),
        client.get("/types/ParkingSpot"),
        client.get("/attributes"),
        client.get("/attributes/status"),
        client.get("/subscriptions"),
        client.get(f"/subscriptions/{sub_id}"),
        client.patch(f"/subscriptions/{sub_id}", json={"description": "mine now"}),
        client.delete(f"/subscriptions/{sub_id}"),
        client.post("/subscriptions", json={"type": "Subscription",
                                            "entities": [{"type": "ParkingSpot"}],
                                            "notification": {"endpoint": NOTIFY}}),
    ]


def snapshot(hub: SecuredHub) -> Any:
    with hub.client("operator-b", TENANT_B) as b:
        entities = b.get("/entities", params={"type": "ParkingSpot"}).json()
        subscriptions = b.get("/subscriptions").json()
    for item in subscriptions:
        item.pop("notification", None)  # delivery figures move on their own
    return entities, subscriptions


@pytest.mark.parametrize("credential", ["api-key", "jwt", "jwt-jwks", "admin-of-a"])
def test_credentials_of_one_tenant_get_nothing_from_another(
        two_tenants: tuple[SecuredHub, str], credential: str) -> None:
    hub, sub_id = two_tenants
    if credential == "api-key":
        client = hub.client("operator", TENANT_B)
    elif credential == "admin-of-a":
        client = hub.client("admin", TENANT_B)
    else:
        kid = "jwks-1" if credential == "jwt-jwks" else "pem-1"
        client = hub.client(None, TENANT_B,
                            Authorization=f"Bearer {hub.token(tenant=TENANT_A, kid=kid)}")
    before = snapshot(hub)
    with client:
        for response in every_route(client, sub_id):
            assert_problem(response, 403)
    assert snapshot(hub) == before


def test_the_default_tenant_is_a_tenant_too(two_tenants: tuple[SecuredHub, str]) -> None:
    hub, sub_id = two_tenants
    with hub.client("operator", None) as client:
        for response in every_route(client, sub_id):
            assert_problem(response, 403)


def test_a_tenants_answers_never_hold_another_tenants_data(
        two_tenants: tuple[SecuredHub, str]) -> None:
    hub, _ = two_tenants
    with hub.client("operator", TENANT_A) as a:
        found = a.get("/entities", params={"type": "ParkingSpot", "count": "true"})
        assert [e["id"] for e in found.json()] == [A_ENTITY]
        assert found.headers["ngsild-results-count"] == "1"
        assert_problem(a.get(f"/entities/{B_ENTITY}"), 404)
        assert a.get("/subscriptions").json() == []


def test_a_second_tenant_header_is_refused(two_tenants: tuple[SecuredHub, str]) -> None:
    hub, _ = two_tenants
    headers = [("X-API-Key", hub.keys["operator"]), ("NGSILD-Tenant", TENANT_A),
               ("NGSILD-Tenant", TENANT_B)]
    response = httpx.get(hub.url + "/ngsi-ld/v1/entities", params={"type": "ParkingSpot"},
                         headers=headers)
    assert_problem(response, 400, "InvalidRequest")


def test_an_admin_of_every_tenant_reads_both(two_tenants: tuple[SecuredHub, str]) -> None:
    hub, _ = two_tenants
    for tenant, wanted in ((TENANT_A, A_ENTITY), (TENANT_B, B_ENTITY)):
        with hub.client("root", tenant) as client:
            found = client.get("/entities", params={"type": "ParkingSpot"})
            assert [e["id"] for e in found.json()] == [wanted]
