"""From query parameters (GET /entities) or a Query body (POST /entityOperations/query) to an
EntityQuery with every name expanded under the request's @context (clause 5.7.2, 5.2.23)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cityhub.ngsild.context import TermMap
from cityhub.ngsild.entity import check_name, check_uri
from cityhub.ngsild.errors import BadRequestData, TooManyResults
from cityhub.ngsild.geo import GeoQuery, parse_geoq
from cityhub.ngsild.q import map_attrs, parse_q
from cityhub.ngsild.scope import parse_scopeq
from cityhub.ngsild.typeexpr import map_types, parse_type_expression
from cityhub.store.base import EntityQuery, EntitySelector

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
MAX_IDS = 1000


@dataclass(slots=True)
class QueryParams:
    """The query parameters of Query Entities, still as text (already URL-decoded)."""

    id: str | None = None
    id_pattern: str | None = None
    type: str | None = None
    attrs: str | None = None
    q: str | None = None
    georel: str | None = None
    geometry: str | None = None
    coordinates: Any = None
    geoproperty: str | None = None
    scopeq: str | None = None
    limit: str | None = None
    offset: str | None = None
    count: bool = False


def split_list(text: str | None, what: str) -> list[str]:
    """A comma-separated parameter value as a list (empty items are an error)."""
    if text is None:
        return []
    items = text.split(",")
    if any(not item.strip() for item in items):
        raise BadRequestData(f"{what} has an empty item")
    return [item.strip() for item in items]


def split_names(text: str | None, what: str) -> list[str]:
    """A comma-separated list of attribute names, each checked as a payload's would be."""
    return [check_name(name, f"attribute name in {what}") for name in split_list(text, what)]


def parse_int(text: str | None, what: str, default: int, minimum: int = 0) -> int:
    if text is None:
        return default
    if not text.isascii() or not text.lstrip("-").isdigit() or len(text) > 12:
        raise BadRequestData(f"{what} must be an integer")
    value = int(text)
    if value < minimum:
        raise BadRequestData(f"{what} must be at least {minimum}")
    return value


def page(limit: str | None, offset: str | None, count: bool) -> tuple[int, int]:
    size = parse_int(limit, "limit", DEFAULT_LIMIT)
    if size > MAX_LIMIT:
        raise TooManyResults(f"limit may be at most {MAX_LIMIT}", maxLimit=MAX_LIMIT)
    if size == 0 and not count:
        raise BadRequestData("limit=0 is only allowed with count=true")
    return size, parse_int(offset, "offset", 0)


def selector(
    terms: TermMap, ids: list[str], id_pattern: str | None, type_text: str | None
) -> EntitySelector:
    if len(ids) > MAX_IDS:
        raise BadRequestData(f"at most {MAX_IDS} ids may be given")
    for entity_id in ids:
        check_uri(entity_id, "id")
    if id_pattern is not None:
        _check_pattern(id_pattern, "idPattern")
    types = None
    if type_text is not None:
        types = map_types(parse_type_expression(type_text), terms.expand)
    return EntitySelector(tuple(ids), id_pattern, types)


def _check_pattern(pattern: str, what: str) -> None:
    """idPattern is a Python `re` pattern, like q's ~= (both stores evaluate that syntax)."""
    if len(pattern) > 1024:
        raise BadRequestData(f"{what} is too long")
    try:
        re.compile(pattern)
    except (re.error, ValueError, OverflowError, RecursionError):
        raise BadRequestData(f"{what} is not a valid regular expression") from None


def build_query(params: QueryParams, terms: TermMap, *, require_filter: bool = True
                ) -> EntityQuery:
    ids = split_list(params.id, "id")
    attrs = split_names(params.attrs, "attrs")
    geoq = _geoq(params, terms)
    q = map_attrs(parse_q(params.q), terms.expand) if params.q is not None else None
    scopeq = parse_scopeq(params.scopeq) if params.scopeq is not None else None
    if require_filter and not (ids or params.id_pattern or params.type or attrs or q or geoq
                               or scopeq):
        raise BadRequestData(
            "Query Entities needs at least one of type, id, idPattern, attrs, q, geoQ or scopeQ"
        )
    selectors: tuple[EntitySelector, ...] = ()
    if ids or params.id_pattern is not None or params.type is not None:
        selectors = (selector(terms, ids, params.id_pattern, params.type),)
    limit, offset = page(params.limit, params.offset, params.count)
    return EntityQuery(
        selectors=selectors,
        attrs=tuple(terms.expand(a) for a in attrs),
        q=q,
        geoq=geoq,
        scopeq=scopeq,
        limit=limit,
        offset=offset,
        count=params.count,
    )


def _geoq(params: QueryParams, terms: TermMap) -> GeoQuery | None:
    geoq = parse_geoq(params.georel, params.geometry, params.coordinates, params.geoproperty)
    if geoq is None:
        return None
    return GeoQuery(
        georel=geoq.georel,
        geometry=geoq.geometry,
        geoproperty=terms.expand(geoq.geoproperty),
        max_distance=geoq.max_distance,
        min_distance=geoq.min_distance,
    )


def query_from_body(body: Any, terms: TermMap, limit: str | None, offset: str | None,
                    count: bool) -> EntityQuery:
    """Clause 5.2.23 Query: the body of POST /entityOperations/query."""
    if not isinstance(body, dict):
        raise BadRequestData("a Query must be a JSON object")
    if body.get("type", "Query") != "Query":
        raise BadRequestData("a Query's type must be 'Query'")
    params = QueryParams(limit=limit, offset=offset, count=count)
    for member, attr in (("q", "q"), ("scopeQ", "scopeq")):
        value = body.get(member)
        if value is not None and not isinstance(value, str):
            raise BadRequestData(f"{member} must be a string")
        setattr(params, attr, value)
    attrs = body.get("attrs")
    if attrs is not None:
        if not isinstance(attrs, list) or not all(isinstance(a, str) for a in attrs):
            raise BadRequestData("attrs must be an array of attribute names")
        params.attrs = ",".join(attrs) if attrs else None
    geo = body.get("geoQ")
    if geo is not None:
        if not isinstance(geo, dict):
            raise BadRequestData("geoQ must be an object")
        params.georel, params.geometry = geo.get("georel"), geo.get("geometry")
        params.coordinates, params.geoproperty = geo.get("coordinates"), geo.get("geoproperty")
        for name in ("georel", "geometry", "geoproperty"):
            if geo.get(name) is not None and not isinstance(geo[name], str):
                raise BadRequestData(f"geoQ.{name} must be a string")
    entities = body.get("entities")
    query = build_query(params, terms, require_filter=entities is None)
    if entities is None:
        return query
    if not isinstance(entities, list) or not entities or len(entities) > 100:
        raise BadRequestData("entities must be an array of 1 to 100 entity selectors")
    selectors = []
    for item in entities:
        if not isinstance(item, dict):
            raise BadRequestData("an entity selector must be an object")
        entity_id, pattern, type_text = item.get("id"), item.get("idPattern"), item.get("type")
        for name, value in (("id", entity_id), ("idPattern", pattern), ("type", type_text)):
            if value is not None and not isinstance(value, str):
                raise BadRequestData(f"entity selector {name} must be a string")
        if entity_id is None and pattern is None and type_text is None:
            raise BadRequestData("an entity selector needs id, idPattern or type")
        selectors.append(selector(terms, [entity_id] if entity_id else [], pattern, type_text))
    return EntityQuery(
        selectors=tuple(selectors), attrs=query.attrs, q=query.q, geoq=query.geoq,
        scopeq=query.scopeq, limit=query.limit, offset=query.offset, count=query.count,
    )
