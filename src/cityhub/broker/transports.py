"""How a notification leaves the hub: an HTTP POST or an MQTT publish (clause 7.2, 7.3).

`HttpTransport` is a small HTTP/1.1 client made for one job, POSTing notifications fast: one
pool of kept-alive connections per origin (scheme, host, port), at most `pool_size` requests
in flight to one origin, the whole request (connecting included) bounded by a timeout, and
the response status read and its body skipped. A general client costs some 30 times more per
request, and notifications are the hub's hottest outgoing path (bench/notify.py).

`MqttTransport` keeps one connection per broker (scheme, host, port, user) through aiomqtt and
publishes with the QoS the endpoint asks (a publish with QoS 1 or 2 returns when the broker
acknowledged it).

Both raise `DeliveryFailed` with a short reason for anything that is not a delivery: refused
or lost connection, timeout, a status outside 2xx, a broker error.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import aiomqtt

#: the largest response body read to keep a connection; a larger one closes it
MAX_RESPONSE_BODY = 1 << 20
DEFAULT_POOL_SIZE = 64
USER_AGENT = "CityHub"


class DeliveryFailed(Exception):
    """A notification was not delivered; `str()` says why, briefly, for lastFailure logs."""


@dataclass(slots=True)
class _Origin:
    slots: asyncio.Semaphore
    idle: deque[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(
        default_factory=deque)


class HttpTransport:
    def __init__(self, *, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self.pool_size = pool_size
        self._origins: dict[tuple[str, str, int], _Origin] = {}
        self._tls: ssl.SSLContext | None = None

    async def post(self, uri: str, headers: tuple[tuple[str, str], ...], body: bytes,
                   timeout: float) -> None:
        key, head = _request_head(uri, headers)
        request = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
        origin = self._origins.get(key)
        if origin is None:
            origin = self._origins[key] = _Origin(asyncio.Semaphore(self.pool_size))
        try:
            async with asyncio.timeout(timeout), origin.slots:
                status = await self._exchange(origin, *key, request)
        except TimeoutError:
            raise DeliveryFailed(f"no answer within {timeout:g} s") from None
        if not 200 <= status < 300:
            raise DeliveryFailed(f"HTTP {status}")

    async def _exchange(self, origin: _Origin, scheme: str, host: str, port: int,
                        request: bytes) -> int:
        while True:
            reused = bool(origin.idle)
            if reused:
                reader, writer = origin.idle.pop()
            else:
                try:
                    reader, writer = await asyncio.open_connection(
                        host, port, ssl=self._tls_context() if scheme == "https" else None)
                except (OSError, ssl.SSLError) as exc:
                    raise DeliveryFailed(f"cannot connect: {exc.__class__.__name__}") from None
            try:
                writer.write(request)
                status, keep = await _read_response(reader)
            except (OSError, EOFError, ValueError, asyncio.LimitOverrunError) as exc:
                writer.close()
                if reused:  # the server closed a kept-alive connection: once more, afresh
                    continue
                raise DeliveryFailed(f"connection failed: {exc.__class__.__name__}") from None
            except BaseException:  # a timeout or a cancel: the connection's state is unknown
                writer.close()
                raise
            if keep:
                origin.idle.append((reader, writer))
            else:
                writer.close()
            return status

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    async def close(self) -> None:
        for origin in self._origins.values():
            while origin.idle:
                _, writer = origin.idle.pop()
                writer.close()
        self._origins.clear()


@functools.lru_cache(maxsize=4096)
def _request_head(uri: str, headers: tuple[tuple[str, str], ...]
                  ) -> tuple[tuple[str, str, int], bytes]:
    """((scheme, host, port), the request's bytes up to Content-Length) of a POST to `uri`:
    the same for every notification of a subscription, so it is built once."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    authority = host if ":" not in host else f"[{host}]"
    if parts.port is not None:
        authority += f":{parts.port}"
    lines = [f"POST {target} HTTP/1.1", f"Host: {authority}", f"User-Agent: {USER_AGENT}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    return (scheme, host, port), ("\r\n".join(lines) + "\r\n").encode("latin-1", "replace")


def _field(head: bytes, name: bytes) -> bytes | None:
    """The value of header `name` (lower case, with its colon) in a lower-cased head."""
    at = head.find(b"\r\n" + name)
    if at < 0:
        return None
    start = at + 2 + len(name)
    stop = head.find(b"\r\n", start)
    return head[start:stop if stop >= 0 else len(head)].strip()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, whether the connection can be kept) of one response, its body consumed."""
    while True:
        head = (await reader.readuntil(b"\r\n\r\n")).lower()
        if not head.startswith(b"http/1."):
            raise ValueError("not an HTTP/1 response")
        status = int(head[9:12])
        if status >= 200 or status == 101:
            break  # 1xx interim answers are skipped
    connection = _field(head, b"connection:")
    keep = head.startswith(b"http/1.1") and (connection is None or b"close" not in connection)
    if status in (204, 304):
        return status, keep
    encoding = _field(head, b"transfer-encoding:")
    if encoding is not None and b"chunked" in encoding:
        size = 0
        while True:
            length = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            size += length
            if size > MAX_RESPONSE_BODY:
                return status, False
            if length == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass  # trailers
                return status, keep
            await reader.readexactly(length + 2)
    declared = _field(head, b"content-length:")
    if declared is None:
        return status, False  # the body runs to the end of the connection: do not keep it
    length = int(declared)
    if length > MAX_RESPONSE_BODY:
        return status, False
    if length:
        await reader.readexactly(length)
    return status, keep


@dataclass(slots=True)
class _Broker:
    client: aiomqtt.Client
    stack: contextlib.AsyncExitStack


class MqttTransport:
    def __init__(self) -> None:
        self._brokers: dict[tuple[str, str, int, str | None, str], _Broker] = {}
        self._connecting: dict[tuple[str, str, int, str | None, str], asyncio.Lock] = {}
        self._tls: ssl.SSLContext | None = None

    async def publish(self, uri: str, payload: bytes, *, qos: int, version: str,
                      timeout: float) -> None:
        parts = urlsplit(uri)
        scheme = parts.scheme.lower()
        port = parts.port or (8883 if scheme == "mqtts" else 1883)
        key = (scheme, parts.hostname or "", port, parts.username, version)
        topic = unquote(parts.path.lstrip("/"))
        try:
            async with asyncio.timeout(timeout):
                broker = await self._broker(key, parts.password)
                await broker.client.publish(topic, payload, qos=qos)
        except TimeoutError:
            await self._drop(key)
            raise DeliveryFailed(f"the MQTT broker did not answer within {timeout:g} s"
                                 ) from None
        except (aiomqtt.MqttError, OSError, ssl.SSLError) as exc:
            await self._drop(key)
            raise DeliveryFailed(f"MQTT: {exc.__class__.__name__}: {str(exc)[:200]}") from None

    async def _broker(self, key: tuple[str, str, int, str | None, str],
                      password: str | None) -> _Broker:
        found = self._brokers.get(key)
        if found is not None:
            return found
        lock = self._connecting.setdefault(key, asyncio.Lock())
        async with lock:
            found = self._brokers.get(key)
            if found is not None:
                return found
            scheme, host, port, username, version = key
            if scheme == "mqtts" and self._tls is None:
                self._tls = ssl.create_default_context()
            client = aiomqtt.Client(
                host, port, username=unquote(username) if username else None,
                password=unquote(password) if password else None,
                protocol=(aiomqtt.ProtocolVersion.V5 if version == "mqtt5.0"
                          else aiomqtt.ProtocolVersion.V311),
                tls_context=self._tls if scheme == "mqtts" else None)
            stack = contextlib.AsyncExitStack()
            await stack.enter_async_context(client)
            found = self._brokers[key] = _Broker(client, stack)
            return found

    async def _drop(self, key: tuple[str, str, int, str | None, str]) -> None:
        broker = self._brokers.pop(key, None)
        if broker is not None:
            with contextlib.suppress(Exception):
                await broker.stack.aclose()

    async def close(self) -> None:
        for key in list(self._brokers):
            await self._drop(key)
