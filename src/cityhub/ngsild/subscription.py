"""NGSI-LD subscriptions (ETSI GS CIM 009 v1.8, clauses 5.2.12, 5.2.14, 5.8): parsing and
validating payloads, patching, and rendering them.

Pure domain code, no I/O. `parse_subscription` validates a payload into a `Subscription`: every
member as the client gave it (`members`, what GET answers with, so names come back as they were
written under the subscription's own @context) plus the compiled forms matching needs, with
names expanded under the request's @context. The expansion of each member is recorded
(`names`), so `Subscription.from_doc` rebuilds the same subscription from storage without the
@context at hand, and a PATCH under another @context changes only the members it sets.

What a change means for a subscription, and the data its notifications carry, is
`ngsild.notification`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cityhub.ngsild.entity import (
    NGSI_LD_NULL,
    check_name,
    check_uri,
    is_uri,
    normalise_datetime,
)
from cityhub.ngsild.errors import BadRequestData, NotImplementedFeature
from cityhub.ngsild.geo import GeoQuery, parse_geoq
from cityhub.ngsild.logic import And, Or
from cityhub.ngsild.q import QNode, map_attrs, parse_q
from cityhub.ngsild.render import (
    CONCISE,
    KEY_VALUES,
    NORMALIZED,
    RenderOptions,
)
from cityhub.ngsild.scope import parse_scopeq
from cityhub.ngsild.typeexpr import TypeExpr, TypeName, map_types, parse_type_expression

ENTITY_CREATED = "entityCreated"
ENTITY_UPDATED = "entityUpdated"
ENTITY_DELETED = "entityDeleted"
ATTRIBUTE_CREATED = "attributeCreated"
ATTRIBUTE_UPDATED = "attributeUpdated"
ATTRIBUTE_DELETED = "attributeDeleted"
#: every trigger, in the order a notification's triggerReason is chosen
REASONS = (ENTITY_CREATED, ENTITY_DELETED, ATTRIBUTE_CREATED, ATTRIBUTE_UPDATED,
           ATTRIBUTE_DELETED, ENTITY_UPDATED)
DEFAULT_TRIGGERS = (ATTRIBUTE_CREATED, ATTRIBUTE_UPDATED)
PERIODIC_REASON = "timeInterval"

JSON = "application/json"
LD_JSON = "application/ld+json"
ACCEPTS = (JSON, LD_JSON)
FORMATS = (NORMALIZED, KEY_VALUES, CONCISE)
HTTP_SCHEMES = ("http", "https")
MQTT_SCHEMES = ("mqtt", "mqtts")
MQTT_VERSIONS = ("mqtt3.1.1", "mqtt5.0")

MAX_SELECTORS = 100
MAX_NAMES = 100
MAX_TEXT = 4096
MAX_INFO_PAIRS = 32
#: largest timeInterval / throttling accepted, in seconds (a year)
MAX_SECONDS = 365 * 24 * 3600.0
SUBSCRIPTION_PREFIX = "urn:ngsi-ld:Subscription:"

_MEMBERS = frozenset({
    "id", "type", "subscriptionName", "description", "entities", "watchedAttributes",
    "notificationTrigger", "timeInterval", "q", "geoQ", "scopeQ", "isActive", "notification",
    "expiresAt", "throttling", "lang", "jsonldContext",
})
_READ_ONLY = frozenset({"status", "createdAt", "modifiedAt", "@context"})
_UNSUPPORTED = frozenset({"csf", "temporalQ", "localOnly"})
_NOTIFICATION_MEMBERS = frozenset({"attributes", "format", "endpoint", "sysAttrs", "showChanges"})
_NOTIFICATION_READ_ONLY = frozenset(
    {"status", "timesSent", "timesFailed", "lastNotification", "lastSuccess", "lastFailure"})
_NOTIFICATION_UNSUPPORTED = frozenset({"join", "joinLevel"})
_ENDPOINT_MEMBERS = frozenset({"uri", "accept", "receiverInfo", "notifierInfo"})
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$")
#: headers a receiverInfo pair may not set: they frame the request or are the hub's own
_RESERVED_HEADERS = frozenset({"content-length", "transfer-encoding", "host", "connection",
                               "content-type", "link", "upgrade", "te", "trailer"})


class _Names:
    """An expander that records what it expanded: term -> IRI."""

    __slots__ = ("expand", "seen")

    def __init__(self, expand: Callable[[str], str]) -> None:
        self.expand = expand
        self.seen: dict[str, str] = {}

    def __call__(self, term: str) -> str:
        iri = self.seen.get(term)
        if iri is None:
            iri = self.seen[term] = self.expand(term)
        return iri


def _replay(names: dict[str, str], fallback: Callable[[str], str]) -> Callable[[str], str]:
    return lambda term: names.get(term) or fallback(term)


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True, slots=True)
class Selector:
    """One entity selector (clause 5.2.33): type expression (expanded), id and idPattern."""

    types: TypeExpr
    id: str | None = None
    pattern: re.Pattern[str] | None = None

    def matches(self, entity: dict) -> bool:
        if self.id is not None and entity["id"] != self.id:
            return False
        if self.pattern is not None and self.pattern.search(entity["id"]) is None:
            return False
        return _type_matches(self.types, entity["type"])


@dataclass(frozen=True, slots=True)
class Endpoint:
    uri: str
    scheme: str
    accept: str = JSON
    receiver_info: tuple[tuple[str, str], ...] = ()
    notifier_info: tuple[tuple[str, str], ...] = ()

    @property
    def is_mqtt(self) -> bool:
        return self.scheme in MQTT_SCHEMES


@dataclass(frozen=True, slots=True, eq=False)
class Subscription:
    """A validated subscription: members as given (for rendering) and compiled forms."""

    id: str
    #: the members as the client gave them (validated, times normalised), without `id`/`type`
    members: dict[str, Any]
    #: member -> {term: IRI} recorded when the member was expanded
    names: dict[str, dict[str, str]]
    #: the @context the subscription speaks (notifications are compacted with it)
    context: Any
    selectors: tuple[Selector, ...]
    watched: frozenset[str] | None
    triggers: frozenset[str]
    q: QNode | None
    geoq: GeoQuery | None
    scopeq: Any
    options: RenderOptions
    show_changes: bool
    endpoint: Endpoint
    time_interval: float | None
    throttling: float | None
    expires_at: str | None
    is_active: bool

    @property
    def notify_context(self) -> Any:
        """The @context notifications are compacted with: jsonldContext, else the one the
        subscription was created with."""
        return self.members.get("jsonldContext") or self.context

    @property
    def periodic(self) -> bool:
        return self.time_interval is not None

    def status(self, now: str) -> str:
        """active, paused (isActive false) or expired (expiresAt passed)."""
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active" if self.is_active else "paused"

    def live(self, now: str) -> bool:
        return self.is_active and (self.expires_at is None or self.expires_at > now)

    def to_doc(self) -> dict[str, Any]:
        """What the store keeps: enough to rebuild this subscription with `from_doc`."""
        return {"id": self.id, "members": self.members, "names": self.names,
                "context": self.context}

    @classmethod
    def from_doc(cls, doc: dict[str, Any], fallback: Callable[[str], str]) -> Subscription:
        """Rebuild a stored subscription; `fallback` expands a term the record lacks."""
        names = doc.get("names") or {}
        return _compile(doc["id"], doc["members"], doc.get("context"),
                        lambda member: _replay(names.get(member, {}), fallback), now=None)

    # -- indexing --------------------------------------------------------------------------
    def index_keys(self) -> list[tuple[str, str]]:
        """Keys under which a change can concern this subscription: ("id", entity id),
        ("type", type IRI) or ("attr", attribute IRI) - every change it matches has one."""
        keys: list[tuple[str, str]] = []
        for selector in self.selectors:
            if selector.id is not None:
                keys.append(("id", selector.id))
            else:
                keys.extend(("type", name) for name in required_types(selector.types))
        if not self.selectors and self.watched is not None:
            keys.extend(("attr", iri) for iri in sorted(self.watched))
        return keys


def _type_matches(node: TypeExpr, types: list[str]) -> bool:
    if isinstance(node, TypeName):
        return node.name in types
    if isinstance(node, And):
        return all(_type_matches(item, types) for item in node.items)
    return any(_type_matches(item, types) for item in node.items)


def required_types(node: TypeExpr) -> list[str]:
    """Type names of which every entity matching `node` has at least one (for indexing)."""
    if isinstance(node, TypeName):
        return [node.name]
    if isinstance(node, Or):
        return list(dict.fromkeys(name for item in node.items for name in required_types(item)))
    return min((required_types(item) for item in node.items), key=len)


# --------------------------------------------------------------------------- parsing


def parse_subscription(payload: Any, expand: Callable[[str], str], now: str, *,
                       generated_id: str, context: Any) -> Subscription:
    """Clause 5.2.12: a Subscription payload (its @context already taken out) validated and
    compiled; names expanded with `expand` (the request's @context), which `context` names."""
    if not isinstance(payload, dict):
        raise BadRequestData("a subscription must be a JSON object")
    if payload.get("type") != "Subscription":
        raise BadRequestData("a subscription's type must be 'Subscription'")
    _check_members(payload, _MEMBERS, _READ_ONLY, _UNSUPPORTED, "subscription")
    sub_id = payload.get("id", generated_id)
    check_uri(sub_id, "subscription id")
    members = {k: v for k, v in payload.items() if k in _MEMBERS and k not in ("id", "type")}
    if "notification" not in members:
        raise BadRequestData("a subscription needs a notification member")
    recorders: dict[str, _Names] = {}

    def expander(member: str) -> Callable[[str], str]:
        recorders[member] = _Names(expand)
        return recorders[member]

    sub = _compile(sub_id, members, context, expander, now=now)
    names = {member: r.seen for member, r in recorders.items() if r.seen}
    return _with_names(sub, names)


def patch_subscription(sub: Subscription, fragment: Any, expand: Callable[[str], str],
                       now: str, fallback: Callable[[str], str]) -> Subscription:
    """Clause 5.8.2 Update Subscription: the members in `fragment` replace the subscription's
    (`notification` member by member); a member set to null or urn:ngsi-ld:null is removed."""
    if not isinstance(fragment, dict) or not fragment:
        raise BadRequestData("a subscription fragment must be a non-empty JSON object")
    if "id" in fragment and fragment["id"] != sub.id:
        raise BadRequestData("a subscription's id cannot be changed")
    if "type" in fragment and fragment["type"] != "Subscription":
        raise BadRequestData("a subscription's type must be 'Subscription'")
    _check_members(fragment, _MEMBERS, _READ_ONLY, _UNSUPPORTED, "subscription")
    members = dict(sub.members)
    names = {member: dict(seen) for member, seen in sub.names.items()}
    changed: set[str] = set()
    for key, value in fragment.items():
        if key in ("id", "type") or key not in _MEMBERS:
            continue
        if value is None or value == NGSI_LD_NULL:
            if key == "notification":
                raise BadRequestData("a subscription's notification cannot be removed")
            members.pop(key, None)
            names.pop(key, None)
            continue
        if key == "notification" and isinstance(value, dict) and isinstance(
                members.get("notification"), dict):
            _check_members(value, _NOTIFICATION_MEMBERS, _NOTIFICATION_READ_ONLY,
                           _NOTIFICATION_UNSUPPORTED, "notification")
            merged = dict(members["notification"])
            for inner, item in value.items():
                if inner in _NOTIFICATION_MEMBERS:
                    if item is None or item == NGSI_LD_NULL:
                        merged.pop(inner, None)
                    else:
                        merged[inner] = item
            value = merged
        members[key] = value
        changed.add(key)
    recorders: dict[str, _Names] = {}

    def expander(member: str) -> Callable[[str], str]:
        if member in changed:
            recorders[member] = _Names(expand)
            return recorders[member]
        return _replay(names.get(member, {}), fallback)

    # an expiresAt already passed stays acceptable (the subscription shows as expired)
    patched = _compile(sub.id, members, sub.context, expander,
                       now=now if "expiresAt" in changed else None)
    for member in changed:
        names.pop(member, None)
        seen = recorders[member].seen if member in recorders else {}
        if seen:
            names[member] = seen
    return _with_names(patched, names)


def _with_names(sub: Subscription, names: dict[str, dict[str, str]]) -> Subscription:
    object.__setattr__(sub, "names", names)
    return sub


def _check_members(payload: dict, known: frozenset[str], read_only: frozenset[str],
                   unsupported: frozenset[str], what: str) -> None:
    for key in payload:
        if key in known or key in read_only:
            continue
        if key in unsupported:
            raise NotImplementedFeature(f"{what} member {key!r} is not supported by CityHub")
        shown = key[:64] if isinstance(key, str) else type(key).__name__
        raise BadRequestData(f"unknown {what} member {shown!r}")


def _compile(sub_id: str, members: dict[str, Any], context: Any,
             expander: Callable[[str], Callable[[str], str]], now: str | None) -> Subscription:
    """Validate `members` and build the Subscription; `expander(member)` gives the expand
    function of a member. With `now`, expiresAt must be after it (it is being set)."""
    members = dict(members)
    for text_member in ("subscriptionName", "description", "lang"):
        if text_member in members:
            _text(members[text_member], text_member)
    selectors = _selectors(members.get("entities"), expander("entities"))
    watched_names = _names(members.get("watchedAttributes"), "watchedAttributes")
    watch_expand = expander("watchedAttributes")
    watched = frozenset(watch_expand(n) for n in watched_names) if watched_names else None
    if not selectors and watched is None:
        raise BadRequestData("a subscription needs entities or watchedAttributes")
    triggers = _triggers(members.get("notificationTrigger"))
    time_interval = _seconds(members.get("timeInterval"), "timeInterval")
    throttling = _seconds(members.get("throttling"), "throttling")
    if time_interval is not None and watched is not None:
        raise BadRequestData("timeInterval and watchedAttributes cannot be combined")
    if time_interval is not None and throttling is not None:
        raise BadRequestData("timeInterval and throttling cannot be combined")
    if time_interval is not None and "notificationTrigger" in members:
        raise BadRequestData("a periodic subscription (timeInterval) takes no notificationTrigger")
    q = None
    if "q" in members:
        q_expand = expander("q")
        q = map_attrs(parse_q(_text(members["q"], "q")), q_expand)
    geoq = _geoq(members.get("geoQ"), expander("geoQ"))
    scopeq = parse_scopeq(_text(members["scopeQ"], "scopeQ")) if "scopeQ" in members else None
    is_active = members.get("isActive", True)
    if not isinstance(is_active, bool):
        raise BadRequestData("isActive must be true or false")
    expires_at = None
    if "expiresAt" in members:
        expires_at = normalise_datetime(members["expiresAt"], "expiresAt")
        if now is not None and expires_at <= now:
            raise BadRequestData(f"expiresAt ({expires_at}) is not in the future")
        members["expiresAt"] = expires_at
    if "jsonldContext" in members:
        check_uri(members["jsonldContext"], "jsonldContext")
    notification = members.get("notification")
    options, show_changes, endpoint = _notification(notification, expander("notification"),
                                                    members.get("lang"))
    return Subscription(
        id=sub_id, members=members, names={}, context=context, selectors=selectors,
        watched=watched, triggers=triggers, q=q, geoq=geoq, scopeq=scopeq, options=options,
        show_changes=show_changes, endpoint=endpoint, time_interval=time_interval,
        throttling=throttling, expires_at=expires_at, is_active=is_active,
    )


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
        raise BadRequestData(f"{what} must be a non-empty string of at most {MAX_TEXT} "
                             "characters")
    if "\x00" in value:
        raise BadRequestData(f"{what} contains the character U+0000")
    return value


def _names(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not value or len(value) > MAX_NAMES:
        raise BadRequestData(f"{what} must be a non-empty array of at most {MAX_NAMES} names")
    names = [check_name(name, f"attribute name in {what}") for name in value]
    if len(set(names)) != len(names):
        raise BadRequestData(f"{what} names an attribute twice")
    return names


def _selectors(value: Any, expand: Callable[[str], str]) -> tuple[Selector, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value or len(value) > MAX_SELECTORS:
        raise BadRequestData(f"entities must be a non-empty array of at most {MAX_SELECTORS} "
                             "entity selectors")
    selectors = []
    for item in value:
        if not isinstance(item, dict):
            raise BadRequestData("an entity selector must be an object")
        for key in item:
            if key not in ("id", "idPattern", "type"):
                raise BadRequestData(f"unknown entity selector member {str(key)[:64]!r}")
        if "type" not in item:
            raise BadRequestData("an entity selector of a subscription needs a type")
        type_text = item["type"]
        if not isinstance(type_text, str):
            raise BadRequestData("entity selector type must be a string")
        types = map_types(parse_type_expression(type_text), expand)
        entity_id = item.get("id")
        if entity_id is not None:
            check_uri(entity_id, "entity selector id")
        pattern = None
        if item.get("idPattern") is not None:
            pattern = _pattern(item["idPattern"])
        selectors.append(Selector(types, entity_id, pattern))
    return tuple(selectors)


def _pattern(text: Any) -> re.Pattern[str]:
    if not isinstance(text, str) or not text or len(text) > 1024:
        raise BadRequestData("idPattern must be a non-empty string of at most 1024 characters")
    try:
        return re.compile(text)
    except (re.error, ValueError, OverflowError, RecursionError):
        raise BadRequestData("idPattern is not a valid regular expression") from None


def _triggers(value: Any) -> frozenset[str]:
    if value is None:
        return frozenset(DEFAULT_TRIGGERS)
    if not isinstance(value, list) or not value:
        raise BadRequestData("notificationTrigger must be a non-empty array")
    for item in value:
        if item not in REASONS:
            shown = item[:64] if isinstance(item, str) else type(item).__name__
            raise BadRequestData(f"unknown notificationTrigger {shown!r}; expected some of "
                                 f"{', '.join(REASONS)}")
    return frozenset(value)


def _seconds(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequestData(f"{what} must be a number of seconds")
    if not 0 < value <= MAX_SECONDS:
        raise BadRequestData(f"{what} must be a positive number of seconds, at most "
                             f"{MAX_SECONDS:g}")
    return float(value)


def _geoq(value: Any, expand: Callable[[str], str]) -> GeoQuery | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequestData("geoQ must be an object")
    for key in value:
        if key not in ("georel", "geometry", "coordinates", "geoproperty"):
            raise BadRequestData(f"unknown geoQ member {str(key)[:64]!r}")
    for name in ("georel", "geometry", "geoproperty"):
        if value.get(name) is not None and not isinstance(value[name], str):
            raise BadRequestData(f"geoQ.{name} must be a string")
    georel, geometry = value.get("georel"), value.get("geometry")
    if georel is None or geometry is None or value.get("coordinates") is None:
        raise BadRequestData("geoQ needs georel, geometry and coordinates")
    found = parse_geoq(georel, geometry, value["coordinates"], value.get("geoproperty"))
    assert found is not None
    geoproperty = expand(check_name(found.geoproperty, "geoproperty"))
    return GeoQuery(georel=found.georel, geometry=found.geometry, geoproperty=geoproperty,
                    max_distance=found.max_distance, min_distance=found.min_distance)


def _notification(value: Any, expand: Callable[[str], str], lang: str | None
                  ) -> tuple[RenderOptions, bool, Endpoint]:
    if not isinstance(value, dict):
        raise BadRequestData("notification must be an object")
    _check_members(value, _NOTIFICATION_MEMBERS, _NOTIFICATION_READ_ONLY,
                   _NOTIFICATION_UNSUPPORTED, "notification")
    attributes = _names(value.get("attributes"), "notification.attributes")
    fmt = value.get("format", NORMALIZED)
    if fmt not in FORMATS:
        shown = fmt[:64] if isinstance(fmt, str) else type(fmt).__name__
        raise BadRequestData(f"notification.format {shown!r} is not one of {', '.join(FORMATS)}")
    flags = {}
    for name in ("sysAttrs", "showChanges"):
        flags[name] = value.get(name, False)
        if not isinstance(flags[name], bool):
            raise BadRequestData(f"notification.{name} must be true or false")
    endpoint = _endpoint(value.get("endpoint"))
    options = RenderOptions(
        format=fmt, sys_attrs=flags["sysAttrs"],
        pick=frozenset(expand(n) for n in attributes) if attributes else None, lang=lang,
    )
    return options, flags["showChanges"], endpoint


def _endpoint(value: Any) -> Endpoint:
    if not isinstance(value, dict):
        raise BadRequestData("notification.endpoint must be an object with a uri")
    for key in value:
        if key not in _ENDPOINT_MEMBERS:
            raise BadRequestData(f"unknown notification.endpoint member {str(key)[:64]!r}")
    uri = value.get("uri")
    if not is_uri(uri):
        raise BadRequestData("notification.endpoint.uri must be a URI")
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in HTTP_SCHEMES + MQTT_SCHEMES:
        raise BadRequestData(f"notification.endpoint.uri: the scheme {scheme[:32]!r} is not "
                             "supported (use http, https, mqtt or mqtts)")
    try:
        port = parts.port
    except ValueError:
        raise BadRequestData("notification.endpoint.uri has an invalid port") from None
    if not parts.hostname:
        raise BadRequestData("notification.endpoint.uri needs a host")
    del port
    if scheme in MQTT_SCHEMES:
        topic = parts.path.lstrip("/")
        if not topic or "+" in topic or "#" in uri or parts.query:
            raise BadRequestData("an MQTT endpoint needs a topic without wildcards: "
                                 "mqtt://host[:port]/topic")
    accept = value.get("accept", JSON)
    if accept not in ACCEPTS:
        raise BadRequestData(f"notification.endpoint.accept must be one of {', '.join(ACCEPTS)}")
    receiver = _pairs(value.get("receiverInfo"), "receiverInfo", header=scheme in HTTP_SCHEMES)
    notifier = _pairs(value.get("notifierInfo"), "notifierInfo", header=False)
    for key, item in notifier:
        if key == "MQTT-Version" and item not in MQTT_VERSIONS:
            raise BadRequestData(f"notifierInfo MQTT-Version must be one of "
                                 f"{', '.join(MQTT_VERSIONS)}")
        if key == "MQTT-QoS" and item not in ("0", "1", "2"):
            raise BadRequestData("notifierInfo MQTT-QoS must be 0, 1 or 2")
    return Endpoint(uri, scheme, accept, receiver, notifier)


def _pairs(value: Any, what: str, *, header: bool) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_INFO_PAIRS:
        raise BadRequestData(f"{what} must be an array of at most {MAX_INFO_PAIRS} key-value "
                             "pairs")
    pairs = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"key", "value"}:
            raise BadRequestData(f"each {what} item must be {{\"key\": ..., \"value\": ...}}")
        key, text = item["key"], item["value"]
        if not isinstance(key, str) or not _HEADER_NAME.match(key):
            raise BadRequestData(f"{what} key must be a header name (letters, digits, - ...)")
        if not isinstance(text, str) or len(text) > MAX_TEXT or any(
                c in text for c in "\r\n\x00"):
            raise BadRequestData(f"{what} value must be a string without line breaks")
        if header and key.lower() in _RESERVED_HEADERS:
            raise BadRequestData(f"{what} may not set the header {key!r}")
        pairs.append((key, text))
    return tuple(pairs)


# --------------------------------------------------------------------------- rendering


def render_subscription(sub: Subscription, now: str, status: dict[str, Any] | None = None, *,
                        created_at: str | None = None, modified_at: str | None = None
                        ) -> dict[str, Any]:
    """Clause 5.2.12 as GET answers: the members as given, the defaults, `status`, and the
    delivery figures (`status` argument: timesSent, timesFailed, lastNotification, ... and
    `status` ok|failed) inside `notification`."""
    out: dict[str, Any] = {"id": sub.id, "type": "Subscription"}
    out.update(sub.members)
    out["isActive"] = sub.is_active
    if not sub.periodic:
        out.setdefault("notificationTrigger", list(DEFAULT_TRIGGERS))
    notification = dict(out["notification"])
    endpoint = dict(notification["endpoint"])
    endpoint.setdefault("accept", JSON)
    notification["endpoint"] = endpoint
    notification.setdefault("format", NORMALIZED)
    for name, value in (status or {}).items():
        if value is not None:
            notification[name] = value
    out["notification"] = notification
    out["status"] = sub.status(now)
    if isinstance(sub.context, str) and "jsonldContext" not in out:
        out["jsonldContext"] = sub.context
    if created_at is not None:
        out["createdAt"] = created_at
    if modified_at is not None:
        out["modifiedAt"] = modified_at
    return out


def selector_parts(selector: Selector) -> tuple[tuple[str, ...], str | None, TypeExpr]:
    """(ids, idPattern, expanded types) of a selector, as an entity query takes them."""
    ids = (selector.id,) if selector.id is not None else ()
    return ids, selector.pattern.pattern if selector.pattern is not None else None, selector.types
