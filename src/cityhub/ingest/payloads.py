"""MQTT topics and device payloads: JSON and UltraLight 2.0.

Topic scheme: ``cityhub/<tenant>/<deviceId>/attrs`` (tenant ``default`` is the default
tenant). The payload format is sniffed: a payload whose first non-blank byte is ``{`` is JSON,
anything else UltraLight 2.0; the suffixes ``/attrs/json`` and ``/attrs/ul`` force one.

JSON: ``{"<measurement>": value, ..., "observedAt": "<ISO 8601>"}``; a value may also be
``{"value": v, "unitCode": "GQ"}`` to state its unit (checked against the registry's).

UltraLight 2.0: ``k|v|k|v``; several measures separated by ``#``; a measure may start with an
ISO 8601 timestamp (``2026-05-01T09:00:00Z|k|v``) or carry it as ``TimeInstant|<ts>``. Numbers
become numbers; every other value stays a string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from cityhub.ngsild.entity import normalise_datetime
from cityhub.ngsild.errors import BadRequestData, NgsiLdError

TOPIC_ROOT = "cityhub"
SUBSCRIPTION = f"{TOPIC_ROOT}/+/+/attrs/#"
MAX_PAYLOAD = 64 * 1024
MAX_MEASUREMENTS = 256
_NUMBER = re.compile(r"^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,127}$")
TIME_KEYS = ("observedAt", "TimeInstant")
#: measurement names found plain (a device sends the same few names in every message)
_PLAIN_NAMES: set[str] = set()


class BadPayload(BadRequestData):
    """A payload or topic the gateway cannot read."""


@dataclass(slots=True)
class Topic:
    tenant: str
    device_id: str
    format: str | None  # "json", "ul" or None (sniff)


@dataclass(slots=True)
class Measurement:
    """One observation of a device: measurement name -> value, at one time."""

    values: dict[str, Any]
    observed_at: str | None = None
    #: measurement name -> the unitCode the device stated
    units: dict[str, str] = field(default_factory=dict)


def parse_topic(topic: str) -> Topic:
    parts = topic.split("/")
    if len(parts) not in (4, 5) or parts[0] != TOPIC_ROOT or parts[3] != "attrs":
        raise BadPayload("topic must be cityhub/<tenant>/<deviceId>/attrs[/json|/ul]")
    kind = parts[4] if len(parts) == 5 else None
    if kind not in (None, "json", "ul"):
        raise BadPayload("the topic suffix after attrs must be json or ul")
    tenant = "" if parts[1] == "default" else parts[1]
    return Topic(tenant, parts[2], kind)


def _plain_name(key: str) -> bool:
    if not _NAME.match(key):
        return False
    if len(_PLAIN_NAMES) < 10_000:
        _PLAIN_NAMES.add(key)
    return True


def _time(value: Any) -> str:
    return normalise_datetime(value, "observedAt")


def _check_count(values: dict[str, Any]) -> None:
    if not values:
        raise BadPayload("the payload holds no measurement")
    if len(values) > MAX_MEASUREMENTS:
        raise BadPayload(f"a payload may hold at most {MAX_MEASUREMENTS} measurements")


def parse_json(payload: bytes) -> list[Measurement]:
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise BadPayload("the payload is not valid JSON") from None
    items = document if isinstance(document, list) else [document]
    if not items or len(items) > MAX_MEASUREMENTS:
        raise BadPayload("a JSON payload is an object of measurements or a short list of them")
    return [measurement_of(item) for item in items]


def measurement_of(item: Any, skip: tuple[str, ...] = ()) -> Measurement:
    """The measurement of one JSON object (names in `skip` are not measurements)."""
    if not isinstance(item, dict):
        raise BadPayload("a JSON payload must be an object of measurements")
    measurement = Measurement({})
    for key, value in item.items():
        if key in skip:
            continue
        if key in TIME_KEYS:
            measurement.observed_at = _time(value)
            continue
        if key not in _PLAIN_NAMES and not _plain_name(key):
            raise BadPayload("a measurement name must be a plain name")
        if isinstance(value, dict) and "value" in value:
            unit = value.get("unitCode")
            if unit is not None:
                if not isinstance(unit, str):
                    raise BadPayload("unitCode must be a string")
                measurement.units[key] = unit
            value = value["value"]
        measurement.values[key] = value
    _check_count(measurement.values)
    return measurement


def _ul_value(text: str) -> Any:
    if _NUMBER.match(text):
        number = float(text)
        return int(number) if number.is_integer() and "." not in text and "e" not in \
            text.lower() else number
    return text


def parse_ultralight(payload: bytes) -> list[Measurement]:
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise BadPayload("an UltraLight payload must be UTF-8 text") from None
    out = []
    for group in text.split("#"):
        fields = [f.strip() for f in group.strip().split("|")]
        measurement = Measurement({})
        if len(fields) % 2 == 1 and _TIMESTAMP.match(fields[0]):
            measurement.observed_at = _time(fields[0])
            fields = fields[1:]
        if len(fields) % 2 == 1 or fields == [""]:
            raise BadPayload("an UltraLight measure is key|value pairs")
        for key, value in zip(fields[::2], fields[1::2], strict=True):
            if key in TIME_KEYS:
                measurement.observed_at = _time(value)
            elif key not in _PLAIN_NAMES and not _plain_name(key):
                raise BadPayload("an UltraLight key must be a plain name")
            else:
                measurement.values[key] = _ul_value(value)
        _check_count(measurement.values)
        out.append(measurement)
    return out


def parse_payload(payload: bytes, kind: str | None = None) -> list[Measurement]:
    """The measurements of a device payload (format forced by `kind` or sniffed)."""
    if len(payload) > MAX_PAYLOAD:
        raise BadPayload(f"the payload is larger than {MAX_PAYLOAD} bytes")
    if kind is None:
        kind = "json" if payload.lstrip()[:1] in (b"{", b"[") else "ul"
    try:
        return parse_json(payload) if kind == "json" else parse_ultralight(payload)
    except BadPayload:
        raise
    except NgsiLdError as exc:  # a bad timestamp
        raise BadPayload(exc.detail) from None
