"""Live entity changes as server-sent events (/cityhub/v1/live): the dashboard's live layers,
open to any app.

`GET /cityhub/v1/live?type=A,B[&attrs=x,y][&q=...]` answers `text/event-stream`. Each stream
is one ordinary NGSI-LD subscription, made through the broker core exactly as
`POST /ngsi-ld/v1/subscriptions` makes it, whose endpoint is this hub's own notification
receiver `POST /cityhub/v1/live/{stream}` (the stream's id is a random secret: only the hub
knows it). Every notification received there becomes one `entities` event whose `data` is the
notification's `data`: a JSON list of the changed entities in keyValues form. The stream
starts with a `stream` event (`{"stream", "subscriptionId"}`).

So a live stream costs what a subscription costs, goes through the durable change records
and the notification senders like any other (`broker.notifications`), and needs no back door
into the broker. The subscription is deleted when the client goes away and carries an
`expiresAt` the stream renews, so a hub killed mid-stream leaves nothing behind for long.

A slow client does not hold the hub back: a stream buffers at most `QUEUE_SIZE`
notifications; past that, notifications are dropped and an `overflow` event (the count
dropped) tells the client to re-read the current state.

One process: the receiver must be the process that holds the stream, which is true on the
embedded store and for a single API worker (see docs/dashboard.md, "Live updates").
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from cityhub.api.http import check_params, empty_response, read_body, route, tenant_of
from cityhub.broker import Hub
from cityhub.ngsild.context import CORE_CONTEXT_URL, core_term_map
from cityhub.ngsild.errors import BadRequestData, NgsiLdError, ResourceNotFound
from cityhub.ngsild.typeexpr import parse_type_expression

TERMS = core_term_map()
#: notifications one stream buffers for a slow client before it drops them
QUEUE_SIZE = 1000
#: seconds between two keep-alive comments (they also notice a client that went away)
KEEPALIVE_S = 15.0
#: lifetime of a stream's subscription; the stream renews it at half of that
EXPIRY_S = 600.0
#: the largest notification body the receiver reads
MAX_NOTIFICATION_BYTES = 16 << 20
#: the most streams open at once
MAX_STREAMS = 256


class LiveStreams:
    """The open streams of this process, by stream id."""

    def __init__(self) -> None:
        self.queues: dict[str, asyncio.Queue[bytes]] = {}
        self.dropped: dict[str, int] = {}
        self._cleanups: set[asyncio.Task[None]] = set()

    def open(self) -> str:
        if len(self.queues) >= MAX_STREAMS:
            raise BadRequestData(f"at most {MAX_STREAMS} live streams can be open at once")
        stream = secrets.token_urlsafe(18)
        self.queues[stream] = asyncio.Queue(QUEUE_SIZE)
        self.dropped[stream] = 0
        return stream

    def close(self, stream: str) -> None:
        self.queues.pop(stream, None)
        self.dropped.pop(stream, None)

    def deliver(self, stream: str, data: bytes) -> bool:
        queue = self.queues.get(stream)
        if queue is None:
            return False
        try:
            queue.put_nowait(data)
        except asyncio.QueueFull:
            self.dropped[stream] += 1
        return True

    def later(self, work: Any) -> None:
        """Run cleanup outside a cancelled request (its awaits would be cancelled too)."""
        task = asyncio.get_running_loop().create_task(work)
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)


def _streams(request: Request) -> LiveStreams:
    state = request.app.state
    if not hasattr(state, "live_streams"):
        state.live_streams = LiveStreams()
    streams: LiveStreams = state.live_streams
    return streams


def _expires() -> str:
    at = datetime.now(UTC) + timedelta(seconds=EXPIRY_S)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _receiver(request: Request, stream: str) -> str:
    server = request.scope.get("server")
    if not server or server[1] is None:
        raise BadRequestData("live streams need the hub to listen on a TCP port")
    host, port = server
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/cityhub/v1/live/{stream}"


def _subscription(params: dict[str, str], endpoint: str) -> dict[str, Any]:
    if "type" not in params:
        raise BadRequestData("a live stream needs type= (a type or a list of types)")
    parse_type_expression(params["type"])  # a bad expression is a 400 before anything
    notification: dict[str, Any] = {"format": "keyValues",
                                    "endpoint": {"uri": endpoint, "accept": "application/json"}}
    if params.get("attrs"):
        notification["attributes"] = params["attrs"].split(",")
    sub: dict[str, Any] = {
        "type": "Subscription", "subscriptionName": "cityhub live stream",
        "description": "a server-sent-events stream of GET /cityhub/v1/live",
        "entities": [{"type": params["type"]}],
        "notificationTrigger": ["entityCreated", "entityUpdated", "attributeCreated",
                                "attributeUpdated"],
        "notification": notification, "expiresAt": _expires(),
    }
    if params.get("q"):
        sub["q"] = params["q"]
    return sub


def _event(name: str, data: bytes) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


# -- GET /cityhub/v1/live ---------------------------------------------------------------------
async def live_stream(request: Request) -> Response:
    params = check_params(request, ("type", "attrs", "q"))
    tenant = tenant_of(request)
    hub: Hub = request.app.state.hub
    streams = _streams(request)
    stream = streams.open()
    try:
        subscription_id = await hub.subscriptions.create(
            tenant, _subscription(params, _receiver(request, stream)), TERMS, CORE_CONTEXT_URL)
    except BaseException:
        streams.close(stream)
        raise
    queue = streams.queues[stream]

    async def events() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        renew_at = loop.time() + EXPIRY_S / 2
        try:
            yield b"retry: 1000\n" + _event("stream", orjson.dumps(
                {"stream": stream, "subscriptionId": subscription_id}))
            while True:
                try:
                    data = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield b": keep-alive\n\n"
                else:
                    yield _event("entities", data)
                dropped = streams.dropped.get(stream, 0)
                if dropped:
                    streams.dropped[stream] = 0
                    yield _event("overflow", orjson.dumps({"dropped": dropped}))
                if loop.time() >= renew_at:
                    renew_at = loop.time() + EXPIRY_S / 2
                    await hub.subscriptions.update(tenant, subscription_id,
                                                   {"expiresAt": _expires()}, TERMS)
        finally:
            streams.close(stream)
            streams.later(_forget(hub, tenant, subscription_id))

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _forget(hub: Hub, tenant: str, subscription_id: str) -> None:
    with contextlib.suppress(NgsiLdError):
        await hub.subscriptions.delete(tenant, subscription_id)


# -- POST /cityhub/v1/live/{stream}: the streams' notification receiver -----------------------
async def receive_notification(request: Request) -> Response:
    check_params(request, ())
    stream = request.path_params["stream"]
    streams = _streams(request)
    if stream not in streams.queues:
        raise ResourceNotFound("no such live stream")
    body = await read_body(request, MAX_NOTIFICATION_BYTES)
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise BadRequestData("a notification has a data list")
    streams.deliver(stream, orjson.dumps(body["data"]))
    return empty_response(204)


routes = [
    route("/live", get=live_stream),
    route("/live/{stream}", post=receive_notification),
]
