"""Request parsing and response rendering shared by the route modules (clause 6.3).

Content negotiation, the JSON-LD @context of a request (Link header or inline), the tenant
header, bodies with a size limit, query parameters declared per route, and JSON responses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityhub.broker.entities import check_tenant
from cityhub.ngsild.context import CORE_CONTEXT_URL, TermMap, core_term_map
from cityhub.ngsild.errors import (
    BadRequestData,
    InvalidRequest,
    NotAcceptable,
    NotImplementedFeature,
    PayloadTooLarge,
    UnsupportedMediaType,
)

JSON = "application/json"
LD_JSON = "application/ld+json"
GEO_JSON = "application/geo+json"
MERGE_PATCH = "application/merge-patch+json"
CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"
_LINK = re.compile(r'^\s*<([^>]*)>\s*(.*)$')

#: query parameters of the specification CityHub does not implement: answered with 501
KNOWN_UNSUPPORTED = frozenset(
    {"csf", "local", "via", "join", "joinLevel", "containedBy", "entityMap", "splitEntities",
     "expandValues", "jsonKeys", "doNotCompact"}
)


@dataclass(slots=True)
class RequestContext:
    tenant: str
    terms: TermMap
    #: what to put in a response's Link header or @context member
    context: Any


#: the context of a request with neither a tenant header nor a Link header
DEFAULT_CONTEXT = RequestContext("", core_term_map(), CORE_CONTEXT_URL)


def link_header(context_url: str) -> str:
    return f'<{context_url}>; rel="{CONTEXT_REL}"; type="{LD_JSON}"'


#: the headers of a JSON answer in DEFAULT_CONTEXT, besides its length (as Response makes them)
_DEFAULT_JSON_HEADERS = (
    (b"content-type", JSON.encode()),
    (b"link", link_header(CORE_CONTEXT_URL).encode()),
)


class DefaultJsonResponse(Response):
    """A JSON answer in DEFAULT_CONTEXT: the same headers `json_response` gives any other
    answer, with the constant ones encoded once (GET /entities/{id} is the hot path)."""

    media_type = JSON

    def __init__(self, body: bytes, status_code: int = 200) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        self.raw_headers = default_json_headers(body)


def default_json_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    """The raw headers of a JSON answer `body` in DEFAULT_CONTEXT."""
    return [(b"content-length", str(len(body)).encode()), *_DEFAULT_JSON_HEADERS]


def tenant_of(request: Request) -> str:
    return check_tenant(request.headers.get("ngsild-tenant"))


def check_params(request: Request, allowed: Iterable[str]) -> dict[str, str]:
    """The query parameters of a route: unknown ones are a 400, unimplemented ones a 501."""
    if not request.scope["query_string"]:
        return {}
    params = request.query_params
    allowed = set(allowed)
    for name in params:
        if name in allowed:
            if len(params.getlist(name)) > 1:
                raise BadRequestData(f"query parameter {name!r} is given more than once")
            continue
        if name in KNOWN_UNSUPPORTED:
            raise NotImplementedFeature(f"query parameter {name!r} is not supported by CityHub")
        raise BadRequestData(f"unknown query parameter {name[:64]!r}")
    return dict(params)


def options_of(params: dict[str, str], allowed: Iterable[str]) -> set[str]:
    """The `options` (and v1.8 `format`) values, each checked against what the route allows."""
    allowed = set(allowed)
    values = set()
    for name in ("options", "format"):
        text = params.get(name)
        if text is None:
            continue
        for item in text.split(","):
            item = item.strip()
            if item not in allowed:
                raise BadRequestData(f"{name}={item[:64]!r} is not supported here")
            values.add(item)
    formats = values & {"keyValues", "concise", "normalized"}
    if len(formats) > 1:
        raise BadRequestData("options may name only one of keyValues, concise and normalized")
    return values


def link_context(request: Request) -> str | None:
    header = request.headers.get("link")
    if header is None:
        return None
    for part in header.split(","):
        match = _LINK.match(part)
        if match and CONTEXT_REL in match.group(2):
            return match.group(1).strip()
    raise BadRequestData("the Link header names no JSON-LD context "
                         f"(rel=\"{CONTEXT_REL}\")")


def media_type(request: Request) -> str | None:
    value = request.headers.get("content-type")
    if value is None:
        return None
    return value.split(";")[0].strip().lower()


async def read_body(request: Request, limit: int) -> Any:
    """The request's JSON body, refused if larger than `limit` bytes or not JSON."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    kind = media_type(request)
    if kind not in (JSON, LD_JSON, MERGE_PATCH):
        raise UnsupportedMediaType(
            f"Content-Type must be {JSON} or {LD_JSON}" + ("" if kind is None else f", not {kind}")
        )
    chunks = bytearray()
    async for chunk in request.stream():
        chunks.extend(chunk)
        if len(chunks) > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    if not chunks:
        raise InvalidRequest("the request needs a JSON body")
    try:
        return orjson.loads(bytes(chunks))
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from None


async def body_context(request: Request, body: Any) -> tuple[Any, bool]:
    """The @context a body declares (clause 6.3.5): (context, is_inline)."""
    kind = media_type(request)
    items = body if isinstance(body, list) else [body]
    inline = [item.get("@context") for item in items if isinstance(item, dict)]
    has_inline = [c is not None for c in inline]
    if kind == LD_JSON:
        if request.headers.get("link") is not None:
            raise BadRequestData("with application/ld+json the @context goes in the body, "
                                 "not in a Link header")
        if not inline or not all(has_inline):
            raise BadRequestData("an application/ld+json body must carry an @context")
        first = inline[0]
        if any(c != first for c in inline):
            raise BadRequestData("all entities of one request must share one @context")
        return first, True
    if any(has_inline):
        raise BadRequestData("@context in the body needs Content-Type application/ld+json")
    return link_context(request), False


async def request_context(request: Request, body: Any = None, *, has_body: bool = False
                          ) -> RequestContext:
    headers = request.headers
    if not has_body and "link" not in headers and "ngsild-tenant" not in headers:
        return DEFAULT_CONTEXT  # the common case: default tenant, core context
    tenant = tenant_of(request)
    resolver = request.app.state.hub.contexts
    if has_body:
        context, inline = await body_context(request, body)
        terms = await (resolver.for_inline(context) if inline else resolver.for_link(context))
    else:
        context = link_context(request)
        terms = await resolver.for_link(context)
    return RequestContext(tenant, terms, context or CORE_CONTEXT_URL)


def strip_context(body: Any) -> Any:
    if isinstance(body, dict):
        body.pop("@context", None)
    elif isinstance(body, list):
        for item in body:
            if isinstance(item, dict):
                item.pop("@context", None)
    return body


def accepted(request: Request, offered: Iterable[str] = (JSON, LD_JSON)) -> str:
    """Clause 6.3.6: the representation to answer with, from the Accept header."""
    header = request.headers.get("accept")
    if not header or header == "*/*" or header == JSON:
        return JSON
    offered = list(offered)
    best, best_q = None, 0.0
    for part in header.split(","):
        pieces = part.strip().split(";")
        kind = pieces[0].strip().lower()
        q = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if kind in ("*/*", "application/*"):
            candidate = JSON
        elif kind in offered:
            candidate = kind
        else:
            continue
        if q > best_q:
            best, best_q = candidate, q
    if best is None:
        raise NotAcceptable(f"this resource can be answered as {', '.join(offered)}")
    return best


def json_response(
    content: Any,
    *,
    status: int = 200,
    ctx: RequestContext | None = None,
    kind: str = JSON,
    headers: dict[str, str] | None = None,
) -> Response:
    if ctx is DEFAULT_CONTEXT and not headers and kind == JSON:  # the common case
        return DefaultJsonResponse(orjson.dumps(content), status)
    extra = dict(headers or {})
    if ctx is not None:
        if ctx.tenant:
            extra["NGSILD-Tenant"] = ctx.tenant
        if kind in (JSON, GEO_JSON) and isinstance(ctx.context, str):
            extra["Link"] = link_header(ctx.context)
    return Response(orjson.dumps(content), status_code=status, media_type=kind, headers=extra)



def empty_response(status: int = 204, ctx: RequestContext | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    extra = dict(headers or {})
    if ctx is not None and ctx.tenant:
        extra["NGSILD-Tenant"] = ctx.tenant
    return Response(status_code=status, headers=extra)


def with_context(document: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    document["@context"] = ctx.context
    return document


def flag(params: dict[str, str], name: str) -> bool:
    value = params.get(name)
    if value is None or value == "false":
        return False
    if value == "true":
        return True
    raise BadRequestData(f"{name} must be true or false")


async def body_and_context(request: Request) -> tuple[Any, RequestContext]:
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    ctx = await request_context(request, body, has_body=True)
    return strip_context(body), ctx


def route(path: str, **handlers: Any) -> Route:
    """One route for a path, dispatching on the HTTP method (others get a 405).

    One route per path keeps matching short (GET /entities/{id} is found by one regular
    expression, not by trying every entity route) and makes the 405 answers exact."""
    table = {name.upper(): handler for name, handler in handlers.items()}
    if "GET" in table:  # Starlette's Route answers HEAD where GET is allowed
        table.setdefault("HEAD", table["GET"])

    async def endpoint(request: Request) -> Response:
        return await table[request.method](request)

    return Route(path, endpoint, methods=list(table), name=path)
