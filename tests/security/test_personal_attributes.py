"""Attribute-level hiding: roles without access to personal data (partner, public) never see
a personal attribute in any answer (entity, query, keyValues, GeoJSON, temporal, batch query),
cannot filter or pick on one, and cannot subscribe to one; roles with access see them."""

from __future__ import annotations

from typing import Any

import pytest

from api.support import assert_problem

from .support import SecuredHub, entity

VEHICLE = "urn:ngsi-ld:Vehicle:p-1"
PLATE = "12-XY-99"
NOTIFY = {"uri": "http://127.0.0.1:1/notify", "accept": "application/json"}


@pytest.fixture(scope="module")
def vehicle(secured: SecuredHub) -> SecuredHub:
    document = entity("Vehicle", "p-1", licensePlate=PLATE, speed=42)
    document["location"] = {"type": "GeoProperty",
                            "value": {"type": "Point", "coordinates": [127.0, 37.5]}}
    document["speed"]["observedAt"] = "2024-05-01T10:00:00Z"
    with secured.client("operator") as operator:
        assert operator.post("/entities", json=document).status_code == 201
    return secured


def answers(hub: SecuredHub, role: str) -> list[Any]:
    with hub.client(role) as client:
        found = [
            client.get(f"/entities/{VEHICLE}"),
            client.get(f"/entities/{VEHICLE}", params={"options": "keyValues"}),
            client.get("/entities", params={"type": "Vehicle"}),
            client.get("/entities", params={"type": "Vehicle"},
                       headers={"Accept": "application/geo+json"}),
            client.get(f"/temporal/entities/{VEHICLE}"),
            client.post("/entityOperations/query",
                        json={"type": "Query", "entities": [{"type": "Vehicle"}]}),
        ]
    for response in found:
        assert response.status_code == 200, response.text
    return [response.text for response in found]


def test_partners_never_see_personal_attributes(vehicle: SecuredHub) -> None:
    for text in answers(vehicle, "partner"):
        assert "licensePlate" not in text and PLATE not in text
        assert "speed" in text


def test_roles_with_access_see_them(vehicle: SecuredHub) -> None:
    for text in answers(vehicle, "police"):
        assert PLATE in text


@pytest.mark.parametrize("params", [{"q": f'licensePlate=="{PLATE}"'},
                                    {"attrs": "licensePlate"}, {"pick": "id,licensePlate"}])
def test_partners_cannot_query_on_them(vehicle: SecuredHub, params: dict[str, str]) -> None:
    with vehicle.client("partner") as client:
        assert_problem(client.get("/entities", params={"type": "Vehicle", **params}), 403)
        assert_problem(client.post("/entityOperations/query", json={
            "type": "Query", "entities": [{"type": "Vehicle"}],
            "q": f'licensePlate=="{PLATE}"'}), 403)


def test_partners_subscribe_only_to_listed_non_personal_attributes(
        vehicle: SecuredHub) -> None:
    def body(**notification: Any) -> dict[str, Any]:
        return {"type": "Subscription", "entities": [{"type": "Vehicle"}],
                "notification": {"endpoint": NOTIFY, **notification}}

    with vehicle.client("partner") as client:
        assert_problem(client.post("/subscriptions", json=body()), 403)
        assert_problem(client.post("/subscriptions", json=body(
            attributes=["speed", "licensePlate"])), 403)
        assert_problem(client.post("/subscriptions", json={
            **body(attributes=["speed"]), "watchedAttributes": ["licensePlate"]}), 403)
        assert client.post("/subscriptions", json=body(attributes=["speed"])
                           ).status_code == 201


def test_the_live_stream_needs_listed_attributes_and_a_readable_type(
        vehicle: SecuredHub) -> None:
    import httpx

    url = vehicle.url + "/cityhub/v1/live"
    partner = {"X-API-Key": vehicle.keys["partner"], "NGSILD-Tenant": "city-a"}
    assert_problem(httpx.get(url, params={"type": "Vehicle"}, headers=partner), 403)
    assert_problem(httpx.get(url, params={"type": "Vehicle", "attrs": "licensePlate"},
                             headers=partner), 403)
    assert_problem(httpx.get(url, params={"type": "Vehicle", "attrs": "speed"},
                             headers={"NGSILD-Tenant": "city-a"}), 401)
    # the hub's own notification receiver stays reachable (it checks its random stream ids)
    assert_problem(httpx.post(url + "/no-such-stream", json={"data": []}), 404)


def test_an_alias_in_a_context_of_the_callers_own_hides_nothing(vehicle: SecuredHub) -> None:
    from api.support import link_header

    alias = {"@context": {"plaque": "https://uri.etsi.org/ngsi-ld/default-context/licensePlate"}}
    with vehicle.client("operator") as operator:
        created = operator.post("/jsonldContexts", json=alias)
        assert created.status_code == 201, created.text
    url = created.headers["location"]
    with vehicle.client("partner", Link=link_header(url)) as partner:
        found = partner.get(f"/entities/{VEHICLE}")
        assert found.status_code == 200 and PLATE not in found.text, found.text
        assert_problem(partner.get("/entities", params={"type": "Vehicle",
                                                        "q": f'plaque=="{PLATE}"'}), 403)
    with vehicle.client("police", Link=link_header(url)) as police:
        assert police.get(f"/entities/{VEHICLE}").json()["plaque"]["value"] == PLATE


def test_a_partner_cannot_widen_its_subscription_to_every_attribute(
        vehicle: SecuredHub) -> None:
    with vehicle.client("partner") as client:
        created = client.post("/subscriptions", json={
            "type": "Subscription", "entities": [{"type": "Vehicle"}],
            "notification": {"endpoint": NOTIFY, "attributes": ["speed"]}})
        assert created.status_code == 201
        path = created.headers["location"].removeprefix("/ngsi-ld/v1")
        assert_problem(client.patch(path, json={"notification": {"endpoint": NOTIFY}}), 403)
        assert_problem(client.patch(path, json={"notification": {
            "endpoint": NOTIFY, "attributes": ["licensePlate"]}}), 403)
        assert client.get(path).json()["notification"]["attributes"] == ["speed"]
