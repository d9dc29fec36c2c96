"""Routes of the subscription resource family: /ngsi-ld/v1/subscriptions (clauses 6.10, 6.11).

A subscription answers with its members as they were written (so, in the terms of its own
@context, which the Link header, or the @context member for application/ld+json, names) plus
its status and delivery figures.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

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
    request_context,
    route,
)
from cityhub.broker.subscriptions import SubscriptionBroker
from cityhub.store.base import SubscriptionRecord


def _broker(request: Request) -> SubscriptionBroker:
    return request.app.state.hub.subscriptions


def _render(broker: SubscriptionBroker, record: SubscriptionRecord, kind: str,
            sys_attrs: bool) -> dict[str, Any]:
    body = broker.render(record, sys_attrs=sys_attrs)
    if kind == LD_JSON:
        body["@context"] = record.doc.get("context")
    return body


def _sys_attrs(params: dict[str, str]) -> bool:
    return "sysAttrs" in options_of(params, ("sysAttrs",))


# -- 6.10.3.1 POST /subscriptions: Create Subscription ---------------------------------------
async def create_subscription(request: Request) -> Response:
    check_params(request, ())
    body, ctx = await body_and_context(request)
    subscription_id = await _broker(request).create(ctx.tenant, body, ctx.terms, ctx.context)
    location = "/ngsi-ld/v1/subscriptions/" + quote(subscription_id, safe=":")
    return empty_response(201, ctx, {"Location": location})


# -- 6.10.3.2 GET /subscriptions: Query Subscriptions ----------------------------------------
async def query_subscriptions(request: Request) -> Response:
    params = check_params(request, ("limit", "offset", "count", "options"))
    sys_attrs = _sys_attrs(params)
    ctx = await request_context(request)
    kind = accepted(request, (JSON, LD_JSON))
    broker = _broker(request)
    count = flag(params, "count")
    records, total = await broker.query(ctx.tenant, params.get("limit"), params.get("offset"),
                                        count)
    items = [_render(broker, record, kind, sys_attrs) for record in records]
    headers = {"NGSILD-Results-Count": str(total)} if count else {}
    return json_response(items, ctx=ctx, kind=kind, headers=headers)


# -- 6.11.3.1 GET /subscriptions/{subscriptionId}: Retrieve Subscription ---------------------
async def retrieve_subscription(request: Request) -> Response:
    params = check_params(request, ("options",))
    sys_attrs = _sys_attrs(params)
    ctx = await request_context(request)
    kind = accepted(request, (JSON, LD_JSON))
    broker = _broker(request)
    record = await broker.retrieve(ctx.tenant, request.path_params["subscription_id"])
    context = record.doc.get("context")
    answer_ctx = RequestContext(ctx.tenant, ctx.terms,
                                context if isinstance(context, str) else ctx.context)
    return json_response(_render(broker, record, kind, sys_attrs), ctx=answer_ctx, kind=kind)


# -- 6.11.3.2 PATCH /subscriptions/{subscriptionId}: Update Subscription ---------------------
async def update_subscription(request: Request) -> Response:
    check_params(request, ())
    body, ctx = await body_and_context(request)
    await _broker(request).update(ctx.tenant, request.path_params["subscription_id"], body,
                                  ctx.terms)
    return empty_response(204, ctx)


# -- 6.11.3.3 DELETE /subscriptions/{subscriptionId}: Delete Subscription --------------------
async def delete_subscription(request: Request) -> Response:
    check_params(request, ())
    ctx = await request_context(request)
    await _broker(request).delete(ctx.tenant, request.path_params["subscription_id"])
    return empty_response(204, ctx)


routes = [
    route("/subscriptions", post=create_subscription, get=query_subscriptions),
    route("/subscriptions/{subscription_id:path}", get=retrieve_subscription,
          patch=update_subscription, delete=delete_subscription),
]
