"""MQTT publishing like real devices, against the real Mosquitto at 127.0.0.1:1883."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest

from cityhub.city.publish import MqttSink, provisioning, run_simulation
from cityhub.city.simulator import CitySimulator
from cityhub.city.virtual import synthetic_city
from conftest import require_service

HOST, PORT = "127.0.0.1", 1883
pytestmark = pytest.mark.anyio


def _mosquitto() -> None:
    try:
        socket.create_connection((HOST, PORT), timeout=2).close()
    except OSError as exc:
        require_service("Mosquitto", f"nothing listens on {HOST}:{PORT} ({exc})")


class Listener:
    """A subscriber collecting every message on the tenant's topics."""

    def __init__(self, tenant: str) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, dict]] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = lambda c, u, msg: self.messages.append(
            (msg.topic, json.loads(msg.payload)))
        self.client.on_subscribe = lambda *args: self.subscribed.set()
        self.client.connect(HOST, PORT)
        self.client.subscribe(f"cityhub/{tenant}/+/attrs", qos=1)
        self.client.loop_start()
        assert self.subscribed.wait(5)

    def wait_for(self, count: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def test_readings_are_published_on_the_gateway_topics() -> None:
    _mosquitto()
    tenant = f"city-{uuid.uuid4().hex[:8]}"
    city = synthetic_city(2, 4)
    listener = Listener(tenant)
    sink = MqttSink(HOST, PORT, tenant)
    try:
        sim = CitySimulator(city.assets, start=datetime(2024, 3, 4, 8, tzinfo=UTC),
                            step_s=60, fault_rate=0.0)
        ticks = await run_simulation(sim, sink, speed=0, ticks=3)
        expected = 3 * len(sim.devices)
        listener.wait_for(expected)
    finally:
        sink.close()
        listener.close()
    assert ticks == 3 and sink.published == expected
    assert len(listener.messages) == expected
    devices = {d["deviceId"]: d for d in provisioning(city.assets, tenant)}
    for topic, payload in listener.messages:
        prefix, topic_tenant, device_id, suffix = topic.split("/")
        assert (prefix, topic_tenant, suffix) == ("cityhub", tenant, "attrs")
        assert set(payload) == {*devices[device_id]["attributes"], "observedAt"}
        assert payload["observedAt"].startswith("2024-03-04T08:0")


async def test_the_default_tenant_is_spelled_default() -> None:
    _mosquitto()
    city = synthetic_city(2, 2)
    listener = Listener("default")
    sink = MqttSink(HOST, PORT, "")
    try:
        sim = CitySimulator(city.assets[:60], step_s=60, fault_rate=0.0)
        await run_simulation(sim, sink, speed=0, ticks=1)
        listener.wait_for(len(sim.devices))
    finally:
        sink.close()
        listener.close()
    mine = {a.device_id for a in sim.devices}
    assert mine <= {topic.split("/")[2] for topic, _ in listener.messages}
