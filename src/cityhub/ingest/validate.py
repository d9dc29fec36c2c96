"""Validation of ingested records against the Smart Data Models rules (`sdm_rules`).

A record is an entity type and its attributes as plain values (what a device or a file row
says, before it becomes NGSI-LD). Each attribute the model knows is checked for its value kind,
enumeration and range; a complete record (a file row, a bulk entity: it may create the entity)
must also carry the model's required attributes. Attributes a model does not list are allowed,
as Smart Data Models allow extensions; a type with no rules gets only the generic checks (finite
numbers). The answer is the list of reasons the record fails (empty: valid).
"""

from __future__ import annotations

import math
from typing import Any

from cityhub.ingest.sdm_rules import load_rules

_GEOMETRIES = frozenset({"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                         "MultiPolygon"})


def known_types() -> list[str]:
    return sorted(load_rules())


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind_error(kind: str | None, value: Any) -> str | None:
    if kind in ("number", "integer"):
        if not _is_number(value):
            return "must be a number"
        if kind == "integer" and not float(value).is_integer():
            return "must be an integer"
    elif kind in ("string", "uri") and not isinstance(value, str):
        return "must be a string"
    elif kind == "boolean" and not isinstance(value, bool):
        return "must be true or false"
    elif kind == "array" and not isinstance(value, list):
        return "must be a list"
    elif kind == "object" and not isinstance(value, dict):
        return "must be an object"
    elif kind == "relationship" and not (isinstance(value, str) and ":" in value):
        return "must be the URI of an entity"
    elif kind == "geo" and not (isinstance(value, dict) and value.get("type") in _GEOMETRIES
                                and isinstance(value.get("coordinates"), list)):
        return "must be a GeoJSON geometry"
    return None


def attribute_errors(name: str, value: Any, rule: dict[str, Any]) -> list[str]:
    if _is_number(value) and not math.isfinite(value):
        return [f"{name} must be a finite number"]
    problem = _kind_error(rule.get("kind"), value)
    if problem is not None:
        return [f"{name} {problem}, not {_short(value)}"]
    errors = []
    enum = rule.get("enum")
    if enum is not None:
        values = value if isinstance(value, list) else [value]
        bad = [v for v in values if str(v) not in enum]
        if bad:
            errors.append(f"{name}={_short(bad[0])} is not one of the model's values")
    if _is_number(value):
        if "min" in rule and value < rule["min"]:
            errors.append(f"{name}={_short(value)} is below the model's minimum {rule['min']}")
        if "max" in rule and value > rule["max"]:
            errors.append(f"{name}={_short(value)} is above the model's maximum {rule['max']}")
    return errors


def record_errors(entity_type: str, attrs: dict[str, Any], *, complete: bool = False
                  ) -> list[str]:
    """Why a record of `entity_type` with plain attribute values `attrs` is invalid."""
    rules = load_rules().get(entity_type, {})
    errors: list[str] = []
    for name, value in attrs.items():
        errors.extend(attribute_errors(name, value, rules.get(name, {})))
    if complete:
        missing = [n for n, r in rules.items() if r.get("required") and n not in attrs]
        if missing:
            errors.append(f"{entity_type} needs {', '.join(sorted(missing))}")
    return errors
