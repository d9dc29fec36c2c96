"""Helpers of the store contract tests: entities in normal form, queries, in-memory answers.

Entities are parsed with `EntityParser` under the NGSI-LD core @context, so a short name such as
`temperature` becomes `https://uri.etsi.org/ngsi-ld/default-context/temperature`; queries are
built with the same term map, exactly as the broker does before it calls the store.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from cityhub.ngsild.context import core_term_map
from cityhub.ngsild.entity import EntityParser, leaf_key, leaves_lookup
from cityhub.ngsild.geo import GeoQuery, geo_matches, parse_geoq
from cityhub.ngsild.q import QNode, map_attrs, matches, parse_q
from cityhub.ngsild.scope import parse_scopeq
from cityhub.ngsild.typeexpr import map_types, parse_type_expression
from cityhub.store.base import EntityQuery, EntitySelector, Put, Store, WriteOutcome

NOW = "2024-05-01T09:00:00.000Z"
LATER = "2024-05-01T10:00:00.000Z"
TERMS = core_term_map()
#: Sejong, the reference point of the geo tests
LON, LAT = 127.29, 36.48


def iri(term: str) -> str:
    """The expanded IRI of a term under the core @context."""
    return TERMS.expand(term)


def urn(name: str) -> str:
    return f"urn:ngsi-ld:Test:{name}"


def entity(payload: dict[str, Any], now: str = NOW) -> dict[str, Any]:
    """An NGSI-LD payload (ids may be short: "S1" becomes urn:ngsi-ld:Test:S1) in normal form."""
    payload = dict(payload)
    if not payload["id"].startswith("urn:"):
        payload["id"] = urn(payload["id"])
    return EntityParser(TERMS, now).entity(payload)


def q(text: str) -> QNode:
    return map_attrs(parse_q(text), TERMS.expand)


def types(text: str) -> Any:
    return map_types(parse_type_expression(text), TERMS.expand)


def scope(text: str) -> Any:
    return parse_scopeq(text)


def geo(georel: str, geometry: dict[str, Any], geoproperty: str = "location") -> GeoQuery:
    coordinates = orjson.dumps(geometry["coordinates"]).decode()
    found = parse_geoq(georel, geometry["type"], coordinates, iri(geoproperty))
    assert found is not None
    return found


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def square(lon0: float, lat0: float, lon1: float, lat1: float) -> dict[str, Any]:
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    return {"type": "Polygon", "coordinates": [ring]}


def select(
    ids: Sequence[str] = (), id_pattern: str | None = None, type_text: str | None = None
) -> EntitySelector:
    return EntitySelector(
        tuple(urn(i) if not i.startswith("urn:") else i for i in ids),
        id_pattern,
        types(type_text) if type_text is not None else None,
    )


def new_tenant() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def short(entity_id: str) -> str:
    return entity_id.removeprefix("urn:ngsi-ld:Test:")


async def put_all(
    store: Store, tenant: str, payloads: Iterable[dict[str, Any]], now: str = NOW
) -> list[dict[str, Any]]:
    """Create every entity (asserting success); return them in normal form."""
    entities = [entity(p, now) for p in payloads]
    outcomes = await store.write(tenant, [Put(e, now, "create") for e in entities])
    assert [o.error for o in outcomes] == [None] * len(entities)
    return entities


async def found(store: Store, tenant: str, **query: Any) -> list[str]:
    """Short ids of the entities an EntityQuery(**query) finds, in the store's order."""
    query.setdefault("limit", 1000)
    result = await store.query(tenant, EntityQuery(**query))
    return [short(s.entity["id"]) for s in result.entities]


def errors(outcomes: Sequence[WriteOutcome]) -> list[str | None]:
    """Each outcome's error class name (None for success)."""
    return [type(o.error).__name__ if o.error is not None else None for o in outcomes]


def memory_q(entities: Iterable[dict[str, Any]], node: QNode) -> list[str]:
    """Short ids of the entities q matches in memory (`ngsild.q.matches` over the leaves)."""
    out = []
    for e in entities:
        lookup = leaves_lookup(e)
        if matches(node, lambda p, lookup=lookup: lookup(leaf_key(p.attr, p.sub, p.compound))):
            out.append(short(e["id"]))
    return out


def memory_geo(entities: Iterable[dict[str, Any]], geoq: GeoQuery) -> list[str]:
    """Short ids of the entities a geo-query matches in memory (`ngsild.geo.geo_matches`)."""
    out = []
    for e in entities:
        instances = e["attrs"].get(geoq.geoproperty, [])
        if any(inst["type"] == "GeoProperty" and geo_matches(geoq, inst["value"])
               for inst in instances):
            out.append(short(e["id"]))
    return out
