"""Routes of the @context source: /ngsi-ld/v1/jsonldContexts (clause 6.29 - 6.30)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cityhub.api.http import (
    LD_JSON,
    check_params,
    empty_response,
    flag,
    json_response,
    read_body,
    route,
)
from cityhub.ngsild.errors import BadRequestData

KINDS = ("Hosted", "Cached", "ImplicitlyCreated")


# -- 6.29.3.1 GET /jsonldContexts -------------------------------------------------------------
async def list_contexts(request: Request) -> Response:
    params = check_params(request, ("details", "kind"))
    kind = params.get("kind")
    if kind is not None and kind not in KINDS:
        raise BadRequestData(f"kind must be one of {', '.join(KINDS)}")
    infos = request.app.state.hub.contexts.list(kind=kind)
    if flag(params, "details"):
        return json_response(infos)
    return json_response([info["url"] for info in infos])


# -- 6.29.3.2 POST /jsonldContexts ------------------------------------------------------------
async def add_context(request: Request) -> Response:
    check_params(request, ())
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    base = request.app.state.settings.public_url or str(request.base_url).rstrip("/")
    record = await request.app.state.hub.contexts.add(body, base)
    return empty_response(201, headers={"Location": record.url})


# -- 6.30.3.1 GET /jsonldContexts/{contextId} -------------------------------------------------
async def serve_context(request: Request) -> Response:
    params = check_params(request, ("details",))
    hub = request.app.state.hub
    context_id = request.path_params["context_id"]
    if flag(params, "details"):
        for info in hub.contexts.list():
            if context_id in (info["localId"], info["url"]):
                return json_response(info)
    return json_response(hub.contexts.get(context_id), kind=LD_JSON)


# -- 6.30.3.2 DELETE /jsonldContexts/{contextId} ----------------------------------------------
async def delete_context(request: Request) -> Response:
    params = check_params(request, ("reload",))
    await request.app.state.hub.contexts.delete(request.path_params["context_id"],
                                                reload=flag(params, "reload"))
    return empty_response(204)


routes = [
    route("/jsonldContexts", get=list_contexts, post=add_context),
    route("/jsonldContexts/{context_id:path}", get=serve_context, delete=delete_context),
]
