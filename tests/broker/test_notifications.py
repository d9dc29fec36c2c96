"""Notifications through the broker, on both stores: what each trigger, filter and option of a
subscription sends, and how delivery behaves (retries, status, throttling, periodic, restart,
a dead endpoint beside a live one, MQTT), against local receivers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cityhub.broker import Hub
from cityhub.broker.delivery import DeliveryOptions
from cityhub.ngsild.context import CORE_CONTEXT_URL, core_term_map
from cityhub.ngsild.entity import now_iso
from cityhub.ngsild.notification import describe_change
from conftest import postgres_test_schema, require_service

from .support import Receiver, entities_of

pytestmark = pytest.mark.anyio

TERMS = core_term_map()
FAST = DeliveryOptions(retry_base_s=0.05, retry_max_s=0.2, timeout_s=1.0, poll_s=0.05,
                       settle_s=0.02)


def open_hub(kind: str, where: Any, options: DeliveryOptions = FAST) -> Hub:
    if kind == "sqlite":
        from cityhub.store.sqlite import SqliteStore

        return Hub(SqliteStore(str(where)), delivery=options)
    from cityhub.store.postgres import PostgresStore

    dsn, schema = where
    return Hub(PostgresStore(dsn, schema=schema, max_size=4), delivery=options)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def place(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """(store kind, where its data lives): a fresh SQLite file or PostgreSQL schema."""
    if request.param == "sqlite":
        yield "sqlite", tmp_path / "hub.db"
        return
    async with postgres_test_schema() as found:
        yield "postgres", found


@pytest.fixture
async def hub(place: tuple[str, Any]) -> AsyncIterator[Hub]:
    started = open_hub(*place)
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


@pytest.fixture
def receiver() -> Any:
    found = Receiver()
    try:
        yield found
    finally:
        found.close()


def tenant() -> str:
    return f"n{uuid.uuid4().hex[:12]}"


def room(number: int, temperature: float = 20.0, **extra: Any) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:Room:{number}", "type": "Room",
            "temperature": {"type": "Property", "value": temperature}, **extra}


async def subscribe(hub: Hub, where: str, url: str, **members: Any) -> str:
    notification = members.pop("notification", {})
    notification.setdefault("endpoint", {"uri": url})
    payload = {"type": "Subscription", "entities": [{"type": "Room"}],
               "notification": notification, **members}
    return await hub.subscriptions.create(where, payload, TERMS, CORE_CONTEXT_URL)


async def arrived(receiver: Receiver, count: int, timeout: float = 5.0, path: str | None = None
                  ) -> list[Any]:
    return await asyncio.to_thread(receiver.wait_count, count, path, timeout)


async def quiet(seconds: float = 0.3) -> None:
    """Give the dispatcher time to send anything it (wrongly) would."""
    await asyncio.sleep(seconds)


async def test_default_triggers_notify_created_and_updated_attributes(
        hub: Hub, receiver: Receiver) -> None:
    t = tenant()
    sub_id = await subscribe(hub, t, receiver.url + "/n")
    await hub.entities.create(t, room(1), TERMS)
    await hub.entities.update_attrs(t, "urn:ngsi-ld:Room:1", {"temperature": 21.5}, TERMS)
    await hub.entities.delete_attr(t, "urn:ngsi-ld:Room:1", "temperature", TERMS, None, False)
    await hub.entities.delete(t, "urn:ngsi-ld:Room:1")
    bodies = await arrived(receiver, 2)
    await quiet()
    bodies = receiver.bodies()
    assert [b["triggerReason"] for b in bodies] == ["attributeCreated", "attributeUpdated"]
    first = bodies[0]
    assert first["type"] == "Notification" and first["subscriptionId"] == sub_id
    assert first["id"].startswith("urn:ngsi-ld:Notification:")
    assert first["notifiedAt"].endswith("Z")
    assert first["data"] == [{"id": "urn:ngsi-ld:Room:1", "type": "Room",
                              "temperature": {"type": "Property", "value": 20.0}}]
    assert bodies[1]["data"][0]["temperature"]["value"] == 21.5
    headers = receiver.received[0].headers
    assert headers["content-type"] == "application/json"
    assert headers["ngsild-tenant"] == t
    assert f"<{CORE_CONTEXT_URL}>" in headers["link"]


async def test_entity_triggers_and_deleted_attributes(hub: Hub, receiver: Receiver) -> None:
    t = tenant()
    await subscribe(hub, t, receiver.url, notificationTrigger=[
        "entityCreated", "entityDeleted", "attributeDeleted"])
    await hub.entities.create(t, room(1, humidity={"value": 40}), TERMS)
    await hub.entities.delete_attr(t, "urn:ngsi-ld:Room:1", "humidity", TERMS, None, False)
    await hub.entities.delete(t, "urn:ngsi-ld:Room:1")
    bodies = await arrived(receiver, 3)
    assert [b["triggerReason"] for b in bodies] == [
        "entityCreated", "attributeDeleted", "entityDeleted"]
    deleted_attr = bodies[1]["data"][0]
    assert deleted_attr["humidity"]["value"] == "urn:ngsi-ld:null"
    assert "deletedAt" in deleted_attr["humidity"] and "temperature" in deleted_attr
    gone = bodies[2]["data"][0]
    assert gone["id"] == "urn:ngsi-ld:Room:1" and gone["type"] == "Room" and "deletedAt" in gone
    assert "temperature" not in gone


async def test_entity_updated_fires_for_any_change(hub: Hub, receiver: Receiver) -> None:
    t = tenant()
    await subscribe(hub, t, receiver.url, notificationTrigger=["entityUpdated"])
    await hub.entities.create(t, room(1), TERMS)  # not an update
    await hub.entities.append_attrs(t, "urn:ngsi-ld:Room:1", {"co2": 400}, TERMS,
                                    overwrite=True)
    await hub.entities.update_attrs(t, "urn:ngsi-ld:Room:1", {"co2": 410}, TERMS)
    bodies = await arrived(receiver, 2)
    await quiet()
    assert [b["triggerReason"] for b in receiver.bodies()] == ["entityUpdated"] * 2
    assert bodies[1]["data"][0]["co2"]["value"] == 410


async def test_watched_attributes_and_filters_select_what_notifies(
        hub: Hub, receiver: Receiver) -> None:
    t = tenant()
    await subscribe(hub, t, receiver.url + "/watched", watchedAttributes=["temperature"])
    await subscribe(hub, t, receiver.url + "/hot", q="temperature>25")
    await subscribe(hub, t, receiver.url + "/near",
                    geoQ={"georel": "near;maxDistance==1000", "geometry": "Point",
                          "coordinates": [127.29, 36.48]})
    await subscribe(hub, t, receiver.url + "/scoped", scopeQ="/Sejong/#")
    await subscribe(hub, t, receiver.url + "/pattern",
                    entities=[{"type": "Room|Hall", "idPattern": "^urn:ngsi-ld:[A-Za-z]+:2$"}])
    await subscribe(hub, t, receiver.url + "/one",
                    entities=[{"type": "Room", "id": "urn:ngsi-ld:Room:3"}])
    far = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [126.9, 37.5]}}
    near = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [127.291, 36.481]}}
    await hub.entities.create(t, room(1, 30, location=near, scope="/Sejong/Hansol"), TERMS)
    await hub.entities.create(t, room(2, 10, location=far), TERMS)
    await hub.entities.create(t, {"id": "urn:ngsi-ld:Hall:2", "type": "Hall"}, TERMS)
    await hub.entities.create(t, room(3, 10), TERMS)
    await hub.entities.append_attrs(t, "urn:ngsi-ld:Room:1", {"humidity": 50}, TERMS,
                                    overwrite=True)
    await arrived(receiver, 9)
    await quiet()

    def ids(path: str) -> list[str]:
        return [e["id"].rsplit(":", 2)[-2] + e["id"][-1]
                for e in entities_of(receiver.bodies("/" + path))]

    assert ids("watched") == ["Room1", "Room2", "Room3"]  # the humidity change is not watched
    assert ids("hot") == ["Room1", "Room1"]
    assert ids("near") == ["Room1", "Room1"]
    assert ids("scoped") == ["Room1", "Room1"]
    assert ids("pattern") == ["Room2"]  # Hall:2 has no attribute: no attributeCreated
    assert ids("one") == ["Room3"]


async def test_formats_projection_system_attributes_and_changes(
        hub: Hub, receiver: Receiver) -> None:
    t = tenant()
    await subscribe(hub, t, receiver.url + "/kv", notification={
        "format": "keyValues", "attributes": ["temperature"]})
    await subscribe(hub, t, receiver.url + "/concise", notification={
        "format": "concise", "showChanges": True, "sysAttrs": True})
    await hub.entities.create(t, room(1, 20, name={"type": "LanguageProperty",
                                                    "languageMap": {"en": "Hall", "ko": "홀"}}),
                              TERMS)
    await hub.entities.update_attrs(t, "urn:ngsi-ld:Room:1", {"temperature": 22}, TERMS)
    await arrived(receiver, 2, path="/kv")
    await arrived(receiver, 2, path="/concise")
    kv = receiver.bodies("/kv")
    assert [b["data"] for b in kv] == [
        [{"id": "urn:ngsi-ld:Room:1", "type": "Room", "temperature": 20.0}],
        [{"id": "urn:ngsi-ld:Room:1", "type": "Room", "temperature": 22}]]
    updated = receiver.bodies("/concise")[1]["data"][0]
    assert updated["temperature"]["value"] == 22
    assert updated["temperature"]["previousValue"] == 20.0
    assert updated["modifiedAt"] and updated["temperature"]["modifiedAt"]
    assert updated["name"]["languageMap"] == {"en": "Hall", "ko": "홀"}


async def test_language_preference_and_ld_json(hub: Hub, receiver: Receiver) -> None:
    t = tenant()
    await subscribe(hub, t, receiver.url, lang="ko", notification={
        "format": "keyValues",
        "endpoint": {"uri": receiver.url, "accept": "application/ld+json",
                     "receiverInfo": [{"key": "X-Api-Key", "value": "secret"}]}})
    await hub.entities.create(t, room(1, name={"type": "LanguageProperty",
                                               "languageMap": {"en": "Hall", "ko": "홀"}}),
                              TERMS)
    [body] = await arrived(receiver, 1)
    assert body["data"][0]["name"] == "홀"
    assert body["@context"] == CORE_CONTEXT_URL
    headers = receiver.received[0].headers
    assert headers["content-type"] == "application/ld+json"
    assert headers["x-api-key"] == "secret"
    assert "link" not in headers


async def test_user_context_compacts_the_data(hub: Hub, receiver: Receiver) -> None:
    t = tenant()
    context = {"temp": "https://example.org/ns#temperature", "Office": "https://example.org/ns#Office"}
    terms = await hub.contexts.for_inline(context)
    await hub.subscriptions.create(t, {
        "type": "Subscription", "entities": [{"type": "Office"}], "watchedAttributes": ["temp"],
        "notification": {"endpoint": {"uri": receiver.url, "accept": "application/ld+json"},
                         "format": "keyValues"}}, terms, context)
    await hub.entities.create(t, {"id": "urn:ngsi-ld:Office:1", "type": "Office", "temp": 19},
                              terms)
    [body] = await arrived(receiver, 1)
    assert body["data"] == [{"id": "urn:ngsi-ld:Office:1", "type": "Office", "temp": 19}]
    assert body["@context"] == context
    [record], _ = await hub.store.list_subscriptions(t)
    shown = hub.subscriptions.render(record)
    assert shown["watchedAttributes"] == ["temp"] and shown["entities"] == [{"type": "Office"}]


async def test_paused_expired_and_deleted_subscriptions_stay_silent(
        hub: Hub, receiver: Receiver) -> None:
    t = tenant()
    paused = await subscribe(hub, t, receiver.url + "/paused", isActive=False)
    soon = await subscribe(hub, t, receiver.url + "/soon",
                           expiresAt=_seconds_from_now(0.4))
    gone = await subscribe(hub, t, receiver.url + "/gone")
    await hub.subscriptions.delete(t, gone)
    await asyncio.sleep(0.5)
    await hub.entities.create(t, room(1), TERMS)
    await quiet()
    assert receiver.bodies() == []
    assert hub.subscriptions.render(await hub.subscriptions.retrieve(t, soon))["status"] == (
        "expired")
    await hub.subscriptions.update(t, soon, {"subscriptionName": "still expired"}, TERMS)
    shown = hub.subscriptions.render(await hub.subscriptions.retrieve(t, soon))
    assert shown["status"] == "expired" and shown["subscriptionName"] == "still expired"
    assert not hub.registry.records_changes(t)  # nothing live: writes record nothing
    await hub.subscriptions.update(t, paused, {"isActive": True}, TERMS)
    assert hub.registry.records_changes(t)
    await hub.entities.update_attrs(t, "urn:ngsi-ld:Room:1", {"temperature": 25}, TERMS)
    [body] = await arrived(receiver, 1)
    assert body["subscriptionId"] == paused and body["data"][0]["temperature"]["value"] == 25
    await hub.subscriptions.update(t, soon, {"expiresAt": "2099-01-01T00:00:00Z"}, TERMS)
    await hub.entities.update_attrs(t, "urn:ngsi-ld:Room:1", {"temperature": 26}, TERMS)
    await arrived(receiver, 2, path="/paused")
    await arrived(receiver, 1, path="/soon")
    assert receiver.bodies("/soon")[0]["data"][0]["temperature"]["value"] == 26


def _seconds_from_now(seconds: float) -> str:
    from datetime import UTC, datetime, timedelta

    from cityhub.ngsild.entity import format_datetime

    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds))


async def test_throttling_sends_the_latest_state_once_per_period(
        hub: Hub, receiver: Receiver) -> None:
    t = tenant()
    await subscribe(hub, t, receiver.url, throttling=0.6)
    await hub.entities.create(t, room(1, 0), TERMS)
    await arrived(receiver, 1)
    for value in range(1, 6):
        await hub.entities.update_attrs(t, "urn:ngsi-ld:Room:1", {"temperature": value}, TERMS)
    await hub.entities.create(t, room(2, 7), TERMS)
    bodies = await arrived(receiver, 2)
    await quiet(0.2)
    assert len(receiver.bodies()) == 2
    times = [r.at for r in receiver.received]
    assert times[1] - times[0] >= 0.5
    assert [(e["id"][-1], e["temperature"]["value"]) for e in bodies[1]["data"]] == [
        ("1", 5), ("2", 7)]


async def test_periodic_subscription_sends_current_state_every_interval(
        hub: Hub, receiver: Receiver) -> None:
    t = tenant()
    await hub.entities.create(t, room(1, 20), TERMS)
    await hub.entities.create(t, room(2, 30), TERMS)
    await subscribe(hub, t, receiver.url, timeInterval=0.5, q="temperature>25",
                    notification={"format": "keyValues"})
    bodies = await arrived(receiver, 2, timeout=3)
    assert [b["triggerReason"] for b in bodies[:2]] == ["timeInterval"] * 2
    assert bodies[0]["data"] == [{"id": "urn:ngsi-ld:Room:2", "type": "Room",
                                  "temperature": 30.0}]
    times = [r.at for r in receiver.received]
    assert 0.3 <= times[1] - times[0] <= 1.5


async def test_failures_show_in_the_status_and_delivery_resumes_in_order(
        hub: Hub, receiver: Receiver) -> None:
    t = tenant()
    sub_id = await subscribe(hub, t, receiver.url)
    receiver.status = 500
    await hub.entities.create(t, room(1, 0), TERMS)
    for value in (1, 2, 3):
        await hub.entities.update_attrs(t, "urn:ngsi-ld:Room:1", {"temperature": value}, TERMS)
    await arrived(receiver, 3)  # the first one, tried and refused three times
    for _ in range(100):  # the third answer may still be on its way back to the hub
        shown = hub.subscriptions.render(await hub.subscriptions.retrieve(t, sub_id))
        figures = shown["notification"]
        if figures["timesFailed"] >= 3:
            break
        await asyncio.sleep(0.02)
    assert figures["timesFailed"] >= 3 and figures["status"] == "failed"
    assert figures["lastFailure"] and "lastSuccess" not in figures
    assert shown["status"] == "active"
    receiver.status = 200
    await asyncio.to_thread(receiver.wait_for, lambda got: sum(
        1 for r in got if r.status == 200) >= 4, 5.0)
    bodies = receiver.bodies(accepted=True)
    assert [b["data"][0]["temperature"]["value"] for b in bodies] == [0, 1, 2, 3]
    for _ in range(100):
        figures = hub.subscriptions.render(await hub.subscriptions.retrieve(t, sub_id))[
            "notification"]
        if figures["timesSent"] - figures["timesFailed"] == 4:
            break
        await asyncio.sleep(0.02)
    assert figures["status"] == "ok" and figures["lastSuccess"] >= figures["lastFailure"]
    assert figures["timesSent"] == figures["timesFailed"] + 4


@contextlib.contextmanager
def black_hole() -> Any:
    """A port that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/never"
    finally:
        sock.close()


async def test_a_dead_endpoint_never_slows_another_subscription(
        hub: Hub, receiver: Receiver) -> None:
    t = tenant()
    with black_hole() as dead:
        for _ in range(3):
            await subscribe(hub, t, dead)
        await subscribe(hub, t, receiver.url)
        await hub.entities.create(t, room(1, 0), TERMS)
        started = time.monotonic()
        for value in range(1, 11):
            await hub.entities.update_attrs(t, "urn:ngsi-ld:Room:1", {"temperature": value},
                                            TERMS)
        bodies = await arrived(receiver, 11)
        assert time.monotonic() - started < 0.9  # less than one attempt's timeout
        assert [b["data"][0]["temperature"]["value"] for b in bodies] == list(range(11))


async def test_pending_notifications_survive_a_restart(place: tuple[str, Any],
                                                       receiver: Receiver) -> None:
    t = tenant()
    first = open_hub(*place)
    await first.start()
    try:
        receiver.down()
        await subscribe(first, t, receiver.url)
        await first.entities.create(t, room(1, 0), TERMS)
        for value in (1, 2):
            await first.entities.update_attrs(t, "urn:ngsi-ld:Room:1", {"temperature": value},
                                              TERMS)
        await asyncio.sleep(0.3)
    finally:
        await first.stop()
    receiver.up()
    second = open_hub(*place)
    await second.start()
    try:
        bodies = await arrived(receiver, 3)
        assert [b["data"][0]["temperature"]["value"] for b in bodies] == [0, 1, 2]
    finally:
        await second.stop()


async def test_candidates_come_from_the_index(hub: Hub, receiver: Receiver) -> None:
    t = tenant()
    for number in range(100):
        for copy in range(10):
            await subscribe(hub, t, f"{receiver.url}/{copy}",
                            entities=[{"type": "Room", "id": f"urn:ngsi-ld:Room:{number}"}])
    for kind in range(20):
        await subscribe(hub, t, receiver.url, entities=[{"type": f"Other{kind}"}])
    assert len(hub.registry.all()) == 1020
    change = describe_change("urn:ngsi-ld:Room:7", now_iso(), None, {
        "id": "urn:ngsi-ld:Room:7", "type": [TERMS.expand("Room")], "attrs": {}})
    found = hub.registry.candidates(t, change)
    assert len(found) == 10
    assert all(r.sub.selectors[0].id == "urn:ngsi-ld:Room:7" for r in found)


async def test_mqtt_notifications_reach_the_broker(hub: Hub) -> None:
    import aiomqtt

    try:
        probe = aiomqtt.Client("127.0.0.1", 1883, timeout=2)
        await probe.__aenter__()
    except (aiomqtt.MqttError, OSError) as exc:
        require_service("Mosquitto at 127.0.0.1:1883", f"{type(exc).__name__}: {exc}")
    t = tenant()
    topic = f"cityhub/test/{uuid.uuid4().hex}"
    try:
        await probe.subscribe(topic, qos=1)
        await subscribe(hub, t, "", notification={
            "format": "keyValues",
            "endpoint": {"uri": f"mqtt://127.0.0.1:1883/{topic}",
                         "receiverInfo": [{"key": "X-Source", "value": "cityhub"}],
                         "notifierInfo": [{"key": "MQTT-QoS", "value": "1"}]}})
        await hub.entities.create(t, room(1, 18), TERMS)
        async with asyncio.timeout(5):
            message = await anext(aiomqtt_messages(probe))
    finally:
        await probe.__aexit__(None, None, None)
    payload = json.loads(message.payload)
    assert payload["metadata"]["Content-Type"] == "application/json"
    assert payload["metadata"]["X-Source"] == "cityhub"
    assert payload["body"]["data"] == [{"id": "urn:ngsi-ld:Room:1", "type": "Room",
                                        "temperature": 18.0}]


async def aiomqtt_messages(client: Any) -> AsyncIterator[Any]:
    async for message in client.messages:
        yield message


async def test_dispatch_stores_notifications_with_their_numbers(store: Any) -> None:
    """The Store side of dispatching: claimed records are consumed once, the notifications
    made of them come back with the numbers the store gave them, and settling deletes them."""
    from cityhub.store.base import (
        DeliveryReport,
        DeliveryStatus,
        PendingNotification,
        Put,
        SubscriptionRecord,
    )

    t = tenant()
    await store.create_subscription(SubscriptionRecord(t, "urn:s:1", {"id": "urn:s:1"}, "a", "a"))
    entity = {"id": "urn:ngsi-ld:Room:1", "type": [TERMS.expand("Room")], "attrs": {}}
    for _ in range(3):
        await store.write(t, [Put(entity, now_iso())], record_changes=True)
    seen: list[Any] = []

    def route(changes: list[Any]) -> list[PendingNotification]:
        seen.extend(changes)
        return [PendingNotification(t, "urn:s:1", f"urn:n:{c.seq}:{k}", c.at, "r", b"[]")
                for c in changes for k in range(2)]

    claimed, notes = await store.dispatch_changes(10, route)
    assert claimed == 3 and [c.previous is None for c in seen] == [True, False, False]
    assert await store.dispatch_changes(10, route) == (0, [])
    stored = await store.pending_notifications(t, "urn:s:1")
    assert [(n.nid, n.notification_id) for n in stored] == [
        (n.nid, n.notification_id) for n in notes]
    assert len({n.nid for n in notes}) == 6 and await store.pending_subscriptions() == [
        (t, "urn:s:1")]
    after = await store.pending_notifications(t, "urn:s:1", after=notes[3].nid)
    assert [n.notification_id for n in after] == [n.notification_id for n in notes[4:]]
    await store.settle_notifications(DeliveryReport(
        [n.nid for n in notes[:5]], {(t, "urn:s:1"): DeliveryStatus(5, 1, "b", "b", "a", "ok")}))
    assert [n.nid for n in await store.pending_notifications(t, "urn:s:1")] == [notes[5].nid]
    record = await store.get_subscription(t, "urn:s:1")
    assert record is not None and record.status == DeliveryStatus(5, 1, "b", "b", "a", "ok")
