"""The MQTT gateway: device messages from an MQTT broker into the ingest pipeline.

It subscribes (QoS 1) to ``cityhub/+/+/attrs/#`` (topics: `payloads`), or only to the topics
of the tenants it is given, on the broker named by an ``mqtt://[user:password@]host[:port]`` URL
and hands every message to the pipeline, which counts it under the source ``mqtt``.

- The session is persistent (clean start off, a fixed client id, no expiry): while the gateway
  is away the broker keeps its QoS 1 messages, so a broker that disconnects, or a gateway
  restart, loses nothing the broker accepted.
- The client speaks MQTT 5 and announces a large receive maximum, so the broker may keep many
  messages in flight to it instead of dropping what exceeds its queue.
- The client runs in a process of its own (`mqtt_client`): reading and acknowledging messages
  never waits for the pipeline's CPU work. Messages cross to the hub's loop through a pipe and
  a buffer of at most `buffer` messages; when it is full the gateway stops reading the pipe,
  the client stops reading the broker, and the broker holds the rest (a message is
  acknowledged when the client has read it, so a crash of the hub loses at most what was
  buffered). A client process that dies is started again.
- On a disconnect the gateway counts it (`disconnects` of the source), waits, backing off up to
  `max_backoff_s`, and connects again; it never stops on bad input.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import multiprocessing
import pickle
import threading
from typing import Any
from urllib.parse import unquote, urlsplit

from cityhub.broker.entities import check_tenant
from cityhub.ingest.mqtt_client import ClientOptions, run
from cityhub.ingest.payloads import SUBSCRIPTION, TOPIC_ROOT, BadPayload, parse_topic
from cityhub.ingest.pipeline import IngestPipeline
from cityhub.ngsild.errors import BadRequestData

log = logging.getLogger("cityhub.ingest.mqtt")
SOURCE = "mqtt"
#: messages handled on the hub's loop before it yields to other tasks
HANDLE_SLICE = 500
#: the most topics whose tenant and device the gateway remembers
MAX_TOPICS = 100_000


def parse_broker_url(url: str) -> tuple[str, int, str | None, str | None]:
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise BadRequestData("the MQTT broker must be an mqtt://host[:port] URL")
    return (parts.hostname, parts.port or 1883,
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None)


def tenant_subscription(tenant: str) -> str:
    """The topic filter of one tenant's devices ("" or "default": the default tenant)."""
    name = "default" if tenant in ("", "default") else tenant
    if any(ch in name for ch in "+#/") or not name:
        raise BadRequestData(f"{name[:64]!r} cannot be a tenant of the MQTT gateway")
    return f"{TOPIC_ROOT}/{name}/+/attrs/#"


class MqttGateway:
    def __init__(self, pipeline: IngestPipeline, url: str, *,
                 client_id: str = "cityhub-ingest", max_backoff_s: float = 5.0,
                 buffer: int = 100_000, tenants: tuple[str, ...] = ()) -> None:
        self.pipeline = pipeline
        host, port, username, password = parse_broker_url(url)
        #: the topic filters subscribed: every tenant's, or only those of `tenants`
        self.topics = tuple(tenant_subscription(t) for t in tenants) or (SUBSCRIPTION,)
        self.options = ClientOptions(host, port, username, password, client_id, self.topics,
                                     max_backoff_s)
        self.buffer = buffer
        #: set while the client is connected and subscribed
        self.connected = threading.Event()
        #: messages taken from the broker (good or bad)
        self.messages = 0
        self._inbox: collections.deque[tuple[str, bytes]] = collections.deque()
        #: topic -> (tenant, device id, format) of the topics that parsed, with a good tenant
        self._topics: dict[str, tuple[str, str, str | None]] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._process: Any = None
        self._conn: Any = None
        self._stop: Any = None
        self._reading = False
        self._stopping = False
        self._consumer: asyncio.Task[None] | None = None

    # -- life cycle --------------------------------------------------------------------------
    async def start(self) -> None:
        if self._consumer is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._consumer = asyncio.create_task(self._consume(), name="cityhub-mqtt-consumer")
        self._spawn()

    def _spawn(self) -> None:
        context = multiprocessing.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        self._stop = context.Event()
        self._process = context.Process(target=run, args=(self.options, send, self._stop),
                                        name="cityhub-mqtt-client", daemon=True)
        self._process.start()
        send.close()
        self._conn = receive
        self._resume_reading()

    async def stop(self) -> None:
        self._stopping = True
        if self._process is not None:
            self._stop.set()
            await asyncio.to_thread(self._process.join, 10)
            if self._process.is_alive():
                self._process.kill()
            self._read_all()
            self._pause_reading()
            self._conn.close()
            self._process = None
        if self._consumer is not None:
            await self._drain_inbox()
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer
            self._consumer = None
        self.connected.clear()

    async def wait_connected(self, timeout: float = 10.0) -> bool:
        return await asyncio.to_thread(self.connected.wait, timeout)

    # -- the pipe from the client process ----------------------------------------------------
    def _resume_reading(self) -> None:
        if not self._reading and self._loop is not None and self._conn is not None:
            self._loop.add_reader(self._conn.fileno(), self._read_all)
            self._reading = True

    def _pause_reading(self) -> None:
        if self._reading and self._loop is not None:
            self._loop.remove_reader(self._conn.fileno())
            self._reading = False

    def _read_all(self) -> None:
        try:
            while self._conn.poll():
                kind, value = pickle.loads(self._conn.recv_bytes())
                if kind == "m":
                    self._inbox.extend(value)
                    self._wake.set()
                    if len(self._inbox) >= self.buffer:  # the hub is behind: stop reading
                        self._pause_reading()
                        return
                elif kind == "connected":
                    log.info("MQTT gateway connected to %s:%s", self.options.host,
                             self.options.port)
                    self.connected.set()
                elif kind == "disconnected":
                    self.connected.clear()
                    self.pipeline.counters.add(SOURCE, disconnects=1)
                    log.warning("MQTT broker %s:%s disconnected (%s); reconnecting",
                                self.options.host, self.options.port, value)
        except (EOFError, OSError):
            self._pause_reading()
            self.connected.clear()
            if not self._stopping:
                log.error("the MQTT client process stopped; starting it again")
                assert self._loop is not None
                self._loop.call_later(1.0, self._restart)

    def _restart(self) -> None:
        if not self._stopping:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._spawn()

    # -- the hub's loop ----------------------------------------------------------------------
    async def _consume(self) -> None:
        while True:
            await self._wake.wait()
            await self._drain_inbox()

    async def _drain_inbox(self) -> None:
        self._wake.clear()
        handled = 0
        while self._inbox:
            topic, payload = self._inbox.popleft()
            try:
                await self.handle(topic, payload)
            except Exception:  # never let one message stop the gateway
                log.exception("an MQTT message could not be handled")
            handled += 1
            if handled % HANDLE_SLICE == 0:
                await asyncio.sleep(0)
                if len(self._inbox) < self.buffer // 2 and not self._stopping:
                    self._resume_reading()
        if not self._stopping:
            self._resume_reading()

    async def handle(self, topic: str, data: bytes) -> None:
        self.messages += 1
        known = self._topics.get(topic)
        if known is not None:  # a device's topic seen before: its tenant is checked
            tenant, device_id, kind = known
            await self.pipeline.device_payload(SOURCE, tenant, device_id, data, kind)
            return
        try:
            parsed = parse_topic(topic)
        except BadPayload as exc:
            self.pipeline.counters.received(SOURCE)
            self.pipeline.reject(SOURCE, "", f"{exc.detail} (topic {topic[:200]!r})",
                                 payload_bytes=len(data),
                                 payload_digest=self.pipeline.pseudonymiser.digest(data))
            return
        try:
            tenant = check_tenant(parsed.tenant)
        except BadRequestData as exc:
            self.pipeline.counters.received(SOURCE)
            self.pipeline.reject(SOURCE, "", exc.detail, device_id=parsed.device_id,
                                 payload_bytes=len(data))
            return
        if len(self._topics) >= MAX_TOPICS:
            self._topics.clear()
        self._topics[topic] = (tenant, parsed.device_id, parsed.format)
        await self.pipeline.device_payload(SOURCE, tenant, parsed.device_id, data, parsed.format)
