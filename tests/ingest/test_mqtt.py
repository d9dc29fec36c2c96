"""The MQTT gateway against the real broker (Mosquitto): every bad message is counted and
reported, the gateway keeps running through a broker disconnect, and nothing valid is lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest

from cityhub.settings import Settings
from conftest import ApiClient, new_tenant, serve_hub

from .conftest import MQTT_HOST, MQTT_PORT, unique
from .proxy import TcpProxy

AQ = {"deviceId": "aq-1", "entityType": "AirQualityObserved",
      "attributes": {"pm25": {"unitCode": "GQ", "min": 0, "max": 500},
                     "t": {"name": "temperature", "unitCode": "CEL"}}}


#: the tenants the test gateway listens to (other suites publish on the same broker)
TENANTS = [new_tenant(), new_tenant()]
BAD_TENANT = unique("-bad")


@pytest.fixture(scope="module")
def gateway_hub(mqtt_url_module: str, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[tuple[str, TcpProxy]]:
    """A hub whose MQTT gateway reaches Mosquitto through a proxy the tests can cut."""
    proxy = TcpProxy(MQTT_HOST, MQTT_PORT)
    client_id = unique("cityhub-test-gateway")
    settings = Settings(db=f"sqlite:///{tmp_path_factory.mktemp('mqtt') / 'hub.db'}",
                        mqtt=f"mqtt://127.0.0.1:{proxy.port}", mqtt_client_id=client_id,
                        mqtt_tenants=(*TENANTS, BAD_TENANT))
    try:
        with serve_hub(settings) as url:
            wait_for(lambda: proxy.accepted >= 1, "the gateway to connect")
            yield url, proxy
    finally:
        proxy.close()
        asyncio.run(forget_session(client_id))


@pytest.fixture(scope="module")
def mqtt_url_module() -> str:
    from .conftest import mqtt_problem

    problem = mqtt_problem()
    if problem is not None:
        from conftest import require_service

        require_service("MQTT broker (Mosquitto)", problem)
    return f"mqtt://{MQTT_HOST}:{MQTT_PORT}"


async def forget_session(client_id: str) -> None:
    """Drop the persistent session the gateway left in the broker."""
    async with aiomqtt.Client(MQTT_HOST, MQTT_PORT, identifier=client_id, clean_session=True):
        pass


def wait_for(check: Any, what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def publish(messages: list[tuple[str, bytes]]) -> None:
    async def run() -> None:
        async with aiomqtt.Client(MQTT_HOST, MQTT_PORT) as client:
            for topic, payload in messages:
                await client.publish(topic, payload, qos=1)

    asyncio.run(run())


def mqtt_counts(url: str) -> dict[str, int]:
    for source in httpx.get(url + "/cityhub/v1/ingest/sources", timeout=10).json():
        if source["name"] == "mqtt":
            return source
    return {"received": 0, "accepted": 0, "rejected": 0, "disconnects": 0}


def client(url: str, tenant: str) -> ApiClient:
    api = ApiClient(url, tenant)
    response = api.post(url + "/cityhub/v1/devices", json=AQ)
    assert response.status_code == 201, response.text
    return api


def history(api: ApiClient) -> int:
    response = api.get("/temporal/entities/urn:ngsi-ld:AirQualityObserved:aq-1",
                       params={"attrs": "pm25", "options": "temporalValues"})
    assert response.status_code == 200, response.text
    return len(response.json()["pm25"]["values"])


def good(tenant: str, n: int, minute: int = 0) -> list[tuple[str, bytes]]:
    return [(f"cityhub/{tenant}/aq-1/attrs",
             f'{{"pm25": {i}, "t": 20, "observedAt": "2026-05-01T09:{minute:02d}:{i:02d}Z"}}'
             .encode()) for i in range(n)]


def test_bad_messages_are_counted_and_valid_ones_all_stored(
        gateway_hub: tuple[str, TcpProxy]) -> None:
    url, _ = gateway_hub
    api = client(url, TENANTS[0])
    tenant = api.tenant
    before = mqtt_counts(url)
    topic = f"cityhub/{tenant}/aq-1/attrs"
    messages = good(tenant, 20) + [
        (f"{topic}/ul", f"2026-05-01T10:00:{i:02d}Z|pm25|{i}|t|19.5".encode())
        for i in range(5)
    ] + [
        (topic, b'{"pm25": 1, "observedAt": '),                     # malformed JSON
        (f"cityhub/{tenant}/ghost/attrs", b'{"pm25": 1}'),          # unknown device
        (topic, b'{"pm25": {"value": 1, "unitCode": "KGM"}}'),      # wrong unit
        (topic, b'{"pm25": 5000}'),                                 # out of range
        (f"{topic}/xml", b"<pm25>1</pm25>"),                        # bad topic suffix
        (f"cityhub/{BAD_TENANT}/aq-1/attrs", b'{"pm25": 1}'),       # bad tenant
        ("cityhub/elsewhere/aq-1/attrs", b'{"pm25": 1}'),           # not listened to
    ]
    publish(messages)
    wait_for(lambda: mqtt_counts(url)["received"] - before["received"] >= 31,
             "every message to be counted")
    time.sleep(0.2)  # the message to a tenant the gateway does not listen to never comes
    after = mqtt_counts(url)
    assert after["received"] - before["received"] == 31
    assert after["accepted"] - before["accepted"] == 25
    assert after["rejected"] - before["rejected"] == 6
    assert history(api) == 25
    reasons = [r["reason"] for r in api.get(url + "/cityhub/v1/ingest/rejections").json()]
    assert len(reasons) == 4
    assert any("not valid JSON" in r for r in reasons)
    assert any("not provisioned" in r for r in reasons)
    assert any("unit 'KGM'" in r for r in reasons)
    assert any("above the device's range" in r for r in reasons)
    api.close()


def test_a_broker_disconnect_loses_nothing(gateway_hub: tuple[str, TcpProxy]) -> None:
    url, proxy = gateway_hub
    api = client(url, TENANTS[1])
    before = mqtt_counts(url)
    publish(good(api.tenant, 10, minute=1))
    wait_for(lambda: mqtt_counts(url)["accepted"] - before["accepted"] >= 10, "10 stored")
    proxy.cut()  # the broker "goes away" for the gateway
    wait_for(lambda: mqtt_counts(url)["disconnects"] > before["disconnects"],
             "the disconnect to be counted")
    publish(good(api.tenant, 10, minute=2))  # sent while the gateway is away
    time.sleep(0.3)
    proxy.restore()
    publish(good(api.tenant, 10, minute=3))
    wait_for(lambda: mqtt_counts(url)["accepted"] - before["accepted"] >= 30,
             "every message, from before, during and after the outage, to be stored")
    after = mqtt_counts(url)
    assert after["accepted"] - before["accepted"] == 30
    assert after["rejected"] == before["rejected"]
    assert history(api) == 30
    api.close()


def test_serve_starts_no_gateway_by_default(tmp_path: Path) -> None:
    with serve_hub(Settings(db=f"sqlite:///{tmp_path / 'hub.db'}")) as url:
        assert httpx.get(url + "/cityhub/v1/ingest/sources").json() == []
