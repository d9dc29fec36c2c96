"""The MQTT client of the gateway, run in a process of its own (`mqtt.MqttGateway`).

Reading and acknowledging MQTT messages is I/O work that must never wait for the pipeline's CPU
work; in one Python process the two contend for the interpreter lock and the reader starves,
so the broker's queue overflows. Here the client (aiomqtt, MQTT 5) lives in a child process and
sends what it reads to the hub through a pipe, in batches of at most `BATCH` messages every
`FLUSH_S` seconds: ``("m", [(topic, payload), ...])``, ``("connected", None)``,
``("disconnected", reason)``. When the hub reads slowly the pipe fills, the child stops
reading, and the broker keeps the messages (within its limits).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger("cityhub.ingest.mqtt")
RECEIVE_MAXIMUM = 10_000
BATCH = 1000
FLUSH_S = 0.005


@dataclass(frozen=True, slots=True)
class ClientOptions:
    host: str
    port: int
    username: str | None
    password: str | None
    client_id: str
    topics: tuple[str, ...]
    max_backoff_s: float = 5.0


def _client(options: ClientOptions) -> aiomqtt.Client:
    properties = Properties(PacketTypes.CONNECT)
    properties.ReceiveMaximum = RECEIVE_MAXIMUM
    properties.SessionExpiryInterval = 0xFFFFFFFF  # the broker keeps the session while away
    return aiomqtt.Client(
        options.host, options.port, username=options.username, password=options.password,
        identifier=options.client_id, protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=False, properties=properties, keepalive=10, timeout=5)


class _Sender:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.batch: list[tuple[str, bytes]] = []

    def send(self, kind: str, value: Any) -> None:
        self.conn.send_bytes(pickle.dumps((kind, value), protocol=pickle.HIGHEST_PROTOCOL))

    def flush(self) -> None:
        if self.batch:
            batch, self.batch = self.batch, []
            self.send("m", batch)


async def _flusher(sender: _Sender) -> None:
    while True:
        await asyncio.sleep(FLUSH_S)
        sender.flush()


async def _read(options: ClientOptions, sender: _Sender) -> None:
    backoff = 0.1
    connected = False
    while True:
        try:
            async with _client(options) as client:
                for topic in options.topics:
                    await client.subscribe(topic, qos=1)
                connected = True
                sender.send("connected", None)
                backoff = 0.1
                async for message in client.messages:
                    payload = message.payload
                    sender.batch.append((message.topic.value, payload if isinstance(
                        payload, bytes) else str(payload).encode()))
                    if len(sender.batch) >= BATCH:
                        sender.flush()
        except aiomqtt.MqttError as exc:
            sender.flush()
            if connected:
                connected = False
                sender.send("disconnected", str(exc)[:200])
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, options.max_backoff_s)


async def _main(options: ClientOptions, conn: Connection, stop: Any) -> None:
    sender = _Sender(conn)
    tasks = [asyncio.create_task(_read(options, sender)),
             asyncio.create_task(_flusher(sender))]
    while not stop.is_set():
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    sender.flush()


def run(options: ClientOptions, conn: Connection, stop: Any) -> None:
    """The child process's entry point."""
    try:
        asyncio.run(_main(options, conn, stop))
    except (BrokenPipeError, EOFError, KeyboardInterrupt):
        pass
    finally:
        conn.close()
