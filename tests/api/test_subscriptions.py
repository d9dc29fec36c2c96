"""The subscription routes (clauses 6.10, 6.11) on both stores: create, retrieve, query with
paging, update, delete; @contexts, tenants, every refusal (400, nothing stored); and one
notification end to end through the HTTP API."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any

import pytest

from broker.support import Receiver, postgres_schema
from cityhub.broker import Hub
from cityhub.broker.delivery import DeliveryOptions
from cityhub.settings import Settings
from conftest import ApiClient, new_tenant, serve_hub

from .support import CORE_CONTEXT, assert_problem, ld_json, link_header, payload

BAD = payload("bad_subscriptions.json")


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def api_hub_url(request: pytest.FixtureRequest, api_hub_url: str) -> Iterator[str]:
    """The `api` fixture's hub, on each store: the session's SQLite hub, or one on a fresh
    PostgreSQL schema."""
    if request.param == "sqlite":
        yield api_hub_url
        return
    from cityhub.store.postgres import PostgresStore

    with postgres_schema() as (dsn, name):
        hub = Hub(PostgresStore(dsn, schema=name, max_size=4),
                  delivery=DeliveryOptions(retry_base_s=0.1, retry_max_s=0.5))
        with serve_hub(Settings(db=dsn), hub) as url:
            yield url


def subscription(**changes: Any) -> dict[str, Any]:
    body = payload("subscription.json")
    body.update(changes)
    return body


def create(api: ApiClient, body: dict[str, Any], **kwargs: Any) -> str:
    response = api.post("/subscriptions", json=body, **kwargs)
    assert response.status_code == 201, response.text
    location = response.headers["location"]
    assert location.startswith("/ngsi-ld/v1/subscriptions/urn:")
    return location.removeprefix("/ngsi-ld/v1/subscriptions/")


def retrieve(api: ApiClient, sub_id: str, **kwargs: Any) -> dict[str, Any]:
    response = api.get(f"/subscriptions/{sub_id}", **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def test_create_and_retrieve_keep_every_member_and_add_the_status(api: ApiClient) -> None:
    body = subscription()
    sub_id = create(api, body)
    assert sub_id.startswith("urn:ngsi-ld:Subscription:")
    response = api.get(f"/subscriptions/{sub_id}")
    assert response.headers["link"].startswith(f"<{CORE_CONTEXT}>")
    shown = response.json()
    for member in ("subscriptionName", "description", "entities", "watchedAttributes", "q",
                   "geoQ", "scopeQ", "throttling"):
        assert shown[member] == body[member], member
    assert shown["id"] == sub_id and shown["type"] == "Subscription"
    assert shown["expiresAt"] == "2099-01-01T00:00:00.000Z"
    assert shown["isActive"] is True and shown["status"] == "active"
    assert shown["notificationTrigger"] == ["attributeCreated", "attributeUpdated"]
    assert shown["jsonldContext"] == CORE_CONTEXT
    notification = shown["notification"]
    assert notification["attributes"] == ["temperature", "location"]
    assert notification["format"] == "keyValues"
    assert notification["endpoint"] == body["notification"]["endpoint"]
    assert (notification["timesSent"], notification["timesFailed"]) == (0, 0)
    assert "lastNotification" not in notification and "status" not in notification
    assert "createdAt" not in shown
    timed = retrieve(api, sub_id, params={"options": "sysAttrs"})
    assert timed["createdAt"] == timed["modifiedAt"]


def test_a_given_id_is_kept_and_cannot_be_taken_twice(api: ApiClient) -> None:
    sub_id = create(api, subscription(id="urn:ngsi-ld:Subscription:mine"))
    assert sub_id == "urn:ngsi-ld:Subscription:mine"
    again = api.post("/subscriptions", json=subscription(id=sub_id))
    assert_problem(again, 409, "AlreadyExists")


def test_query_pages_through_subscriptions_in_creation_order(api: ApiClient) -> None:
    ids = [create(api, subscription(subscriptionName=f"s{i}")) for i in range(3)]
    listed = api.get("/subscriptions", params={"count": "true"})
    assert listed.status_code == 200
    assert [s["id"] for s in listed.json()] == ids
    assert listed.headers["ngsild-results-count"] == "3"
    first = api.get("/subscriptions", params={"limit": "2"}).json()
    rest = api.get("/subscriptions", params={"limit": "2", "offset": "2"}).json()
    assert [s["id"] for s in first + rest] == ids
    counted = api.get("/subscriptions", params={"limit": "0", "count": "true"})
    assert counted.json() == [] and counted.headers["ngsild-results-count"] == "3"
    assert_problem(api.get("/subscriptions", params={"limit": "1001"}), 403, "TooManyResults")
    assert_problem(api.get("/subscriptions", params={"limit": "-1"}), 400, "BadRequestData")
    assert_problem(api.get("/subscriptions", params={"type": "Room"}), 400)
    ld = api.get("/subscriptions", headers={"Accept": "application/ld+json"})
    assert ld.headers["content-type"] == "application/ld+json"
    assert all(s["@context"] == CORE_CONTEXT for s in ld.json())


def test_update_replaces_members_and_merges_notification(api: ApiClient) -> None:
    sub_id = create(api, subscription())
    before = retrieve(api, sub_id, params={"options": "sysAttrs"})
    response = api.patch(f"/subscriptions/{sub_id}", json={
        "q": "temperature>30", "isActive": False, "scopeQ": None,
        "notification": {"format": "concise"}})
    assert response.status_code == 204, response.text
    after = retrieve(api, sub_id, params={"options": "sysAttrs"})
    assert after["q"] == "temperature>30" and "scopeQ" not in after
    assert after["isActive"] is False and after["status"] == "paused"
    assert after["notification"]["format"] == "concise"
    assert after["notification"]["endpoint"] == before["notification"]["endpoint"]
    assert after["createdAt"] == before["createdAt"]
    assert after["modifiedAt"] >= before["modifiedAt"]
    for fragment, detail in (({"q": "temperature>>1"}, "q:"), ({"id": "urn:x:other"}, "id"),
                             ({"throttling": -2}, "throttling"),
                             ({"notification": None}, "notification"),
                             ({"notificationTrigger": ["nope"]}, "nope"), ([], "fragment")):
        refused = api.patch(f"/subscriptions/{sub_id}", json=fragment)
        assert detail in assert_problem(refused, 400)["detail"], fragment
    unchanged = retrieve(api, sub_id, params={"options": "sysAttrs"})
    assert unchanged == after
    missing = api.patch("/subscriptions/urn:ngsi-ld:Subscription:none", json={"q": "a>1"})
    assert_problem(missing, 404, "ResourceNotFound")


def test_delete_removes_the_subscription(api: ApiClient) -> None:
    sub_id = create(api, subscription())
    assert api.delete(f"/subscriptions/{sub_id}").status_code == 204
    assert_problem(api.get(f"/subscriptions/{sub_id}"), 404, "ResourceNotFound")
    assert_problem(api.delete(f"/subscriptions/{sub_id}"), 404, "ResourceNotFound")
    assert api.get("/subscriptions").json() == []
    assert_problem(api.get("/subscriptions/not%20an%20id"), 400, "BadRequestData")


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_subscriptions_are_refused_and_nothing_is_stored(api: ApiClient,
                                                             case: str) -> None:
    spec = copy.deepcopy(BAD[case])
    body: Any = spec.get("replace", subscription())
    if isinstance(body, dict):
        body.update(spec.get("merge", {}))
        for member in spec.get("drop", []):
            body.pop(member, None)
    problem = assert_problem(api.post("/subscriptions", json=body), 400, "BadRequestData")
    assert spec["detail"] in problem["detail"], problem["detail"]
    # nothing stored: the tenant the request named was not even created
    assert_problem(api.get("/subscriptions"), 404, "NonexistentTenant")


def test_unsupported_members_are_501_and_bodies_must_be_json(api: ApiClient) -> None:
    refused = api.post("/subscriptions", json=subscription(csf="brand==Acme"))
    assert refused.status_code == 501
    assert_problem(api.post("/subscriptions", content=b"{", headers={
        "Content-Type": "application/json"}), 400, "InvalidRequest")
    assert api.post("/subscriptions", content=b"{}", headers={
        "Content-Type": "text/plain"}).status_code == 415
    assert api.put("/subscriptions/urn:x:1", json={}).status_code == 405


def test_tenants_never_see_each_other(api: ApiClient) -> None:
    sub_id = create(api, subscription())
    other = api.with_tenant(new_tenant())
    assert_problem(other.get("/subscriptions"), 404, "NonexistentTenant")
    assert_problem(other.get(f"/subscriptions/{sub_id}"), 404, "NonexistentTenant")
    other.create({"id": "urn:ngsi-ld:Room:1", "type": "Room"})
    assert other.get("/subscriptions").json() == []
    assert_problem(other.get(f"/subscriptions/{sub_id}"), 404, "ResourceNotFound")
    assert_problem(other.delete(f"/subscriptions/{sub_id}"), 404, "ResourceNotFound")
    assert retrieve(api, sub_id)["id"] == sub_id


def test_names_come_back_as_written_under_the_subscription_context(
        api: ApiClient, context_server: Any) -> None:
    context = {"@context": {"Office": "https://example.org/ns#Office",
                            "temp": "https://example.org/ns#temperature"}}
    url = context_server.publish(context)
    body = subscription(entities=[{"type": "Office"}], watchedAttributes=["temp"], q="temp>1")
    sub_id = create(api, body, headers={"Link": link_header(url)})
    response = api.get(f"/subscriptions/{sub_id}")
    assert response.headers["link"].startswith(f"<{url}>")
    shown = response.json()
    assert shown["entities"] == [{"type": "Office"}] and shown["watchedAttributes"] == ["temp"]
    assert shown["jsonldContext"] == url
    inline = copy.deepcopy(body)
    inline["@context"] = context["@context"]
    response = api.post("/subscriptions", **ld_json(inline))
    assert response.status_code == 201, response.text
    inline_id = response.headers["location"].rsplit("/", 1)[1]
    ld = retrieve(api, inline_id, headers={"Accept": "application/ld+json"})
    assert ld["@context"] == context["@context"] and "jsonldContext" not in ld


def test_a_notification_end_to_end(api: ApiClient) -> None:
    receiver = Receiver()
    try:
        sub_id = create(api, {
            "type": "Subscription", "entities": [{"type": "Room"}],
            "notification": {"format": "keyValues",
                             "endpoint": {"uri": receiver.url + "/rooms"}}})
        api.create({"id": "urn:ngsi-ld:Room:1", "type": "Room", "temperature": 20})
        response = api.patch("/entities/urn:ngsi-ld:Room:1/attrs",
                                json={"temperature": 23})
        assert response.status_code == 204
        bodies = receiver.wait_count(2, timeout=10)
        assert [b["data"] for b in bodies] == [
            [{"id": "urn:ngsi-ld:Room:1", "type": "Room", "temperature": 20}],
            [{"id": "urn:ngsi-ld:Room:1", "type": "Room", "temperature": 23}]]
        assert receiver.received[0].headers["ngsild-tenant"] == api.tenant
    finally:
        receiver.close()
    for _ in range(200):
        figures = retrieve(api, sub_id)["notification"]
        if figures["timesSent"] == 2:
            break
        time.sleep(0.05)
    assert figures["timesSent"] == 2 and figures["status"] == "ok", figures
