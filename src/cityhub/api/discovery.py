"""Routes of context information discovery: /types and /attributes (clauses 6.25 - 6.28)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cityhub.api.http import (
    JSON,
    LD_JSON,
    accepted,
    check_params,
    flag,
    json_response,
    request_context,
    route,
    with_context,
)


def _answer(request: Request, body: object, ctx) -> Response:  # type: ignore[no-untyped-def]
    kind = accepted(request, (JSON, LD_JSON))
    if kind == LD_JSON:
        if isinstance(body, list):
            body = [with_context(item, ctx) for item in body]
        else:
            body = with_context(body, ctx)  # type: ignore[arg-type]
    return json_response(body, ctx=ctx, kind=kind)


# -- 6.25 GET /types --------------------------------------------------------------------------
async def list_types(request: Request) -> Response:
    params = check_params(request, ("details",))
    ctx = await request_context(request)
    hub = request.app.state.hub
    await hub.entities.require_tenant(ctx.tenant)
    body = await hub.discovery.types(ctx.tenant, ctx.terms, details=flag(params, "details"))
    return _answer(request, body, ctx)


# -- 6.26 GET /types/{type} -------------------------------------------------------------------
async def type_info(request: Request) -> Response:
    check_params(request, ())
    ctx = await request_context(request)
    hub = request.app.state.hub
    await hub.entities.require_tenant(ctx.tenant)
    body = await hub.discovery.type_info(ctx.tenant, ctx.terms, request.path_params["type"])
    return _answer(request, body, ctx)


# -- 6.27 GET /attributes ---------------------------------------------------------------------
async def list_attributes(request: Request) -> Response:
    params = check_params(request, ("details",))
    ctx = await request_context(request)
    hub = request.app.state.hub
    await hub.entities.require_tenant(ctx.tenant)
    body = await hub.discovery.attributes(ctx.tenant, ctx.terms,
                                          details=flag(params, "details"))
    return _answer(request, body, ctx)


# -- 6.28 GET /attributes/{attrId} ------------------------------------------------------------
async def attribute_info(request: Request) -> Response:
    check_params(request, ())
    ctx = await request_context(request)
    hub = request.app.state.hub
    await hub.entities.require_tenant(ctx.tenant)
    body = await hub.discovery.attribute_info(ctx.tenant, ctx.terms, request.path_params["attr"])
    return _answer(request, body, ctx)


routes = [
    route("/types", get=list_types),
    route("/types/{type:path}", get=type_info),
    route("/attributes", get=list_attributes),
    route("/attributes/{attr:path}", get=attribute_info),
]
