"""Where simulated readings go: the broker core in-process, or MQTT like real devices.

`HubSink` (the default) merges each reading into its entity with a batch upsert
(options=update: only the measured attributes change, each with `observedAt`), so history and
subscriptions see them as they see any write. `MqttSink` publishes one JSON message per reading
on `cityhub/<tenant or "default">/<deviceId>/attrs`, `{"<measurement>": value, ...,
"observedAt": "<ISO 8601>"}`, the ingest gateway's topic scheme; `provisioning` is the device
file that gateway loads to map those messages onto entities.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from cityhub.city.assets import Asset
from cityhub.city.simulator import CitySimulator, Fault, Reading
from cityhub.ngsild.context import core_term_map

if TYPE_CHECKING:
    from cityhub.broker import Hub

log = logging.getLogger("cityhub.city")
BATCH = 1000


class Sink(Protocol):
    async def emit(self, readings: list[Reading]) -> None: ...


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def reading_fragment(reading: Reading, asset: Asset) -> dict[str, Any]:
    """The NGSI-LD fragment one reading merges into its entity."""
    observed = iso(reading.observed_at)
    fragment: dict[str, Any] = {"id": reading.entity_id, "type": reading.entity_type}
    for m in asset.measurements:
        if m.key not in reading.values:
            continue
        attr: dict[str, Any] = {"type": "Property", "value": reading.values[m.key],
                                "observedAt": observed}
        if m.unit:
            attr["unitCode"] = m.unit
        fragment[m.attr] = attr
    return fragment


class HubSink:
    """Readings as batch upserts (options=update) through the broker core."""

    def __init__(self, hub: Hub, assets: list[Asset], tenant: str = "") -> None:
        self.hub = hub
        self.tenant = tenant
        self.by_id = {a.entity_id: a for a in assets}
        self.terms = core_term_map()
        self.written = 0
        self.errors = 0

    async def emit(self, readings: list[Reading]) -> None:
        fragments = [reading_fragment(r, self.by_id[r.entity_id]) for r in readings]
        for i in range(0, len(fragments), BATCH):
            result = await self.hub.batch.upsert(self.tenant, fragments[i: i + BATCH],
                                                 self.terms, replace=False)
            self.written += len(result.success)
            self.errors += len(result.errors)
            for entity_id, error in result.errors[:3]:
                log.warning("simulated reading for %s not stored: %s", entity_id, error.detail)


def topic(tenant: str, device_id: str) -> str:
    return f"cityhub/{tenant or 'default'}/{device_id}/attrs"


def mqtt_payload(reading: Reading) -> bytes:
    return orjson.dumps({**reading.values, "observedAt": iso(reading.observed_at)})


class MqttSink:
    """Readings published over MQTT (paho-mqtt), one message per device and tick."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883, tenant: str = "", *,
                 qos: int = 1, client_id: str | None = None) -> None:
        import paho.mqtt.client as mqtt

        self.tenant = tenant
        self.qos = qos
        #: readings the broker confirmed (QoS 1: PUBACK); a tick waits this long for them
        self.published = 0
        self.confirm_timeout_s = 10.0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or "", clean_session=True)
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()

    async def emit(self, readings: list[Reading]) -> None:
        infos = [self.client.publish(topic(self.tenant, r.device_id), mqtt_payload(r),
                                     qos=self.qos) for r in readings]
        deadline = asyncio.get_running_loop().time() + self.confirm_timeout_s
        for info in infos:
            while not info.is_published():
                if asyncio.get_running_loop().time() > deadline:
                    break  # the broker is away: paho keeps the rest queued and reconnects
                await asyncio.sleep(0.005)
        confirmed = sum(1 for info in infos if info.is_published())
        self.published += confirmed
        if confirmed < len(infos):
            log.warning("%d of %d simulated readings not yet confirmed by the MQTT broker",
                        len(infos) - confirmed, len(infos))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class FaultLog:
    """The ground truth of injected faults: one JSON object a line, appended as faults start
    (and logged at INFO), so a live run leaves it behind even when it is killed."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.count = 0

    def __call__(self, faults: list[Fault]) -> None:
        lines = [orjson.dumps(f.as_json()).decode() for f in faults]
        for line in lines:
            log.info("simulated fault: %s", line)
        if self.path is not None and lines:
            with open(self.path, "a", encoding="utf-8") as out:
                out.write("\n".join(lines) + "\n")
        self.count += len(lines)


def provisioning(assets: list[Asset], tenant: str = "") -> list[dict[str, Any]]:
    """The device provisioning file of the assets that measure something (JSON list)."""
    devices = []
    for asset in assets:
        if not asset.device_id:
            continue
        attributes: dict[str, Any] = {}
        for m in asset.measurements:
            spec: dict[str, Any] = {"name": m.attr}
            if m.unit:  # a status (ParkingSpot free/occupied) has no unit
                spec["unitCode"] = m.unit
            if m.low is not None:
                spec["min"] = m.low
            if m.high is not None:
                spec["max"] = m.high
            attributes[m.key] = spec
        devices.append({"deviceId": asset.device_id, "entityId": asset.entity_id,
                        "entityType": asset.type, "tenant": tenant or "default",
                        "attributes": attributes})
    return devices


async def run_simulation(
    simulator: CitySimulator, sink: Sink, *, speed: float = 1.0, ticks: int | None = None,
    stop: asyncio.Event | None = None, on_fault: Callable[[list[Fault]], None] | None = None,
) -> int:
    """Step the simulator into the sink: one tick every step_s / speed seconds of wall time
    (speed 0: as fast as the sink takes them). Stops after `ticks` or when `stop` is set;
    returns the ticks run. `on_fault` gets the faults each tick injected."""
    loop = asyncio.get_running_loop()
    done = 0
    while ticks is None or done < ticks:
        if stop is not None and stop.is_set():
            break
        began = loop.time()
        known = len(simulator.faults)
        readings = simulator.step()
        if on_fault is not None and len(simulator.faults) > known:
            on_fault(simulator.faults[known:])
        try:
            await sink.emit(readings)
        except Exception:  # a store or broker hiccup must not end a live simulation
            log.exception("simulated readings of tick %d were not delivered", simulator.tick)
        done += 1
        if speed > 0:
            wait = simulator.step_s / speed - (loop.time() - began)
            if wait > 0:
                if stop is None:
                    await asyncio.sleep(wait)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), wait)
    return done
