"""Routes of the temporal resource family: /ngsi-ld/v1/temporal/... (clauses 6.18 - 6.22, 6.24).

The history of entities (`broker.temporal`): query and retrieve it as instances, simplified
temporal values or aggregated values; add instances; correct and delete recorded ones.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from cityhub.api.entities import QUERY_PARAMS, delete_entity, query_params
from cityhub.api.http import (
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
    with_context,
)
from cityhub.broker.query import build_query, query_from_body, split_names
from cityhub.broker.temporal import TemporalEntity
from cityhub.ngsild.errors import BadRequestData
from cityhub.ngsild.temporal import (
    TemporalQuery,
    TemporalRenderOptions,
    parse_temporal_query,
    render_aggregated_entity,
    render_temporal_entity,
)

TEMPORAL_PARAMS = ("timerel", "timeAt", "endTimeAt", "timeproperty", "lastN", "aggrMethods",
                   "aggrPeriodDuration")
REPRESENTATION = ("attrs", "options", "lang")
OPTIONS = ("temporalValues", "aggregatedValues", "sysAttrs")
#: members of a Query's `temporalQ` (clause 5.2.21), by the query parameter they stand for
TEMPORAL_Q = {"timerel": "timerel", "timeAt": "timeAt", "endTimeAt": "endTimeAt",
              "timeproperty": "timeproperty", "lastN": "lastN"}


def representation(params: dict[str, str]) -> tuple[TemporalQuery, TemporalRenderOptions]:
    """The temporal query and the representation the parameters ask for."""
    options = options_of(params, OPTIONS)
    if {"temporalValues", "aggregatedValues"} <= options:
        raise BadRequestData("options may be temporalValues or aggregatedValues, not both")
    temporal = parse_temporal_query(
        timerel=params.get("timerel"),
        time_at=params.get("timeAt"),
        end_time_at=params.get("endTimeAt"),
        timeproperty=params.get("timeproperty"),
        last_n=params.get("lastN"),
        aggregated="aggregatedValues" in options,
        aggr_methods=params.get("aggrMethods"),
        aggr_period=params.get("aggrPeriodDuration"),
    )
    render = TemporalRenderOptions(simplified="temporalValues" in options,
                                   sys_attrs="sysAttrs" in options, lang=params.get("lang"),
                                   timeproperty=temporal.timeproperty)
    return temporal, render


def render(found: TemporalEntity, ctx: RequestContext, temporal: TemporalQuery,
           options: TemporalRenderOptions, kind: str) -> dict[str, Any]:
    stored = found.stored
    if temporal.aggregation is not None:
        body = render_aggregated_entity(stored.entity, found.periods,
                                        temporal.aggregation.methods, ctx.terms,
                                        options.sys_attrs, stored.created_at, stored.modified_at)
    else:
        body = render_temporal_entity(stored.entity, found.instances, ctx.terms, options,
                                      stored.created_at, stored.modified_at)
    return with_context(body, ctx) if kind == LD_JSON else body


def temporal_list(found: list[TemporalEntity], count: int | None, ctx: RequestContext,
                  temporal: TemporalQuery, options: TemporalRenderOptions, kind: str
                  ) -> Response:
    headers = {} if count is None else {"NGSILD-Results-Count": str(count)}
    return json_response([render(f, ctx, temporal, options, kind) for f in found], ctx=ctx,
                         kind=kind, headers=headers)


def temporal_location(entity_id: str) -> str:
    return "/ngsi-ld/v1/temporal/entities/" + quote(entity_id, safe=":")


# -- 6.18.3.1 POST /temporal/entities: Create or Update Temporal Representation of an Entity --
async def upsert_temporal_entity(request: Request) -> Response:
    check_params(request, ())
    body, ctx = await body_and_context(request)
    created = await request.app.state.hub.temporal.upsert(ctx.tenant, body, ctx.terms)
    if not created:
        return empty_response(204, ctx)
    return empty_response(201, ctx, {"Location": temporal_location(body["id"])})


# -- 6.18.3.2 GET /temporal/entities: Query Temporal Evolution of Entities --------------------
async def query_temporal_entities(request: Request) -> Response:
    params = check_params(request, QUERY_PARAMS + REPRESENTATION + TEMPORAL_PARAMS)
    ctx = await request_context(request)
    kind = accepted(request, (JSON, LD_JSON))
    temporal, options = representation(params)
    query = build_query(query_params(params), ctx.terms)
    result = await request.app.state.hub.temporal.query(ctx.tenant, query, temporal)
    return temporal_list(result.entities, result.count, ctx, temporal, options, kind)


# -- 6.19.3.1 GET /temporal/entities/{entityId}: Retrieve Temporal Evolution of an Entity -----
async def retrieve_temporal_entity(request: Request) -> Response:
    params = check_params(request, (*REPRESENTATION, *TEMPORAL_PARAMS, "type"))
    ctx = await request_context(request)
    kind = accepted(request, (JSON, LD_JSON))
    temporal, options = representation(params)
    attrs = tuple(ctx.terms.expand(a) for a in split_names(params.get("attrs"), "attrs"))
    found = await request.app.state.hub.temporal.retrieve(
        ctx.tenant, request.path_params["entity_id"], attrs, temporal)
    return json_response(render(found, ctx, temporal, options, kind), ctx=ctx, kind=kind)


# -- 6.20.3.1 POST /temporal/entities/{entityId}/attrs: Add Attributes ------------------------
async def add_temporal_attrs(request: Request) -> Response:
    check_params(request, ())
    body, ctx = await body_and_context(request)
    await request.app.state.hub.temporal.add_attrs(
        ctx.tenant, request.path_params["entity_id"], body, ctx.terms)
    return empty_response(204, ctx)


# -- 6.21.3.1 DELETE /temporal/entities/{entityId}/attrs/{attrId}: Delete Attribute -----------
async def delete_temporal_attr(request: Request) -> Response:
    params = check_params(request, ("datasetId", "deleteAll"))
    ctx = await request_context(request)
    await request.app.state.hub.temporal.delete_attr(
        ctx.tenant, request.path_params["entity_id"], request.path_params["attr"], ctx.terms,
        params.get("datasetId"), flag(params, "deleteAll"))
    return empty_response(204, ctx)


# -- 6.22.3.1 PATCH .../attrs/{attrId}/{instanceId}: Modify Attribute Instance ----------------
async def modify_temporal_instance(request: Request) -> Response:
    check_params(request, ())
    body, ctx = await body_and_context(request)
    path = request.path_params
    await request.app.state.hub.temporal.modify_instance(
        ctx.tenant, path["entity_id"], path["attr"], path["instance_id"], body, ctx.terms)
    return empty_response(204, ctx)


# -- 6.22.3.2 DELETE .../attrs/{attrId}/{instanceId}: Delete Attribute Instance ---------------
async def delete_temporal_instance(request: Request) -> Response:
    check_params(request, ())
    ctx = await request_context(request)
    path = request.path_params
    await request.app.state.hub.temporal.delete_instance(
        ctx.tenant, path["entity_id"], path["attr"], path["instance_id"], ctx.terms)
    return empty_response(204, ctx)


# -- 6.24.3.1 POST /temporal/entityOperations/query: Query Temporal Evolution (body) ----------
async def query_temporal_batch(request: Request) -> Response:
    params = check_params(request, ("limit", "offset", "count", "options", "lang", "lastN",
                                    "aggrMethods", "aggrPeriodDuration"))
    kind = accepted(request, (JSON, LD_JSON))
    raw = await read_body(request, request.app.state.settings.max_body_bytes)
    ctx = await request_context(request, raw, has_body=True)
    body = strip_context(raw)
    if not isinstance(body, dict):
        raise BadRequestData("a Query must be a JSON object")
    body = dict(body)
    params = {**params, **_temporal_q(body.pop("temporalQ", None), params)}
    temporal, options = representation(params)
    query = query_from_body(body, ctx.terms, params.get("limit"), params.get("offset"),
                            flag(params, "count"))
    result = await request.app.state.hub.temporal.query(ctx.tenant, query, temporal)
    return temporal_list(result.entities, result.count, ctx, temporal, options, kind)


def _temporal_q(value: Any, params: dict[str, str]) -> dict[str, Any]:
    """A Query's temporalQ as the query parameters it stands for."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequestData("temporalQ must be an object")
    out: dict[str, Any] = {}
    for member, item in value.items():
        name = TEMPORAL_Q.get(member)
        if name is None:
            raise BadRequestData(f"unknown temporalQ member {member[:64]!r}")
        if name in params:
            raise BadRequestData(f"{member} is given both in temporalQ and as a parameter")
        if not isinstance(item, str) and not (name == "lastN" and type(item) is int):
            raise BadRequestData(f"temporalQ.{member} must be a string")
        out[name] = item
    return out


routes = [
    route("/temporal/entities", get=query_temporal_entities, post=upsert_temporal_entity),
    route("/temporal/entities/{entity_id:path}/attrs/{attr}/{instance_id}",
          patch=modify_temporal_instance, delete=delete_temporal_instance),
    route("/temporal/entities/{entity_id:path}/attrs/{attr}", delete=delete_temporal_attr),
    route("/temporal/entities/{entity_id:path}/attrs", post=add_temporal_attrs),
    # 6.19.3.2 DELETE: Delete Temporal Representation of an Entity is Delete Entity (the
    # temporal entity is the entity; its history goes with it)
    route("/temporal/entities/{entity_id:path}", get=retrieve_temporal_entity,
          delete=delete_entity),
    route("/temporal/entityOperations/query", post=query_temporal_batch),
]
