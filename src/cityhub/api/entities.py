"""Routes of the entity resource family: /ngsi-ld/v1/entities (clauses 6.4 - 6.7)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from cityhub.api.errors import internal_error, problem_response
from cityhub.api.http import (
    DEFAULT_CONTEXT,
    GEO_JSON,
    JSON,
    LD_JSON,
    RequestContext,
    accepted,
    body_and_context,
    check_params,
    default_json_headers,
    empty_response,
    flag,
    json_response,
    options_of,
    request_context,
    route,
    with_context,
)
from cityhub.broker.query import QueryParams, build_query, split_names
from cityhub.ngsild.entity import check_name
from cityhub.ngsild.errors import BadRequestData, NgsiLdError
from cityhub.ngsild.render import (
    CONCISE,
    DEFAULT_OPTIONS,
    KEY_VALUES,
    NORMALIZED,
    RenderOptions,
    render_entity,
    render_feature,
)
from cityhub.ngsild.update import UpdateResult
from cityhub.opendata.usage import SERVED
from cityhub.store.base import StoredEntity

if TYPE_CHECKING:
    from cityhub.api.auth import AccessState
    from cityhub.broker import Hub

FORMAT_OPTIONS = ("keyValues", "concise", "normalized", "sysAttrs")
PROJECTION = ("attrs", "pick", "omit", "lang", "options", "format", "geometryProperty")
QUERY_PARAMS = (
    "id", "idPattern", "type", "q", "georel", "geometry", "coordinates", "geoproperty", "scopeQ",
    "limit", "offset", "count",
)


def render_options(params: dict[str, str], ctx: RequestContext) -> RenderOptions:
    if not params:
        return DEFAULT_OPTIONS
    options = options_of(params, FORMAT_OPTIONS)
    fmt = NORMALIZED
    if "keyValues" in options:
        fmt = KEY_VALUES
    elif "concise" in options:
        fmt = CONCISE
    include_id = include_type = True
    pick = None
    names = split_names(params.get("pick") or params.get("attrs"), "pick")
    if names:
        include_id, include_type = "id" in names, "type" in names
        pick = frozenset(ctx.terms.expand(n) for n in names if n not in ("id", "type"))
        if "pick" not in params:  # attrs projects attributes only
            include_id = include_type = True
    omitted = split_names(params.get("omit"), "omit")
    if "id" in omitted:
        include_id = False
    if "type" in omitted:
        include_type = False
    omit = frozenset(ctx.terms.expand(n) for n in omitted if n not in ("id", "type"))
    return RenderOptions(
        format=fmt,
        sys_attrs="sysAttrs" in options,
        pick=pick,
        omit=omit,
        include_id=include_id,
        include_type=include_type,
        lang=params.get("lang"),
    )


#: `location` expanded by the core context (GeoJSON answers' default geometry)
DEFAULT_GEOMETRY = DEFAULT_CONTEXT.terms.expand("location")


def geometry_property_of(params: dict[str, str], ctx: RequestContext) -> str:
    """The expanded name of the GeoProperty a GeoJSON answer takes its geometry from."""
    return ctx.terms.expand(check_name(params.get("geometryProperty") or "location",
                                       "geometryProperty"))


def render(stored: StoredEntity, ctx: RequestContext, options: RenderOptions, kind: str,
           geometry_property: str) -> dict[str, Any]:
    if kind == GEO_JSON:
        return render_feature(stored.entity, ctx.terms, geometry_property, options,
                              stored.created_at, stored.modified_at)
    body = render_entity(stored.entity, ctx.terms, options, stored.created_at,
                         stored.modified_at)
    return with_context(body, ctx) if kind == LD_JSON else body


def entity_location(entity_id: str) -> str:
    return "/ngsi-ld/v1/entities/" + quote(entity_id, safe=":")


def update_result(result: UpdateResult, ctx: RequestContext) -> Response:
    if not result.not_updated:
        return empty_response(204, ctx)
    body = {
        "updated": [ctx.terms.compact(a) for a in result.updated],
        "notUpdated": [
            {"attributeName": ctx.terms.compact(a), "reason": reason}
            for a, reason in result.not_updated
        ],
    }
    return json_response(body, status=207, ctx=ctx)


# -- 6.4.3.1 POST /entities: Create Entity ----------------------------------------------------
async def create_entity(request: Request) -> Response:
    check_params(request, ())
    body, ctx = await body_and_context(request)
    entity_id = await request.app.state.hub.entities.create(ctx.tenant, body, ctx.terms)
    return empty_response(201, ctx, {"Location": entity_location(entity_id)})


# -- 6.4.3.2 GET /entities: Query Entities ----------------------------------------------------
async def query_entities(request: Request) -> Response:
    params = check_params(request, QUERY_PARAMS + PROJECTION)
    ctx = await request_context(request)
    kind = accepted(request, (JSON, LD_JSON, GEO_JSON))
    options = render_options(params, ctx)
    query = build_query(query_params(params), ctx.terms)
    result = await request.app.state.hub.entities.query(ctx.tenant, query)
    request.scope[SERVED] = [s.entity for s in result.entities]
    return entity_list(result.entities, result.count, ctx, options, kind, params)


def query_params(params: dict[str, str]) -> QueryParams:
    return QueryParams(
        id=params.get("id"),
        id_pattern=params.get("idPattern"),
        type=params.get("type"),
        attrs=params.get("attrs"),
        q=params.get("q"),
        georel=params.get("georel"),
        geometry=params.get("geometry"),
        coordinates=params.get("coordinates"),
        geoproperty=params.get("geoproperty"),
        scopeq=params.get("scopeQ"),
        limit=params.get("limit"),
        offset=params.get("offset"),
        count=flag(params, "count"),
    )


def entity_list(entities: list[StoredEntity], count: int | None, ctx: RequestContext,
                options: RenderOptions, kind: str, params: dict[str, str]) -> Response:
    geometry_property = geometry_property_of(params, ctx)
    items = [render(s, ctx, options, kind, geometry_property) for s in entities]
    headers = {} if count is None else {"NGSILD-Results-Count": str(count)}
    if kind == GEO_JSON:
        content: Any = {"type": "FeatureCollection", "features": items}
    else:
        content = items
    return json_response(content, ctx=ctx, kind=kind, headers=headers)


# -- DELETE /entities?type=...: purge (CityHub; clause 5.6.x "Delete Entities" of v1.9) -------
async def purge_entities(request: Request) -> Response:
    params = check_params(request, QUERY_PARAMS)
    ctx = await request_context(request)
    if not params.get("type") and not params.get("id") and not params.get("idPattern"):
        raise BadRequestData("purging entities needs type, id or idPattern")
    query = build_query(query_params(params), ctx.terms)
    deleted = await request.app.state.hub.entities.purge(ctx.tenant, query)
    return empty_response(204, ctx, {"NGSILD-Results-Count": str(deleted)})


# -- 6.5.3.1 GET /entities/{entityId}: Retrieve Entity ----------------------------------------
async def retrieve_entity(request: Request) -> Response:
    params = check_params(request, (*PROJECTION, "type"))
    ctx = await request_context(request)
    kind = accepted(request, (JSON, LD_JSON, GEO_JSON))
    options = render_options(params, ctx)
    # the geometry's name is checked before the read, as before; the common case (no
    # query string) needs neither
    geometry_property = geometry_property_of(params, ctx) if params else DEFAULT_GEOMETRY
    stored = await request.app.state.hub.entities.retrieve(
        ctx.tenant, request.path_params["entity_id"])
    request.scope[SERVED] = (stored.entity,)
    return json_response(render(stored, ctx, options, kind, geometry_property), ctx=ctx,
                         kind=kind)


#: the path prefix of GET /entities/{entityId} as the server gives it (the app is not mounted)
_ENTITY_PATH = "/ngsi-ld/v1/entities/"
#: request headers that some layer reads on this route (AccessControl: credentials, CORS,
#: tenant, body size, duplicates; request_context: tenant, Link): a request carrying any of
#: them takes the general path
_GENERAL_PATH_HEADERS = frozenset({b"link", b"ngsild-tenant", b"origin", b"x-api-key",
                                   b"authorization", b"content-length", b"transfer-encoding"})
#: Accept values that `accepted` answers with plain JSON without parsing
_PLAIN_ACCEPT = frozenset({b"*/*", JSON.encode()})


class DefaultRetrieve:
    """The outermost ASGI layer: answers the common GET /entities/{id} itself.

    The common case is the hub's hottest request: no query string, no tenant, Link, Origin,
    credential or body headers, an Accept of plain JSON (or none), and access control in open
    mode. For it, every layer of the general path is a no-op (CatchAll's send tracking, the
    access checks, Starlette's exception layers, the Mount and route list walks, the Request
    object) and took about a third of the hub's CPU (docs/benchmarks.md); this layer answers
    with the same handler steps (`retrieve_entity`), the same headers (`DefaultJsonResponse`),
    the same errors (`problem_response`, `internal_error`) and the same usage count, and sends
    everything else to the general path unchanged."""

    def __init__(self, app: ASGIApp, hub: Hub, access: AccessState) -> None:
        self.app = app
        # held here, not looked up in app.state per request: a Starlette State attribute is
        # found through a failed lookup and __getattr__ (~1-4 us each, measured)
        self.hub = hub
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (scope["type"] != "http" or scope["method"] != "GET" or scope["query_string"]
                or not path.startswith(_ENTITY_PATH) or scope.get("root_path")):
            await self.app(scope, receive, send)
            return
        entity_id = path[len(_ENTITY_PATH):]
        access = self.access
        if not entity_id or "/attrs" in entity_id or access.enforced:
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name in _GENERAL_PATH_HEADERS or (name == b"accept" and
                                                 value not in _PLAIN_ACCEPT):
                await self.app(scope, receive, send)
                return
        try:
            stored = await self.hub.entities.retrieve(DEFAULT_CONTEXT.tenant, entity_id)
            body = orjson.dumps(render_entity(stored.entity, DEFAULT_CONTEXT.terms,
                                              DEFAULT_OPTIONS, stored.created_at,
                                              stored.modified_at))
        except NgsiLdError as exc:
            await problem_response(exc)(scope, receive, send)
            return
        except Exception:
            await internal_error(scope)(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": default_json_headers(body)})
        if access.usage is not None:  # counted as the general path's metered send does
            access.usage.served(DEFAULT_CONTEXT.tenant, None, (stored.entity,))
        await send({"type": "http.response.body", "body": body})


# -- 6.5.3.2 DELETE /entities/{entityId} ------------------------------------------------------
async def delete_entity(request: Request) -> Response:
    check_params(request, ("type",))
    ctx = await request_context(request)
    await request.app.state.hub.entities.delete(ctx.tenant, request.path_params["entity_id"])
    return empty_response(204, ctx)


# -- 6.5.3.3 PUT /entities/{entityId}: Replace Entity -----------------------------------------
async def replace_entity(request: Request) -> Response:
    check_params(request, ())
    body, ctx = await body_and_context(request)
    await request.app.state.hub.entities.replace(
        ctx.tenant, request.path_params["entity_id"], body, ctx.terms)
    return empty_response(204, ctx)


# -- 6.5.3.4 PATCH /entities/{entityId}: Merge Entity -----------------------------------------
async def merge_entity(request: Request) -> Response:
    check_params(request, ())
    body, ctx = await body_and_context(request)
    await request.app.state.hub.entities.merge(
        ctx.tenant, request.path_params["entity_id"], body, ctx.terms)
    return empty_response(204, ctx)


# -- 6.6.3.1 POST /entities/{entityId}/attrs: Append Entity Attributes ------------------------
async def append_attrs(request: Request) -> Response:
    params = check_params(request, ("options",))
    options = options_of(params, ("noOverwrite",))
    body, ctx = await body_and_context(request)
    result = await request.app.state.hub.entities.append_attrs(
        ctx.tenant, request.path_params["entity_id"], body, ctx.terms,
        overwrite="noOverwrite" not in options)
    return update_result(result, ctx)


# -- 6.6.3.2 PATCH /entities/{entityId}/attrs: Update Entity Attributes -----------------------
async def update_attrs(request: Request) -> Response:
    check_params(request, ())
    body, ctx = await body_and_context(request)
    result = await request.app.state.hub.entities.update_attrs(
        ctx.tenant, request.path_params["entity_id"], body, ctx.terms)
    return update_result(result, ctx)


# -- 6.7.3.1 PATCH /entities/{entityId}/attrs/{attrId}: Partial Attribute Update --------------
async def partial_update_attr(request: Request) -> Response:
    check_params(request, ())
    body, ctx = await body_and_context(request)
    await request.app.state.hub.entities.partial_update_attr(
        ctx.tenant, request.path_params["entity_id"], request.path_params["attr"], body,
        ctx.terms)
    return empty_response(204, ctx)


# -- 6.7.3.2 DELETE /entities/{entityId}/attrs/{attrId}: Delete Entity Attribute --------------
async def delete_attr(request: Request) -> Response:
    params = check_params(request, ("datasetId", "deleteAll"))
    ctx = await request_context(request)
    await request.app.state.hub.entities.delete_attr(
        ctx.tenant, request.path_params["entity_id"], request.path_params["attr"], ctx.terms,
        params.get("datasetId"), flag(params, "deleteAll"))
    return empty_response(204, ctx)


routes = [
    route("/entities", post=create_entity, get=query_entities, delete=purge_entities),
    route("/entities/{entity_id:path}/attrs/{attr}", patch=partial_update_attr,
          delete=delete_attr),
    route("/entities/{entity_id:path}/attrs", post=append_attrs, patch=update_attrs),
    route("/entities/{entity_id:path}", get=retrieve_entity, delete=delete_entity,
          put=replace_entity, patch=merge_entity),
]
