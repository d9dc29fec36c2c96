"""Routes of the batch resource family: /ngsi-ld/v1/entityOperations (clause 6.14 - 6.18, 6.23)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityhub.api.entities import entity_list, render_options
from cityhub.api.http import (
    GEO_JSON,
    JSON,
    LD_JSON,
    RequestContext,
    accepted,
    body_and_context,
    check_params,
    empty_response,
    flag,
    json_response,
    options_of,
    read_body,
    request_context,
    strip_context,
)
from cityhub.broker.batch import BatchResult
from cityhub.broker.query import query_from_body


def batch_response(result: BatchResult, ctx: RequestContext, *, success_status: int,
                   ids_on_success: bool) -> Response:
    """204/201 when every entity succeeded, else 207 with a BatchOperationResult."""
    if not result.errors:
        if ids_on_success:
            return json_response(result.created, status=201, ctx=ctx)
        return empty_response(success_status, ctx)
    body = {
        "success": result.success,
        "errors": [{"entityId": entity_id, "error": error.problem()}
                   for entity_id, error in result.errors],
    }
    return json_response(body, status=207, ctx=ctx)


# -- 6.14 POST /entityOperations/create -------------------------------------------------------
async def batch_create(request: Request) -> Response:
    check_params(request, ())
    body, ctx = await body_and_context(request)
    result = await request.app.state.hub.batch.create(ctx.tenant, body, ctx.terms)
    return batch_response(result, ctx, success_status=201, ids_on_success=True)


# -- 6.15 POST /entityOperations/upsert -------------------------------------------------------
async def batch_upsert(request: Request) -> Response:
    params = check_params(request, ("options",))
    options = options_of(params, ("replace", "update"))
    if options == {"replace", "update"}:
        from cityhub.ngsild.errors import BadRequestData

        raise BadRequestData("options may be replace or update, not both")
    body, ctx = await body_and_context(request)
    result = await request.app.state.hub.batch.upsert(ctx.tenant, body, ctx.terms,
                                                       replace="update" not in options)
    # 201 with the created ids when any were created, 204 when all existed (clause 6.15.3.1)
    return batch_response(result, ctx, success_status=204, ids_on_success=bool(result.created))


# -- 6.16 POST /entityOperations/update -------------------------------------------------------
async def batch_update(request: Request) -> Response:
    params = check_params(request, ("options",))
    options = options_of(params, ("noOverwrite",))
    body, ctx = await body_and_context(request)
    result = await request.app.state.hub.batch.update(ctx.tenant, body, ctx.terms,
                                                       overwrite="noOverwrite" not in options)
    return batch_response(result, ctx, success_status=204, ids_on_success=False)


# -- 6.17 POST /entityOperations/delete -------------------------------------------------------
async def batch_delete(request: Request) -> Response:
    check_params(request, ())
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    ctx = await request_context(request)
    result = await request.app.state.hub.batch.delete(ctx.tenant, body)
    return batch_response(result, ctx, success_status=204, ids_on_success=False)


# -- 6.23 POST /entityOperations/query --------------------------------------------------------
async def batch_query(request: Request) -> Response:
    params = check_params(request, ("limit", "offset", "count", "options", "format", "lang",
                                    "geometryProperty"))
    kind = accepted(request, (JSON, LD_JSON, GEO_JSON))
    raw = await read_body(request, request.app.state.settings.max_body_bytes)
    ctx = await request_context(request, raw, has_body=True)
    body = strip_context(raw)
    options = render_options(params, ctx)
    query = query_from_body(body, ctx.terms, params.get("limit"), params.get("offset"),
                            flag(params, "count"))
    result = await request.app.state.hub.entities.query(ctx.tenant, query)
    return entity_list(result.entities, result.count, ctx, options, kind, params)


routes = [
    Route("/entityOperations/create", batch_create, methods=["POST"]),
    Route("/entityOperations/upsert", batch_upsert, methods=["POST"]),
    Route("/entityOperations/update", batch_update, methods=["POST"]),
    Route("/entityOperations/delete", batch_delete, methods=["POST"]),
    Route("/entityOperations/query", batch_query, methods=["POST"]),
]
