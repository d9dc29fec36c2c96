"""The one table from NGSI-LD error type to HTTP status, and the ProblemDetails response.

Every error a client sees goes through `problem_response`; the outermost ASGI layer
(`CatchAll`) turns anything unexpected into a 500 InternalError with no stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityhub.ngsild import errors as e
from cityhub.security import errors as access

log = logging.getLogger("cityhub.api")

PROBLEM_JSON = "application/json"

STATUS: dict[type[e.NgsiLdError], int] = {
    e.InvalidRequest: 400,
    e.BadRequestData: 400,
    e.AlreadyExists: 409,
    e.Conflict: 409,
    e.OperationNotSupported: 422,
    e.ResourceNotFound: 404,
    e.NonexistentTenant: 404,
    e.TooComplexQuery: 403,
    e.TooManyResults: 403,
    e.LdContextNotAvailable: 503,
    e.StoreUnavailable: 503,
    e.NotImplementedFeature: 501,
    e.NotAcceptable: 406,
    e.UnsupportedMediaType: 415,
    e.PayloadTooLarge: 413,
    e.MethodNotAllowed: 405,
    e.InternalError: 500,
    access.Unauthenticated: 401,
    access.Forbidden: 403,
    access.TooManyRequests: 429,
    access.UriTooLong: 414,
}


def status_of(error: e.NgsiLdError) -> int:
    for cls in type(error).__mro__:
        status = STATUS.get(cls)  # type: ignore[arg-type]
        if status is not None:
            return status
    return 500


def problem_response(error: e.NgsiLdError, headers: dict[str, str] | None = None) -> Response:
    status = status_of(error)
    extra = dict(headers or {})
    if isinstance(error, e.StoreUnavailable | e.LdContextNotAvailable):
        extra.setdefault("Retry-After", "5")
    return Response(orjson.dumps(error.problem()), status_code=status,
                    media_type=PROBLEM_JSON, headers=extra)


def problem_body(error: e.NgsiLdError) -> dict[str, Any]:
    return error.problem()


class CatchAll:
    """Outermost layer: an unexpected exception becomes a 500 ProblemDetails, logged here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except Exception:
            if started:
                log_unhandled(scope)
                raise
            await internal_error(scope)(scope, receive, send)


def log_unhandled(scope: Scope) -> None:
    """Log the exception being handled, with the request it broke (never its credentials)."""
    log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))


def internal_error(scope: Scope) -> Response:
    """The answer to an unexpected exception (logged here): a 500 ProblemDetails that says
    nothing of the failure. Used by `CatchAll` and by layers that answer before it."""
    log_unhandled(scope)
    return problem_response(e.InternalError("the hub failed to handle the request"))
