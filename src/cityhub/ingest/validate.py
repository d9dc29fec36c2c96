"""Validation of ingested records against the Smart Data Models rules (`sdm_rules`).

A record is an entity type and its attributes as plain values (what a device or a file row
says, before it becomes NGSI-LD). Each attribute the model knows is checked for its value kind,
enumeration and range; a complete record (a file row, a bulk entity: it may create the entity)
must also carry the model's required attributes. Attributes a model does not list are allowed,
as Smart Data Models allow extensions; a type with no rules gets only the generic checks (finite
numbers). The answer is the list of reasons the record fails (empty: valid).

Each record of a device stream is checked, so the rules are compiled once per entity type
(`compiled_rules`) into a predicate per attribute that answers "valid" for the common shapes
(a finite number within range, a string of the enumeration, a Point) in a few type tests. Only
a value the predicate does not pass goes through the rules one by one (`attribute_errors`),
which says why it fails, or finds it valid after all: the verdicts and reasons are those of
`record_errors_by_rules`, the rules read one by one (a test holds the two to it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
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


def _is_geometry_type(name: Any) -> bool:
    return isinstance(name, str) and name in _GEOMETRIES  # a list is no type (nor hashable)


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
    elif kind == "geo" and not (isinstance(value, dict) and _is_geometry_type(value.get("type"))
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


def record_errors_by_rules(entity_type: str, attrs: dict[str, Any], *,
                           complete: bool = False) -> list[str]:
    """`record_errors` reading the rules one by one: the reference the compiled checks give
    the same answers as."""
    rules = load_rules().get(entity_type, {})
    errors: list[str] = []
    for name, value in attrs.items():
        errors.extend(attribute_errors(name, value, rules.get(name, {})))
    if complete:
        missing = [n for n, r in rules.items() if r.get("required") and n not in attrs]
        if missing:
            errors.append(f"{entity_type} needs {', '.join(sorted(missing))}")
    return errors


# -- compiled rules -----------------------------------------------------------------------------
Predicate = Callable[[Any], bool]


def _number_check(rule: dict[str, Any]) -> Predicate:
    low, high = rule.get("min"), rule.get("max")
    integer = rule.get("kind") == "integer"
    enum = None if rule.get("enum") is None else frozenset(rule["enum"])

    def passes(value: Any) -> bool:
        kind = type(value)
        if kind is float:
            if value - value != 0.0:  # NaN or an infinity
                return False
            if integer and not value.is_integer():
                return False
        elif kind is not int:
            return False  # bool, str, ...: the rules say why
        if low is not None and value < low:
            return False
        if high is not None and value > high:
            return False
        return enum is None or str(value) in enum

    return passes


def _fast_check(rule: dict[str, Any]) -> Predicate:
    """A predicate True only for values `attribute_errors` finds valid under `rule` (False:
    ask the rules)."""
    kind = rule.get("kind")
    enum = None if rule.get("enum") is None else frozenset(rule["enum"])
    numbers = _number_check(rule)
    if kind in ("number", "integer"):
        return numbers
    if kind in ("string", "uri"):
        if enum is None:
            return lambda value: type(value) is str
        return lambda value: type(value) is str and value in enum
    if kind == "array":
        if enum is None:
            return lambda value: type(value) is list
        return lambda value: type(value) is list and all(
            type(v) is str and v in enum for v in value)
    if kind == "boolean" and enum is None:
        return lambda value: type(value) is bool
    if kind == "relationship" and enum is None:
        return lambda value: type(value) is str and ":" in value
    if kind == "object" and enum is None:
        return lambda value: type(value) is dict
    if kind == "geo" and enum is None:
        return lambda value: (type(value) is dict and _is_geometry_type(value.get("type"))
                              and type(value.get("coordinates")) is list)
    if kind is None and enum is None:  # no kind: only numbers are checked (finite, range)
        return lambda value: type(value) not in (int, float) or numbers(value)
    return lambda value: False


@dataclass(frozen=True, slots=True)
class CompiledRules:
    """One entity type's rules, compiled: attribute -> (predicate, rule)."""

    checks: dict[str, tuple[Predicate, dict[str, Any]]]
    #: the attributes a complete record must carry, sorted
    required: tuple[str, ...]
    #: the check of an attribute the model does not list
    generic: Predicate


@cache
def compiled_rules(entity_type: str) -> CompiledRules:
    rules = load_rules().get(entity_type, {})
    return CompiledRules({name: (_fast_check(rule), rule) for name, rule in rules.items()},
                         tuple(sorted(n for n, r in rules.items() if r.get("required"))),
                         _fast_check({}))


_NO_RULE: dict[str, Any] = {}


def record_errors(entity_type: str, attrs: dict[str, Any], *, complete: bool = False
                  ) -> list[str]:
    """Why a record of `entity_type` with plain attribute values `attrs` is invalid."""
    compiled = compiled_rules(entity_type)
    checks = compiled.checks
    errors: list[str] = []
    for name, value in attrs.items():
        check = checks.get(name)
        if check is None:
            if not compiled.generic(value):
                errors.extend(attribute_errors(name, value, _NO_RULE))
        elif not check[0](value):
            errors.extend(attribute_errors(name, value, check[1]))
    if complete and compiled.required:
        missing = [n for n in compiled.required if n not in attrs]
        if missing:
            errors.append(f"{entity_type} needs {', '.join(missing)}")
    return errors
