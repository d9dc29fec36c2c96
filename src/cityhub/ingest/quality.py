"""Data-quality checks of device streams: duplicates and stale sensors.

Range checks live with the device's mapping (`registry`, applied by `pipeline`). Here:
`DuplicateFilter` drops a record already seen (same entity, observation time and values: a
device or broker re-sending), and `StaleWatch` raises an `Alert` entity for a device that has
sent nothing for `intervals` of its reporting interval, and closes it (validTo) when data
resumes.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson

from cityhub.ingest.registry import DeviceSpec, device_entity_id
from cityhub.ngsild.entity import now_iso

#: Alert category (a Smart Data Models enumeration) of a stale device, by its entity type
ALERT_CATEGORY = {
    "AirQualityObserved": "environment", "NoiseLevelObserved": "environment",
    "WasteContainer": "environment", "WeatherObserved": "weather",
    "TrafficFlowObserved": "traffic", "ParkingSpot": "traffic", "OffStreetParking": "traffic",
    "EVChargingStation": "traffic", "CrowdFlowObserved": "traffic",
}
STALE_SUBCATEGORY = "staleSensor"


class DuplicateFilter:
    """Remembers the last `capacity` records' keys; `seen` is True for a repeat."""

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._keys: OrderedDict[bytes, None] = OrderedDict()

    def seen(self, entity_id: str, observed_at: str | None, values: dict[str, Any]) -> bool:
        if observed_at is None:  # no time of its own: a repeat cannot be told from news
            return False
        key = hashlib.blake2b(orjson.dumps([entity_id, observed_at, values],
                                           option=orjson.OPT_SORT_KEYS),
                              digest_size=16).digest()
        if key in self._keys:
            return True
        self._keys[key] = None
        if len(self._keys) > self.capacity:
            self._keys.popitem(last=False)
        return False


def stale_alert_id(device_id: str) -> str:
    return f"urn:ngsi-ld:Alert:stale-{device_id}"


def stale_alert(spec: DeviceSpec, silent_s: float) -> dict[str, Any]:
    now = now_iso()
    return {
        "id": stale_alert_id(spec.device_id),
        "type": "Alert",
        "category": {"type": "Property",
                     "value": ALERT_CATEGORY.get(spec.entity_type, "security")},
        "subCategory": {"type": "Property", "value": STALE_SUBCATEGORY},
        "severity": {"type": "Property", "value": "medium"},
        "description": {"type": "Property",
                        "value": f"device {spec.device_id} sent no data for {silent_s:.0f} s"},
        "alertSource": {"type": "Relationship", "object": device_entity_id(spec.device_id)},
        "dateIssued": {"type": "Property", "value": now},
        "validFrom": {"type": "Property", "value": now},
    }


@dataclass(slots=True)
class _Watched:
    spec: DeviceSpec
    last_seen: float
    alerted: bool = False


class StaleWatch:
    """Last-seen times of devices; `due` lists the alerts to raise and to close."""

    def __init__(self, default_interval_s: float = 60.0, intervals: int = 3) -> None:
        self.default_interval_s = default_interval_s
        self.intervals = intervals
        self._devices: dict[tuple[str, str], _Watched] = {}

    def seen(self, spec: DeviceSpec, at: float | None = None) -> bool:
        """Note data from a device; True when it was stale (its alert must be closed)."""
        key = (spec.tenant, spec.device_id)
        watched = self._devices.get(key)
        at = time.monotonic() if at is None else at
        if watched is None:
            self._devices[key] = _Watched(spec, at)
            return False
        was_stale = watched.alerted
        watched.spec, watched.last_seen, watched.alerted = spec, at, False
        return was_stale

    def due(self, at: float | None = None) -> list[tuple[DeviceSpec, float]]:
        """Devices that just went stale, each with how long it has been silent (seconds)."""
        at = time.monotonic() if at is None else at
        out = []
        for watched in self._devices.values():
            limit = (watched.spec.interval_s or self.default_interval_s) * self.intervals
            silent = at - watched.last_seen
            if not watched.alerted and silent > limit:
                watched.alerted = True
                out.append((watched.spec, silent))
        return out
