"""The ASGI application: NGSI-LD routes under /ngsi-ld/v1, errors as ProblemDetails.

The middleware stack is built in plain sight: `entities.DefaultRetrieve` (the common GET
/entities/{id}, answered at once) outermost, `CatchAll` (500 ProblemDetails, no traceback),
access control, then Starlette's exception layer and the router. Handled NGSI-LD errors are
turned into responses by one handler on the base error class.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from cityhub import __version__
from cityhub.api import (
    auth,
    batch,
    contexts,
    dashboard,
    devices,
    discovery,
    entities,
    ingest,
    live,
    openapi,
    opendata,
    public,
    subscriptions,
    temporal,
)
from cityhub.api.errors import CatchAll, problem_response
from cityhub.api.http import json_response
from cityhub.broker import Hub
from cityhub.broker.delivery import DeliveryOptions
from cityhub.broker.retention import RetentionPolicy
from cityhub.ngsild.errors import MethodNotAllowed, NgsiLdError, ResourceNotFound
from cityhub.settings import Settings


async def on_ngsi_ld_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NgsiLdError)
    return problem_response(exc)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return problem_response(MethodNotAllowed(f"{request.method} is not allowed here"),
                                dict(exc.headers or {}))
    if exc.status_code == 404:
        return problem_response(ResourceNotFound(f"no resource at {request.url.path[:200]}"))
    return Response(status_code=exc.status_code, headers=exc.headers)


async def version(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    return json_response({"name": "CityHub", "version": __version__, "store": hub.store.name})


def delivery_options(settings: Settings) -> DeliveryOptions:
    return DeliveryOptions(retry_base_s=settings.notify_retry_base_s,
                           retry_max_s=settings.notify_retry_max_s,
                           max_age_s=settings.notify_max_age_s,
                           timeout_s=settings.notify_timeout_s)


class HubApplication(Starlette):
    """Starlette without its outermost ServerErrorMiddleware: `CatchAll` (added by
    `create_app`) already turns every unexpected exception into a 500 ProblemDetails, so
    Starlette's layer only wrapped every `send` of every request for nothing."""

    def build_middleware_stack(self) -> ASGIApp:
        handlers = {key: value for key, value in self.exception_handlers.items()
                    if key not in (500, Exception)}
        app: ASGIApp = ExceptionMiddleware(self.router, handlers=handlers, debug=self.debug)
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app


def create_app(settings: Settings | None = None, hub: Hub | None = None) -> Starlette:
    settings = settings or Settings()
    hub = hub or Hub.from_dsn(settings.db, context_fetch_timeout=settings.context_fetch_timeout,
                              context_allow=settings.context_allow,
                              delivery=delivery_options(settings),
                              retention=RetentionPolicy.configured(settings.retention_file,
                                                                   settings.retention_days))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await hub.start()
        await ingest.start_ingest(app)
        await opendata.start(app)
        try:
            yield
        finally:
            await opendata.stop(app)
            await ingest.stop_ingest(app)
            await hub.stop()

    ngsi_ld = [*entities.routes, *batch.routes, *discovery.routes, *contexts.routes,
               *subscriptions.routes, *temporal.routes]
    app = HubApplication(
        routes=[
            Mount("/ngsi-ld/v1", routes=ngsi_ld),
            Route("/version", version, methods=["GET"]),
            Route("/openapi.json", openapi.serve, methods=["GET"]),
            Mount("/cityhub/v1", routes=[*devices.routes, *ingest.routes, *public.routes,
                                         *live.routes, *auth.routes,
                                         *opendata.routes]),
            *dashboard.routes,
        ],
        exception_handlers={NgsiLdError: on_ngsi_ld_error, HTTPException: on_http_error},
        lifespan=lifespan,
    )
    app.state.hub = hub
    app.state.settings = settings
    # access control (api.auth) inside the 500 layer; its state loads the auth file now, so
    # that a bad one stops start-up
    app.state.access = auth.AccessState(settings)
    opendata.install(app)  # the catalogue file (a bad one stops start-up), usage counters
    app.add_middleware(auth.AccessControl, state=app.state.access)
    # The 500 layer goes outside access control, in place of Starlette's ServerErrorMiddleware
    app.add_middleware(CatchAll)
    # outermost: the common GET /entities/{id} answered without the layers above (each a
    # no-op for it); every other request passes through untouched
    app.add_middleware(entities.DefaultRetrieve, hub=hub, access=app.state.access)
    return app
