"""The device registry: which entity each device's measurements update, and how.

A device is provisioned with a record (the format the city simulator emits, one JSON object of
a list):

    {"deviceId": "aq-001", "entityId": "urn:ngsi-ld:AirQualityObserved:aq-001",
     "entityType": "AirQualityObserved", "tenant": "sejong",
     "attributes": {"pm25": {"name": "pm25", "unitCode": "GQ", "min": 0, "max": 1000}}}

optionally with `"personal": true` (the entity id is then a pseudonym of the device id, so
stored data does not name the device of a person), `"intervalSeconds"` (how often it reports,
for stale-sensor detection) and, per attribute, `"privacy": "pseudonymise" | "generalise"`
and `"kind": "Property" | "GeoProperty" | "Relationship"`.

Devices are kept as FIWARE `Device` entities (`urn:ngsi-ld:Device:<deviceId>`, in the
device's tenant) through the broker core, so they persist, are queryable like any entity, and
every hub process sees the same registry; each process caches what it looked up, a record for
a minute and an unknown device for 5 seconds (so a change made through another process shows
within a minute, and unknown devices stay cheap).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cityhub.broker import Hub
from cityhub.broker.entities import check_tenant
from cityhub.ingest.privacy import PRIVACY_KINDS
from cityhub.ingest.sdm_rules import load_rules
from cityhub.ngsild.context import core_term_map
from cityhub.ngsild.entity import check_uri
from cityhub.ngsild.errors import BadRequestData, NonexistentTenant, ResourceNotFound
from cityhub.ngsild.render import KEY_VALUES, RenderOptions, render_entity
from cityhub.ngsild.typeexpr import TypeName
from cityhub.store.base import EntityQuery, EntitySelector

DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
DEVICE_TYPE = "Device"
PROVISIONING = "cityhubProvisioning"
KINDS = ("Property", "GeoProperty", "Relationship")
TERMS = core_term_map()
#: seconds an "unknown device" answer is cached, and a device's record
NEGATIVE_TTL = 5.0
POSITIVE_TTL = 60.0


@dataclass(frozen=True, slots=True)
class AttributeMapping:
    """How one measurement of a device becomes an NGSI-LD attribute."""

    name: str
    kind: str = "Property"
    unit_code: str | None = None
    min: float | None = None
    max: float | None = None
    privacy: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    device_id: str
    entity_id: str
    entity_type: str
    tenant: str = ""
    attributes: dict[str, AttributeMapping] = field(default_factory=dict)
    personal: bool = False
    interval_s: float | None = None

    def document(self) -> dict[str, Any]:
        """The provisioning record (the API's and the file's format)."""
        attrs: dict[str, Any] = {}
        for measurement, m in self.attributes.items():
            item: dict[str, Any] = {"name": m.name}
            if m.kind != "Property":
                item["kind"] = m.kind
            for key, value in (("unitCode", m.unit_code), ("min", m.min), ("max", m.max),
                               ("privacy", m.privacy)):
                if value is not None:
                    item[key] = value
            attrs[measurement] = item
        out: dict[str, Any] = {"deviceId": self.device_id, "entityId": self.entity_id,
                               "entityType": self.entity_type, "tenant": self.tenant,
                               "attributes": attrs}
        if self.personal:
            out["personal"] = True
        if self.interval_s is not None:
            out["intervalSeconds"] = self.interval_s
        return out


def device_entity_id(device_id: str) -> str:
    return f"urn:ngsi-ld:Device:{device_id}"


def check_device_id(value: Any) -> str:
    if not isinstance(value, str) or not DEVICE_ID.match(value):
        raise BadRequestData("deviceId must be 1-128 letters, digits, '_', '.', ':' or '-', "
                             "starting with a letter or digit")
    return value


def _number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequestData(f"{what} must be a number")
    return value


def _mapping(measurement: str, raw: Any) -> AttributeMapping:
    if not isinstance(raw, dict):
        raise BadRequestData(f"attribute mapping of {measurement!r} must be an object")
    unknown = set(raw) - {"name", "unitCode", "min", "max", "privacy", "kind"}
    if unknown:
        raise BadRequestData(f"unknown member {sorted(unknown)[0]!r} in the mapping of "
                             f"{measurement!r}")
    name = raw.get("name", measurement)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", name):
        raise BadRequestData(f"the attribute name of {measurement!r} must be a plain name")
    kind = raw.get("kind", "GeoProperty" if name == "location" else "Property")
    if kind not in KINDS:
        raise BadRequestData(f"kind of {measurement!r} must be one of {', '.join(KINDS)}")
    unit = raw.get("unitCode")
    if unit is not None and not (isinstance(unit, str) and 1 <= len(unit) <= 16):
        raise BadRequestData(f"unitCode of {measurement!r} must be a short string")
    privacy = raw.get("privacy")
    if privacy is not None and privacy not in PRIVACY_KINDS:
        raise BadRequestData(f"privacy of {measurement!r} must be one of "
                             f"{', '.join(sorted(PRIVACY_KINDS))}")
    low = _number(raw.get("min"), f"min of {measurement!r}")
    high = _number(raw.get("max"), f"max of {measurement!r}")
    if low is not None and high is not None and low > high:
        raise BadRequestData(f"min of {measurement!r} is above its max")
    return AttributeMapping(name, kind, unit, low, high, privacy)


def parse_device(raw: Any, default_tenant: str | None = None) -> DeviceSpec:
    """A provisioning record, checked; `default_tenant` applies when it names none."""
    if not isinstance(raw, dict):
        raise BadRequestData("a device must be a JSON object")
    unknown = set(raw) - {"deviceId", "entityId", "entityType", "tenant", "attributes",
                          "personal", "intervalSeconds"}
    if unknown:
        raise BadRequestData(f"unknown member {sorted(unknown)[0]!r} in a device")
    device_id = check_device_id(raw.get("deviceId"))
    entity_type = raw.get("entityType")
    if not isinstance(entity_type, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,127}",
                                                             entity_type):
        raise BadRequestData("entityType must be a plain type name such as AirQualityObserved")
    entity_id = check_uri(raw.get("entityId", f"urn:ngsi-ld:{entity_type}:{device_id}"),
                          "entityId")
    tenant = raw.get("tenant")
    tenant = check_tenant(default_tenant if tenant is None else
                          ("" if tenant == "default" else tenant))
    attributes = raw.get("attributes", {})
    if not isinstance(attributes, dict) or len(attributes) > 256:
        raise BadRequestData("attributes must be an object of at most 256 measurements")
    mapped = {str(k): _mapping(str(k), v) for k, v in attributes.items()}
    rules = load_rules().get(entity_type, {})
    for m in mapped.values():
        rule = rules.get(m.name, {})
        if rule.get("kind") in ("number", "integer") and m.min is not None and "min" in rule \
                and m.min < rule["min"]:
            raise BadRequestData(f"min of {m.name} is below {entity_type}'s minimum")
    personal = raw.get("personal", False)
    if not isinstance(personal, bool):
        raise BadRequestData("personal must be true or false")
    interval = _number(raw.get("intervalSeconds"), "intervalSeconds")
    if interval is not None and interval <= 0:
        raise BadRequestData("intervalSeconds must be positive")
    return DeviceSpec(device_id, entity_id, entity_type, tenant, mapped, personal, interval)


def device_entity(spec: DeviceSpec) -> dict[str, Any]:
    """The FIWARE Device entity that keeps a device's provisioning."""
    entity: dict[str, Any] = {
        "id": device_entity_id(spec.device_id),
        "type": DEVICE_TYPE,
        PROVISIONING: {"type": "Property", "value": spec.document()},
    }
    rules = load_rules()[DEVICE_TYPE]
    allowed = set(rules.get("controlledProperty", {}).get("enum", ()))
    controlled = [m.name for m in spec.attributes.values() if m.name in allowed]
    if controlled:
        entity["controlledProperty"] = {"type": "Property", "value": controlled}
    if not spec.personal:
        entity["controlledAsset"] = {"type": "Relationship", "object": spec.entity_id}
    return entity


def spec_of(entity: dict[str, Any]) -> DeviceSpec | None:
    values = render_entity(entity, TERMS, RenderOptions(format=KEY_VALUES))
    document = values.get(PROVISIONING)
    try:
        return parse_device(document)
    except BadRequestData:
        return None


class DeviceRegistry:
    """Provisioned devices, kept as Device entities through the broker core."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._cache: dict[tuple[str, str], tuple[DeviceSpec | None, float]] = {}

    async def provision(self, specs: Iterable[DeviceSpec]) -> list[str]:
        """Create or replace devices; the device ids written."""
        by_tenant: dict[str, list[DeviceSpec]] = {}
        for spec in specs:
            by_tenant.setdefault(spec.tenant, []).append(spec)
        written: list[str] = []
        for tenant, group in by_tenant.items():
            for start in range(0, len(group), 1000):
                chunk = group[start:start + 1000]
                result = await self.hub.batch.upsert(
                    tenant, [device_entity(s) for s in chunk], TERMS, replace=True)
                if result.errors:
                    raise result.errors[0][1]
                for spec in chunk:
                    self._cache[(tenant, spec.device_id)] = (spec, time.monotonic())
                    written.append(spec.device_id)
        return written

    async def load_file(self, path: Path | str) -> list[str]:
        """Provision every device of a JSON provisioning file (a list of records)."""
        try:
            records = orjson.loads(Path(path).read_bytes())
        except orjson.JSONDecodeError as exc:
            raise BadRequestData(f"{path} is not valid JSON: {exc}") from None
        if not isinstance(records, list):
            raise BadRequestData(f"{path} must hold a JSON list of devices")
        return await self.provision([parse_device(r) for r in records])

    async def get(self, tenant: str, device_id: str) -> DeviceSpec | None:
        """The device, or None when it is not provisioned (cached)."""
        key = (tenant, device_id)
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached[1] < (
                NEGATIVE_TTL if cached[0] is None else POSITIVE_TTL):
            return cached[0]
        spec: DeviceSpec | None = None
        if DEVICE_ID.match(device_id):
            try:
                stored = await self.hub.entities.retrieve(tenant, device_entity_id(device_id))
            except (ResourceNotFound, NonexistentTenant):
                stored = None
            if stored is not None:
                spec = spec_of(stored.entity)
        if len(self._cache) > 200_000:
            self._cache.clear()
        self._cache[key] = (spec, time.monotonic())
        return spec

    async def remove(self, tenant: str, device_id: str) -> None:
        await self.hub.entities.delete(tenant, device_entity_id(check_device_id(device_id)))
        self._cache.pop((tenant, device_id), None)

    async def list(self, tenant: str, limit: int = 100, offset: int = 0
                   ) -> tuple[list[DeviceSpec], int]:
        query = EntityQuery(
            selectors=(EntitySelector(types=TypeName(TERMS.expand(DEVICE_TYPE))),),
            attrs=(TERMS.expand(PROVISIONING),), limit=limit, offset=offset, count=True)
        try:
            result = await self.hub.entities.query(tenant, query)
        except NonexistentTenant:
            return [], 0
        specs = [s for s in (spec_of(e.entity) for e in result.entities) if s is not None]
        return specs, result.count or 0
