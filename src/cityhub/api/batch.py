"""Routes of the batch resource family: /ngsi-ld/v1/entityOperations (clause 6.14 - 6.18, 6.23)."""

from __future__ import annotations

from dataclasses import replace

from starlette.requests import Request
from starlette.responses import Response

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
    route,
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
    query = query_from_body(body, ctx.terms, params.get("limit"), params.get("offset"),
                            flag(params, "count"))
    options = render_options(params, ctx)
    # the Query's own attrs and lang (clause 5.2.23) project the answer as the parameters do
    if query.attrs and options.pick is None:
        options = replace(options, pick=frozenset(query.attrs))
    if isinstance(body.get("lang"), str) and "lang" not in params:
        options = replace(options, lang=body["lang"])
    result = await request.app.state.hub.entities.query(ctx.tenant, query)
    return entity_list(result.entities, result.count, ctx, options, kind, params)


routes = [
    route("/entityOperations/create", post=batch_create),
    route("/entityOperations/upsert", post=batch_upsert),
    route("/entityOperations/update", post=batch_update),
    route("/entityOperations/delete", post=batch_delete),
    route("/entityOperations/query", post=batch_query),
]
