"""Declarative mappings (YAML) from file rows to Smart Data Model entities.

A mapping says which entity a row becomes and how each column converts:

    format: csv                      # csv | geojson | geojsonseq (default: by the extension)
    delimiter: ","                   # csv only
    encoding: utf-8
    tenant: default                  # optional; `cityhub import --tenant` overrides
    missing: ["", "-"]               # cell values that mean "no value"
    entity:
      type: AirQualityObserved
      id: "urn:ngsi-ld:AirQualityObserved:{stationCode}"   # {column} templates, URL-quoted
    observedAt: {column: dataTime, format: "%Y-%m-%d %H:%M", timezone: "+09:00"}
    location: {lon: longitude, lat: latitude}          # csv; GeoJSON uses the geometry
    attributes:
      pm25: {column: pm25Value, type: number, unitCode: GQ}
      stationName: {column: stationName}
      plate: {column: carNo, privacy: pseudonymise}    # personal: never stored in clear
      refDevice: {value: "urn:ngsi-ld:Device:x", kind: Relationship}   # a constant

Column types: string (default), number, integer, boolean, datetime (with `format` and
`timezone` as for observedAt). `dateObserved` is filled from observedAt when the model has it
and the mapping does not set it. A GeoJSON feature's columns are its `properties`.

The file is read with `yaml.safe_load` (no tags, no objects) and checked member by member: an
unknown key, a wrong type or a bad template is a BadRequestData naming it.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from cityhub.ingest.privacy import PRIVACY_KINDS
from cityhub.ingest.sdm_rules import load_rules
from cityhub.ngsild.entity import format_datetime, normalise_datetime
from cityhub.ngsild.errors import BadRequestData

MAX_MAPPING_BYTES = 256 * 1024
COLUMN_TYPES = ("string", "number", "integer", "boolean", "datetime")
KINDS = ("Property", "GeoProperty", "Relationship")
#: geojsonseq: GeoJSON Text Sequences (RFC 8142) and newline-delimited GeoJSON
FORMATS = ("csv", "geojson", "geojsonseq")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_OFFSET = re.compile(r"^([+-])(\d\d):?(\d\d)$")
TRUE = frozenset({"true", "1", "yes", "y", "t"})
FALSE = frozenset({"false", "0", "no", "n", "f"})


#: the most distinct cells a converter remembers the conversion of (then it starts afresh)
CONVERSION_CACHE = 4096


class CellError(ValueError):
    """A cell that does not convert; the message never holds a personal value."""


def cached(convert: Callable[[str], Any], size: int = CONVERSION_CACHE) -> Callable[[str], Any]:
    """`convert` remembering its last `size` results: a file's time column repeats the same
    few timestamps (every station's row of one hour), and `strptime` is the slowest part of
    a row. Only results are kept; a cell that fails raises every time."""
    memo: dict[str, Any] = {}

    def convert_cached(text: str) -> Any:
        value = memo.get(text)
        if value is None:
            value = convert(text)
            if len(memo) >= size:
                memo.clear()
            memo[text] = value
        return value

    return convert_cached


@dataclass(frozen=True, slots=True)
class TimeSpec:
    column: str
    format: str | None = None
    tz: timezone = UTC

    def convert(self, text: str) -> str:
        if self.format is None:
            try:
                return normalise_datetime(text, self.column)
            except BadRequestData:
                raise CellError(f"{self.column} {text[:40]!r} is not an ISO 8601 date-time"
                                ) from None
        try:
            moment = datetime.strptime(text, self.format)
        except ValueError:
            raise CellError(f"{self.column} {text[:40]!r} does not match {self.format!r}"
                            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.tz)
        return format_datetime(moment)


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # the attribute
    column: str | None = None
    constant: Any = None
    type: str = "string"
    kind: str = "Property"
    unit_code: str | None = None
    privacy: str | None = None
    time: TimeSpec | None = None

    def convert(self, text: str) -> Any:
        secret = self.privacy is not None
        shown = "the value" if secret else repr(text[:40])
        if self.type == "string":
            return text
        if self.type in ("number", "integer"):
            try:
                number = float(text.replace(",", "")) if self.type == "number" else int(text)
            except ValueError:
                raise CellError(f"{self.column}: {shown} is not a {self.type}") from None
            return int(number) if isinstance(number, float) and number.is_integer() \
                and self.type == "integer" else number
        if self.type == "boolean":
            lowered = text.strip().lower()
            if lowered in TRUE:
                return True
            if lowered in FALSE:
                return False
            raise CellError(f"{self.column}: {shown} is not true or false")
        assert self.time is not None
        return self.time.convert(text)

    def converter(self) -> Callable[[str], Any]:
        """`convert` specialised to the column's type: the common cells in one call, every
        failure (and its message) by `convert` itself."""
        convert = self.convert
        if self.type == "string":
            return str
        if self.type == "number":
            def number(text: str) -> Any:
                try:
                    return float(text.replace(",", ""))
                except ValueError:
                    return convert(text)  # raises the CellError
            return number
        if self.type == "integer":
            def integer(text: str) -> Any:
                try:
                    return int(text)
                except ValueError:
                    return convert(text)
            return integer
        if self.type == "datetime":
            return cached(convert)
        return convert


@dataclass(frozen=True, slots=True)
class Mapping:
    entity_type: str
    id_template: str
    id_columns: tuple[str, ...]
    columns: tuple[Column, ...]
    format: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    tenant: str | None = None
    missing: frozenset[str] = frozenset({""})
    observed_at: TimeSpec | None = None
    location: tuple[str, str] | None = None
    fill_date_observed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def entity_id(self, row: dict[str, str]) -> str:
        values = {}
        for name in self.id_columns:
            value = row.get(name)
            if value is None or value in self.missing:
                raise CellError(f"the id needs column {name}")
            values[name] = quote(value.strip(), safe="-_.~:")
        return self.id_template.format(**values)


def _check_keys(raw: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(raw) - allowed
    if unknown:
        raise BadRequestData(f"unknown key {sorted(map(str, unknown))[0]!r} in {where}")


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 512:
        raise BadRequestData(f"{what} must be a non-empty string")
    return value


def _time(raw: Any, what: str) -> TimeSpec:
    if isinstance(raw, str):
        return TimeSpec(raw)
    if not isinstance(raw, dict):
        raise BadRequestData(f"{what} must be a column name or {{column, format, timezone}}")
    _check_keys(raw, {"column", "format", "timezone"}, what)
    tz = UTC
    if "timezone" in raw:
        match = _OFFSET.match(str(raw["timezone"]))
        if not match:
            raise BadRequestData(f"timezone of {what} must be an offset such as +09:00")
        minutes = int(match.group(2)) * 60 + int(match.group(3))
        tz = timezone(timedelta(minutes=minutes if match.group(1) == "+" else -minutes))
    fmt = raw.get("format")
    return TimeSpec(_str(raw.get("column"), f"column of {what}"),
                    None if fmt is None else _str(fmt, f"format of {what}"), tz)


def _column(name: str, raw: Any) -> Column:
    if not _NAME.match(name):
        raise BadRequestData(f"attribute {name!r} must be a plain name")
    if isinstance(raw, str):
        raw = {"column": raw}
    if not isinstance(raw, dict):
        raise BadRequestData(f"attribute {name} must be a column name or a mapping")
    _check_keys(raw, {"column", "value", "type", "kind", "unitCode", "privacy", "format",
                      "timezone"}, f"attribute {name}")
    if ("column" in raw) == ("value" in raw):
        raise BadRequestData(f"attribute {name} needs exactly one of column and value")
    kind = raw.get("kind", "Property")
    column_type = raw.get("type", "string")
    if kind not in KINDS:
        raise BadRequestData(f"kind of {name} must be one of {', '.join(KINDS)}")
    if column_type not in COLUMN_TYPES:
        raise BadRequestData(f"type of {name} must be one of {', '.join(COLUMN_TYPES)}")
    privacy = raw.get("privacy")
    if privacy is not None and privacy not in PRIVACY_KINDS:
        raise BadRequestData(f"privacy of {name} must be one of {', '.join(PRIVACY_KINDS)}")
    unit = raw.get("unitCode")
    column = raw.get("column")
    time = None
    if column_type == "datetime":
        time = _time({k: raw[k] for k in ("column", "format", "timezone") if k in raw}, name)
    constant = raw.get("value")
    if constant is not None and not isinstance(constant, str | int | float | bool):
        raise BadRequestData(f"the value of {name} must be a string, number or boolean")
    return Column(name, None if column is None else _str(column, f"column of {name}"),
                  constant, column_type, kind,
                  None if unit is None else _str(unit, f"unitCode of {name}"), privacy, time)


def parse_mapping(document: Any) -> Mapping:
    if not isinstance(document, dict):
        raise BadRequestData("a mapping must be a YAML mapping (key: value)")
    _check_keys(document, {"format", "delimiter", "encoding", "tenant", "missing", "entity",
                           "observedAt", "location", "attributes"}, "the mapping")
    entity = document.get("entity")
    if not isinstance(entity, dict):
        raise BadRequestData("the mapping needs entity: {type, id}")
    _check_keys(entity, {"type", "id"}, "entity")
    entity_type = _str(entity.get("type"), "entity.type")
    if not _NAME.match(entity_type):
        raise BadRequestData("entity.type must be a plain type name")
    template = _str(entity.get("id", f"urn:ngsi-ld:{entity_type}:{{id}}"), "entity.id")
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError:
        raise BadRequestData("entity.id is not a valid {column} template") from None
    if not fields or any(not f or not re.fullmatch(r"[^{}\[\].!:]{1,128}", f) for f in fields):
        raise BadRequestData("entity.id must name at least one {column} and only columns")
    if not template.startswith("urn:") and ":" not in template.split("{")[0]:
        raise BadRequestData("entity.id must make a URI (urn:ngsi-ld:Type:{column})")
    attributes = document.get("attributes", {})
    if not isinstance(attributes, dict) or len(attributes) > 512:
        raise BadRequestData("attributes must be a mapping of at most 512 attributes")
    columns = tuple(_column(str(k), v) for k, v in attributes.items())
    missing = document.get("missing", [""])
    if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
        raise BadRequestData("missing must be a list of strings")
    location = document.get("location")
    lonlat = None
    if location is not None:
        if not isinstance(location, dict):
            raise BadRequestData("location must be {lon: COLUMN, lat: COLUMN}")
        _check_keys(location, {"lon", "lat"}, "location")
        lonlat = (_str(location.get("lon"), "location.lon"),
                  _str(location.get("lat"), "location.lat"))
    fmt = document.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise BadRequestData(f"format must be one of {', '.join(FORMATS)}")
    delimiter = document.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise BadRequestData("delimiter must be one character")
    encoding = _str(document.get("encoding", "utf-8"), "encoding")
    try:
        "".encode(encoding)
    except LookupError:
        raise BadRequestData(f"unknown encoding {encoding[:40]!r}") from None
    tenant = document.get("tenant")
    if tenant is not None:
        tenant = _str(tenant, "tenant")
    names = {c.name for c in columns}
    rules = load_rules().get(entity_type, {})
    return Mapping(
        entity_type, template, tuple(fields), columns, fmt, delimiter, encoding,
        tenant, frozenset(missing),
        None if document.get("observedAt") is None else _time(document["observedAt"],
                                                               "observedAt"),
        lonlat, "dateObserved" in rules and "dateObserved" not in names)


def load_mapping(path: Path | str) -> Mapping:
    data = Path(path).read_bytes()
    if len(data) > MAX_MAPPING_BYTES:
        raise BadRequestData(f"a mapping file may be at most {MAX_MAPPING_BYTES} bytes")
    try:
        document = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise BadRequestData(f"the mapping is not valid YAML{where}") from None
    return parse_mapping(document)
