"""The entity normal form: parsing and validating NGSI-LD payloads into it.

Every entity the hub holds is in one internal form, independent of the request's @context:

    {"id": "urn:ngsi-ld:AirQualityObserved:1",
     "type": ["https://uri.fiware.org/ns/data-models#AirQualityObserved"],
     "scope": ["/Sejong/Hansol"],                                      # optional
     "attrs": {"https://uri.fiware.org/ns/data-models#pm25": [instance, ...]}}

Attribute names and entity types are expanded IRIs. An attribute holds one or more *instances*
(several only when they have distinct `datasetId`s, at most one without). An instance is

    {"type": "Property", "value": 12.5, "observedAt": "...", "unitCode": "GQ",
     "datasetId": "urn:...", "createdAt": "...", "modifiedAt": "...",
     "sub": {"<sub-attribute IRI>": instance}}                         # optional

with exactly one value member by kind: `value` (Property, GeoProperty), `object`
(Relationship, a URI), `languageMap` (LanguageProperty), `valueList` (ListProperty),
`objectList` (ListRelationship, a list of URIs), `json` (JsonProperty), `vocab` (VocabProperty).
Entity-level createdAt/modifiedAt are kept by the store, not in this form.

Input may be normalised or concise (clause 4.5); both land here. Nothing in this module does I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cityhub.ngsild.context import TermMap
from cityhub.ngsild.errors import BadRequestData
from cityhub.ngsild.geo import validate_geometry

PROPERTY = "Property"
GEO_PROPERTY = "GeoProperty"
RELATIONSHIP = "Relationship"
LANGUAGE_PROPERTY = "LanguageProperty"
LIST_PROPERTY = "ListProperty"
LIST_RELATIONSHIP = "ListRelationship"
JSON_PROPERTY = "JsonProperty"
VOCAB_PROPERTY = "VocabProperty"

#: attribute kind -> the member holding its value
VALUE_MEMBER = {
    PROPERTY: "value",
    GEO_PROPERTY: "value",
    RELATIONSHIP: "object",
    LANGUAGE_PROPERTY: "languageMap",
    LIST_PROPERTY: "valueList",
    LIST_RELATIONSHIP: "objectList",
    JSON_PROPERTY: "json",
    VOCAB_PROPERTY: "vocab",
}
#: concise form: a member present without "type" tells the kind
KIND_BY_MEMBER = {
    "object": RELATIONSHIP,
    "languageMap": LANGUAGE_PROPERTY,
    "valueList": LIST_PROPERTY,
    "objectList": LIST_RELATIONSHIP,
    "json": JSON_PROPERTY,
    "vocab": VOCAB_PROPERTY,
}
GEOMETRY_TYPES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}
)
#: members of an attribute instance that are not sub-attributes
INSTANCE_MEMBERS = frozenset(
    {
        "type", "value", "object", "languageMap", "valueList", "objectList", "json", "vocab",
        "observedAt", "unitCode", "datasetId", "createdAt", "modifiedAt", "deletedAt",
        "objectType", "lang", "@context", "previousValue", "previousObject",
    }
)
#: instance members the parser reads past (kept only as the value member of their kind)
_UNREAD_MEMBERS = INSTANCE_MEMBERS - {"observedAt", "unitCode", "datasetId", "objectType"}
SYSTEM_MEMBERS = frozenset({"createdAt", "modifiedAt", "deletedAt"})
ENTITY_MEMBERS = frozenset(
    {"id", "type", "scope", "@context", "createdAt", "modifiedAt", "deletedAt"}
)
GEO_ATTRIBUTES = ("location", "observationSpace", "operationSpace")
_GEO_ATTRIBUTE_NAMES = frozenset(GEO_ATTRIBUTES)

#: "urn:ngsi-ld:null" in a merge-patch or update deletes what it stands for (clause 4.5.x)
NGSI_LD_NULL = "urn:ngsi-ld:null"

OBSERVED_AT_IRI = "https://uri.etsi.org/ngsi-ld/observedAt"

MAX_NAME_LENGTH = 512
#: GeoProperty instances (all attributes and datasetIds together) one entity may have
MAX_GEO_INSTANCES = 64
MAX_SUB_DEPTH = 8
MAX_VALUE_DEPTH = 32
#: names one parser remembers as checked (a request holds a few hundred at most)
MAX_REMEMBERED_NAMES = 10_000
_FORBIDDEN_NAME = re.compile(r"[\s<>\"'=;()\[\]\\\x00-\x1f\x7f]")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`\x00-\x1f\x7f]+$")
#: `_URI` for ASCII text, where its class is plain ranges (every ASCII character `\s` matches
#: is below \x21): the same strings, matched without Unicode class lookups
_ASCII_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\x00-\x20<>\"{}|\\^`\x7f]+$")
_LANG_TAG = re.compile(r"^(@none|[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*)$")


def now_iso() -> str:
    """The current UTC time in the hub's timestamp form (milliseconds, Z)."""
    return format_datetime(datetime.now(UTC))


def format_datetime(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
            f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z")


def parse_datetime(text: Any, what: str) -> datetime:
    if not isinstance(text, str) or not 10 <= len(text) <= 40:
        raise BadRequestData(f"{what} must be an ISO 8601 date-time string")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequestData(f"{what} is not a valid ISO 8601 date-time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


_CANONICAL_UTC = re.compile(r"\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-5]\d(\.\d{3})?Z")


#: canonical UTC times already checked, with their millisecond form: readings of one batch
#: share a few observedAt values, and checking one costs a regex and a datetime parse
_CANONICAL_SEEN: dict[str, str] = {}
MAX_CANONICAL_SEEN = 4096


def _canonical_utc(text: Any) -> str | None:
    """`text` with milliseconds when it is already a valid UTC time written as the hub writes
    them (the common case, checked without building an error message), else None."""
    if type(text) is str:
        known = _CANONICAL_SEEN.get(text)
        if known is not None:
            return known
    if isinstance(text, str) and _CANONICAL_UTC.fullmatch(text):
        try:
            datetime.fromisoformat(text)  # still reject impossible dates such as 2026-02-30
        except ValueError:
            return None  # normalise_datetime says why
        canonical = text if len(text) == 24 else text[:-1] + ".000Z"
        if type(text) is str:
            if len(_CANONICAL_SEEN) >= MAX_CANONICAL_SEEN:
                _CANONICAL_SEEN.clear()
            _CANONICAL_SEEN[text] = canonical
        return canonical
    return None


def normalise_datetime(text: Any, what: str) -> str:
    """Validate an ISO 8601 date-time and return it in UTC with milliseconds."""
    canonical = _canonical_utc(text)
    if canonical is not None:
        return canonical
    try:
        return format_datetime(parse_datetime(text, what))
    except OverflowError:  # e.g. 0001-01-01T00:00:00+09:00 is before year 1 in UTC
        raise BadRequestData(f"{what} is out of the range of representable times") from None


def is_uri(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 2048 and (
        _ASCII_URI if value.isascii() else _URI).match(value) is not None


def check_uri(value: Any, what: str) -> str:
    if not is_uri(value):
        shown = value if isinstance(value, str) and len(value) < 200 else type(value).__name__
        raise BadRequestData(f"{what} must be a URI, got {shown!r}")
    return value


_VALID_NAMES: set[str] = set()


def check_name(name: Any, what: str = "attribute name") -> str:
    if isinstance(name, str) and name in _VALID_NAMES:  # lists and dicts are unhashable
        return name
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH:
        raise BadRequestData(f"invalid {what}: must be a non-empty string of at most "
                             f"{MAX_NAME_LENGTH} characters")
    if _FORBIDDEN_NAME.search(name):
        raise BadRequestData(f"invalid {what} {name[:100]!r}: contains a forbidden character")
    if len(_VALID_NAMES) < 100_000:
        _VALID_NAMES.add(name)
    return name


def _check_depth(value: Any, what: str, depth: int = 0) -> None:
    if depth > MAX_VALUE_DEPTH:
        raise BadRequestData(f"{what} is nested more than {MAX_VALUE_DEPTH} levels deep")
    if isinstance(value, dict):
        for item in value.values():
            _check_depth(item, what, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_depth(item, what, depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise BadRequestData(f"{what} is not a finite number")
    elif isinstance(value, str) and "\x00" in value:
        raise BadRequestData(f"{what} contains the character U+0000")


# --------------------------------------------------------------------------- parsing


class EntityParser:
    """Parses payloads under one term map and one timestamp (a request's worth).

    Most instances come in a few shapes (a Property with a scalar value, a Point GeoProperty, a
    Relationship, with observedAt / unitCode / sub-attributes). `_known_instance` parses those
    without the general path's case analysis; it is the general path specialised to them, so it
    gives the same instance and raises the same errors, and it declines (None) whatever else
    comes, which then takes the general path. `fast_paths = False` makes every payload take
    the general path (the tests compare the two on generated entities).
    """

    __slots__ = ("_iris", "allow_null", "expand", "fast_paths", "now", "partial")

    def __init__(
        self, terms: TermMap, now: str, *, allow_null: bool = False, partial: bool = False
    ) -> None:
        self.expand: Callable[[str], str] = terms.expand
        self.now = now
        #: in merge-patch / update payloads "urn:ngsi-ld:null" (or JSON null) means delete
        self.allow_null = allow_null
        #: fragments (merge-patch, partial attribute update) may omit an instance's value
        self.partial = partial
        #: whether the shapes `_known_instance` knows may skip the general path; only complete,
        #: null-free payloads (the fragments of merge-patch and update take the general path)
        self.fast_paths = True
        #: names this parser has checked, with their IRIs: a batch repeats the same few names
        #: thousands of times, and checking and expanding each costs two calls
        self._iris: dict[Any, str] = {}

    def _checked_iri(self, name: Any, what: str) -> str:
        """The IRI of an attribute or type name, after checking the name (remembered)."""
        iri = self.expand(check_name(name, what))
        if len(self._iris) < MAX_REMEMBERED_NAMES:
            self._iris[name] = iri
        return iri

    def entity(self, payload: Any, *, require_id: bool = True, require_type: bool = True) -> dict:
        if not isinstance(payload, dict):
            raise BadRequestData("an entity must be a JSON object")
        entity: dict[str, Any] = {}
        if require_id or "id" in payload:
            entity["id"] = check_uri(payload.get("id"), "entity id")
        if require_type or "type" in payload:
            entity["type"] = self.types(payload.get("type"))
        if "scope" in payload:
            from cityhub.ngsild.scope import validate_scope

            entity["scope"] = validate_scope(payload["scope"])
        attrs, geometries = self._attributes(payload)
        entity["attrs"] = attrs
        if geometries > MAX_GEO_INSTANCES:
            raise BadRequestData(
                f"an entity may have at most {MAX_GEO_INSTANCES} GeoProperty instances")
        return entity

    def types(self, value: Any) -> list[str]:
        names = value if isinstance(value, list) else [value]
        if not names or len(names) > 100:
            raise BadRequestData("entity type must be a name or a non-empty list of names")
        iris = self._iris
        out: list[str] = []
        for name in names:
            iri = iris.get(name) if type(name) is str else None
            if iri is None:
                iri = self._checked_iri(name, "entity type")
            if iri not in out:
                out.append(iri)
        return out

    def attributes(self, payload: dict) -> dict[str, list[dict]]:
        return self._attributes(payload)[0]

    def _attributes(self, payload: dict) -> tuple[dict[str, list[dict]], int]:
        """The attributes of an entity payload, and how many GeoProperty instances they hold."""
        attrs: dict[str, list[dict]] = {}
        geometries = 0
        iris = self._iris
        known = self._known_instance if self.fast_paths and not (
            self.allow_null or self.partial) else None
        for name, value in payload.items():
            if name in ENTITY_MEMBERS:
                continue
            iri = iris.get(name)
            if iri is None:
                iri = self._checked_iri(name, "attribute name")
            if type(value) is dict:  # one instance (what `attribute` would find, directly)
                inst = known(name, value, 0) if known is not None else None
                if inst is None:
                    inst = self._general_instance(name, value, 0)
                attrs[iri] = [inst]
                if inst.get("type") == GEO_PROPERTY:
                    geometries += 1
                continue
            instances = self.attribute(name, value)
            attrs[iri] = instances
            for inst in instances:
                if inst.get("type") == GEO_PROPERTY:
                    geometries += 1
        return attrs, geometries

    def attribute(self, name: str, value: Any, depth: int = 0) -> list[dict]:
        """One attribute's instances; a list of objects is a multi-attribute."""
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            if not all("datasetId" in v or "type" in v or _has_value_member(v) for v in value):
                return [self.instance(name, value, depth)]
            instances = [self.instance(name, v, depth) for v in value]
            seen: set[str | None] = set()
            for inst in instances:
                ds = inst.get("datasetId")
                if ds in seen:
                    what = f"datasetId {ds}" if ds else "default instance (no datasetId)"
                    raise BadRequestData(f"attribute {name!r} has the {what} twice")
                seen.add(ds)
            return instances
        return [self.instance(name, value, depth)]

    def instance(self, name: str, raw: Any, depth: int = 0) -> dict:
        if type(raw) is dict and self.fast_paths and not (self.allow_null or self.partial):
            inst = self._known_instance(name, raw, depth)
            if inst is not None:
                return inst
        return self._general_instance(name, raw, depth)

    def _general_instance(self, name: str, raw: Any, depth: int) -> dict:
        """Any instance, in any form the specification allows (normalized or concise)."""
        if depth > MAX_SUB_DEPTH:
            raise BadRequestData(f"sub-attributes nested more than {MAX_SUB_DEPTH} levels deep")
        if raw is None or raw == NGSI_LD_NULL:
            if self.allow_null:
                return {"type": PROPERTY, "value": NGSI_LD_NULL}
            raise BadRequestData(f"attribute {name!r} has no value (null is not a value)")
        if not isinstance(raw, dict):
            _check_depth(raw, f"value of {name!r}")
            return self._stamp({"type": PROPERTY, "value": raw})
        kind = raw.get("type")
        if kind is not None and not isinstance(kind, str):
            raise BadRequestData(f"attribute {name!r}: type must be a string, "
                                 f"not {type(kind).__name__}")
        inst: dict[str, Any] = {}
        if kind is None:
            kind = _infer_kind(raw)
            if kind is None and self.partial and raw and all(k in INSTANCE_MEMBERS for k in raw):
                pass  # a fragment that changes only metadata such as observedAt
            elif kind is None:  # concise: an object with no NGSI-LD member is itself the value
                _check_depth(raw, f"value of {name!r}")
                return self._stamp({"type": PROPERTY, "value": raw})
        elif kind in GEOMETRY_TYPES:
            kind, raw = GEO_PROPERTY, {"value": raw}
        if kind is not None:
            if kind not in VALUE_MEMBER:
                shown = kind if isinstance(kind, str) and len(kind) < 100 else type(kind).__name__
                raise BadRequestData(f"attribute {name!r} has an unknown type {shown!r}")
            inst["type"] = kind
            member = VALUE_MEMBER[kind]
            if member in raw:
                inst[member] = self._value(kind, name, raw[member])
            elif not self.partial:
                raise BadRequestData(f"{kind} {name!r} needs a {member!r} member")
        for key, item in raw.items():
            if key in INSTANCE_MEMBERS:
                if key == "observedAt":
                    inst["observedAt"] = normalise_datetime(item, f"observedAt of {name!r}")
                elif key == "unitCode":
                    if not isinstance(item, str) or not 0 < len(item) <= 64:
                        raise BadRequestData(f"unitCode of {name!r} must be a short string")
                    inst["unitCode"] = item
                elif key == "datasetId":
                    inst["datasetId"] = check_uri(item, f"datasetId of {name!r}")
                elif key == "objectType" and kind in (RELATIONSHIP, LIST_RELATIONSHIP):
                    inst["objectType"] = self.expand(check_name(item, "objectType"))
                continue
            sub_iri = self.expand(check_name(key))
            subs = inst.setdefault("sub", {})
            subs[sub_iri] = self.instance(key, item, depth + 1)
        if (
            name in GEO_ATTRIBUTES
            and kind not in (GEO_PROPERTY, None)
            and not (self.allow_null and inst.get("value") == NGSI_LD_NULL)
        ):
            raise BadRequestData(f"attribute {name!r} must be a GeoProperty")
        return self._stamp(inst)

    def _known_instance(self, name: str, raw: dict, depth: int) -> dict | None:
        """A normalized Property, GeoProperty or Relationship of a complete, null-free payload:
        `_general_instance` specialised to the kind named by "type" (same instance, same member
        order, same errors in the same order). None, before any error, for anything the
        general path must decide: another kind, a missing or null value, a value that is not
        valid, a Property or Relationship named like a geometry attribute, too deep."""
        if depth > MAX_SUB_DEPTH:
            return None
        kind = raw.get("type")
        if kind == PROPERTY:
            value = raw.get("value")
            kind_of_value = type(value)
            if kind_of_value is float:
                if not math.isfinite(value):
                    return None
            elif kind_of_value is str:
                if "\x00" in value:
                    return None
            elif kind_of_value is not int and kind_of_value is not bool:
                if value is None:
                    return None  # absent or null: the general path says which
                _check_depth(value, f"value of Property {name!r}")  # lists, objects
            if name in _GEO_ATTRIBUTE_NAMES:
                return None
            inst: dict[str, Any] = {"type": PROPERTY, "value": value}
        elif kind == GEO_PROPERTY:
            value = raw.get("value")
            if type(value) is not dict:
                return None
            position = value.get("coordinates")
            if (type(position) is list and len(position) == 2 and len(value) == 2
                    and value.get("type") == "Point"):
                lon, lat = position
                if not (type(lon) in (int, float) and type(lat) in (int, float)
                        and -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
                    return None
                value = {"type": "Point", "coordinates": [float(lon), float(lat)]}
            else:
                value = validate_geometry(value)
            inst = {"type": GEO_PROPERTY, "value": value}
        elif kind == RELATIONSHIP:
            target = raw.get("object")
            if not is_uri(target) or name in _GEO_ATTRIBUTE_NAMES:
                return None
            inst = {"type": RELATIONSHIP, "object": target}
        else:
            return None
        if len(raw) == 2:  # "type" and the value member: nothing else to read
            inst["createdAt"] = inst["modifiedAt"] = self.now
            return inst
        for key, item in raw.items():
            if key in _UNREAD_MEMBERS:  # "type", the value member, system members, ...
                continue
            if key == "observedAt":
                inst["observedAt"] = _canonical_utc(item) or normalise_datetime(
                    item, f"observedAt of {name!r}")
                continue
            if key == "unitCode":
                if not isinstance(item, str) or not 0 < len(item) <= 64:
                    raise BadRequestData(f"unitCode of {name!r} must be a short string")
                inst["unitCode"] = item
                continue
            if key == "datasetId":
                inst["datasetId"] = check_uri(item, f"datasetId of {name!r}")
                continue
            if key == "objectType":
                if kind == RELATIONSHIP:
                    inst["objectType"] = self.expand(check_name(item, "objectType"))
                continue
            sub_iri = self._iris.get(key)
            if sub_iri is None:
                sub_iri = self._checked_iri(key, "attribute name")
            subs = inst.get("sub")
            if subs is None:
                subs = inst["sub"] = {}
            subs[sub_iri] = self.instance(key, item, depth + 1)
        inst["createdAt"] = inst["modifiedAt"] = self.now
        return inst

    def _stamp(self, inst: dict) -> dict:
        inst["createdAt"] = self.now
        inst["modifiedAt"] = self.now
        return inst

    def _value(self, kind: str, name: str, value: Any) -> Any:
        what = f"{kind} {name!r}"
        if value is None:
            raise BadRequestData(f"{what} has a null value")
        if self.allow_null and value == NGSI_LD_NULL:
            return value
        if kind == PROPERTY:
            _check_depth(value, f"value of {what}")
            return value
        if kind == GEO_PROPERTY:
            return validate_geometry(value)
        if kind == RELATIONSHIP:
            if isinstance(value, list):
                raise BadRequestData(f"{what}: object must be one URI (use a ListRelationship)")
            return check_uri(value, f"object of {what}")
        if kind == LANGUAGE_PROPERTY:
            if not isinstance(value, dict) or not value:
                raise BadRequestData(f"{what}: languageMap must be a non-empty object")
            for tag, text in value.items():
                if not _LANG_TAG.match(tag):
                    raise BadRequestData(f"{what}: {tag[:40]!r} is not a language tag")
                texts = text if isinstance(text, list) else [text]
                if not texts or not all(isinstance(t, str) for t in texts):
                    raise BadRequestData(f"{what}: languageMap values must be strings")
            return value
        if kind == LIST_PROPERTY:
            if not isinstance(value, list):
                raise BadRequestData(f"{what}: valueList must be an array")
            _check_depth(value, f"valueList of {what}")
            return value
        if kind == LIST_RELATIONSHIP:
            if not isinstance(value, list):
                raise BadRequestData(f"{what}: objectList must be an array")
            uris = []
            for item in value:
                if isinstance(item, dict):
                    item = item.get("object")
                uris.append(check_uri(item, f"objectList member of {what}"))
            return uris
        if kind == JSON_PROPERTY:
            _check_depth(value, f"json of {what}")
            return value
        # VocabProperty: terms expanded like types
        names = value if isinstance(value, list) else [value]
        expanded = [self.expand(check_name(v, "vocab term")) for v in names]
        return expanded if isinstance(value, list) else expanded[0]


def _has_value_member(raw: dict) -> bool:
    return "value" in raw or any(m in raw for m in KIND_BY_MEMBER)


def _infer_kind(raw: dict) -> str | None:
    """The attribute kind a concise instance stands for, or None for a bare object value."""
    if "value" in raw:
        value = raw["value"]
        if isinstance(value, dict) and isinstance(value.get("type"), str) \
                and value["type"] in GEOMETRY_TYPES:
            return GEO_PROPERTY
        return PROPERTY
    for member, kind in KIND_BY_MEMBER.items():
        if member in raw:
            return kind
    return None


# --------------------------------------------------------------------------- q leaves


def leaf_key(attr: str, sub: tuple[str, ...] = (), compound: tuple[str, ...] = ()) -> str:
    """The index key of a q path (expanded names): `attr.sub1.sub2[comp1][comp2]`."""
    key = attr
    for name in sub:
        key += "." + name
    for name in compound:
        key += "[" + name + "]"
    return key


#: one row of the attribute index: (key, kind, number, text, attribute type). Kinds: "n" number,
#: "s" string, "b" boolean (number 1/0), "p" presence of a path with no scalar value. Every
#: present path has at least one row. The first row of each top-level attribute instance
#: carries the attribute's NGSI-LD type (for discovery); other rows carry None.
Leaf = tuple[str, str, float, str, str | None]

MAX_COMPOUND_DEPTH = 4
MAX_LEAVES_PER_VALUE = 256


def index_leaves(entity: dict) -> list[Leaf]:
    """Every (path, scalar) pair q can test, as rows for the attribute index.

    The same rows drive the SQL translation of q in both stores and the in-memory evaluation
    (`leaves_lookup`), so the two cannot disagree. Scopes are indexed under the key "@scope".
    Numbers are stored as floats; `num`/`txt` hold 0.0/"" where they do not apply.
    """
    simple = _simple_entity_leaves(entity)
    if simple is not None:
        return simple
    rows: dict[tuple[str, str, float, str], str | None] = {}
    for scope in entity.get("scope", ()):
        rows[("@scope", "s", 0.0, scope)] = None
    for iri, instances in entity["attrs"].items():
        for inst in instances:
            # the common instances inline (what `_instance_leaves` gives them): a Property with
            # a number, string or boolean, a Relationship, a GeoProperty; no sub-attributes
            kind = inst["type"]
            if kind == PROPERTY:
                value = inst["value"]
                kind_of_value = type(value)
                if kind_of_value is float or kind_of_value is int:
                    head = (iri, "n", float(value), "")
                elif kind_of_value is str:
                    head = (iri, "s", 0.0, value)
                elif kind_of_value is bool:
                    head = (iri, "b", 1.0 if value else 0.0, "")
                else:
                    head = None
            elif kind == RELATIONSHIP:
                head = (iri, "s", 0.0, inst["object"])
            elif kind == GEO_PROPERTY:
                head = (iri, "p", 0.0, "")
            else:
                head = None
            if head is None or "sub" in inst:
                head = _instance_leaves(iri, inst, rows, 0)
                if rows[head] is None:
                    rows[head] = kind
                continue
            if rows.setdefault(head, kind) is None:  # there already, without a type
                rows[head] = kind
            observed = inst.get("observedAt")
            if observed is not None:
                rows.setdefault((iri + _OBSERVED_AT_SUFFIX, "s", 0.0, observed), None)
    return [(*row, kind) for row, kind in rows.items()]


_OBSERVED_AT_SUFFIX = "." + OBSERVED_AT_IRI


def _simple_entity_leaves(entity: dict) -> list[Leaf] | None:
    """The rows of an entity whose attributes are each one common instance (a Property with a
    number, string or boolean, a Relationship, a GeoProperty; no sub-attributes): one row for
    the value and one for observedAt, built directly. Rows at distinct keys cannot repeat, so
    no row needs merging; None when two keys meet (an attribute named like another's
    observedAt path) or anything else comes, for `index_leaves` to do it in full."""
    if "scope" in entity:
        return None
    out: list[Leaf] = []
    keys: set[str] = set()
    for iri, instances in entity["attrs"].items():
        if len(instances) != 1:
            return None
        inst = instances[0]
        kind = inst["type"]
        if kind == PROPERTY:
            value = inst["value"]
            kind_of_value = type(value)
            if kind_of_value is float or kind_of_value is int:
                row: Leaf = (iri, "n", float(value), "", kind)
            elif kind_of_value is str:
                row = (iri, "s", 0.0, value, kind)
            elif kind_of_value is bool:
                row = (iri, "b", 1.0 if value else 0.0, "", kind)
            else:
                return None
        elif kind == RELATIONSHIP:
            row = (iri, "s", 0.0, inst["object"], kind)
        elif kind == GEO_PROPERTY:
            row = (iri, "p", 0.0, "", kind)
        else:
            return None
        if "sub" in inst or iri in keys:
            return None
        keys.add(iri)
        out.append(row)
        observed = inst.get("observedAt")
        if observed is not None:
            key = iri + _OBSERVED_AT_SUFFIX
            if key in keys:
                return None
            keys.add(key)
            out.append((key, "s", 0.0, observed, None))
    return out


def _instance_leaves(key: str, inst: dict, rows: dict, depth: int) -> tuple:
    """Add an instance's rows; return the first row at `key` itself (value or presence)."""
    kind = inst["type"]
    head = None
    if kind == PROPERTY:
        value = inst["value"]
        kind_of_value = type(value)
        if kind_of_value is float or kind_of_value is int:  # the common case, inline
            head = (key, "n", float(value), "")
            rows.setdefault(head, None)
        elif kind_of_value is str:
            head = (key, "s", 0.0, value)
            rows.setdefault(head, None)
        else:
            head = _value_leaves(key, value, rows, 0, [0])
    elif kind == RELATIONSHIP:
        head = (key, "s", 0.0, inst["object"])
        rows.setdefault(head, None)
    elif kind == LIST_PROPERTY:
        head = _value_leaves(key, inst["valueList"], rows, 0, [0])
    else:
        texts: list[str] = []
        if kind == LIST_RELATIONSHIP:
            texts = inst["objectList"][:MAX_LEAVES_PER_VALUE]
        elif kind == LANGUAGE_PROPERTY:
            for text in inst["languageMap"].values():
                texts.extend(text if isinstance(text, list) else [text])
        elif kind == VOCAB_PROPERTY:
            vocab = inst["vocab"]
            texts = vocab if isinstance(vocab, list) else [vocab]
        for text in texts:
            row = (key, "s", 0.0, text)
            rows.setdefault(row, None)
            head = head or row
    if head is None:
        head = (key, "p", 0.0, "")
        rows.setdefault(head, None)
    observed = inst.get("observedAt")
    if observed is not None:
        rows.setdefault((key + "." + OBSERVED_AT_IRI, "s", 0.0, observed), None)
    if depth < MAX_SUB_DEPTH:
        subs = inst.get("sub")
        if subs:
            for sub_iri, sub in subs.items():
                _instance_leaves(key + "." + sub_iri, sub, rows, depth + 1)
    return head


def _value_leaves(
    key: str, value: Any, rows: dict, depth: int, budget: list[int]
) -> tuple | None:
    """Add the scalar leaves of a value; return the first row at `key` itself, if any."""
    if budget[0] >= MAX_LEAVES_PER_VALUE:
        return None
    budget[0] += 1
    if value is True or value is False:
        row: tuple = (key, "b", 1.0 if value else 0.0, "")
    elif isinstance(value, int | float):
        if not (math.isfinite(value) and abs(value) < 1e300):
            return None
        row = (key, "n", float(value), "")
    elif isinstance(value, str):
        row = (key, "s", 0.0, value)
    elif isinstance(value, list):
        head = None
        for item in value:
            if not isinstance(item, list | dict):
                row = _value_leaves(key, item, rows, depth, budget)
                head = head or row
        return head
    else:
        if isinstance(value, dict) and depth < MAX_COMPOUND_DEPTH:
            for name, item in value.items():
                sub_key = key + "[" + name + "]"
                if _value_leaves(sub_key, item, rows, depth + 1, budget) is None:
                    rows.setdefault((sub_key, "p", 0.0, ""), None)
        return None
    rows.setdefault(row, None)
    return row


def leaves_lookup(entity: dict) -> Callable[[str], list[Any] | None]:
    """A lookup from leaf key to scalar values (None when absent), for in-memory q."""
    table: dict[str, list[Any]] = {}
    for key, kind, number, text, _ in index_leaves(entity):
        values = table.setdefault(key, [])
        if kind == "n":
            values.append(int(number) if number.is_integer() else number)
        elif kind == "b":
            values.append(bool(number))
        elif kind == "s":
            values.append(text)
    return table.get
