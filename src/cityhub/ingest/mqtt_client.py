"""The MQTT client of the gateway, run in a process of its own (`mqtt.MqttGateway`).

Reading and acknowledging MQTT messages is I/O work that must never wait for the pipeline's CPU
work; in one Python process the two contend for the interpreter lock and the reader starves,
so the broker's queue overflows. Here the client lives in a child process and sends what it
reads to the hub through a pipe, in batches of at most `BATCH` messages every `FLUSH_S`
seconds: ``("m", [(topic, payload), ...])``, ``("connected", None)``,
``("disconnected", reason)``. When the hub reads slowly the pipe fills, the child stops
reading, and the broker keeps the messages (within its limits).

The client speaks just the part of MQTT 5 a subscriber needs (CONNECT with a persistent
session and a receive maximum, SUBSCRIBE at QoS 1, PUBLISH in with its PUBACK, PINGREQ,
DISCONNECT), parsing packets straight out of the socket's buffer and answering every packet
of one read with one write. A general client (paho-mqtt under aiomqtt) spent about 150-400 µs
of CPU a message on objects the gateway never looks at (MQTT 5 properties, a lock per message,
log records); on 2 cores that was the core the hub needed, and the gateway could not read much
more than 1,500 messages/s while a publisher was sending. This one needs a few µs a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger("cityhub.ingest.mqtt")
RECEIVE_MAXIMUM = 10_000
BATCH = 1000
FLUSH_S = 0.005
KEEPALIVE_S = 10
#: how long the broker may take to answer CONNECT and SUBSCRIBE
TIMEOUT_S = 5.0
SESSION_EXPIRY = 0xFFFFFFFF  # the broker keeps the session while the gateway is away
READ_SIZE = 256 * 1024

# packet types (MQTT 5.0, 2.1.2)
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 12, 13, 14
PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"  # reason 0, normal disconnection: the session is kept


class MqttFailure(Exception):
    """The broker refused us, or spoke something that is not MQTT 5: reconnect later."""


class HubGone(Exception):
    """The pipe to the hub is closed: nobody reads what this process would send."""


@dataclass(frozen=True, slots=True)
class ClientOptions:
    host: str
    port: int
    username: str | None
    password: str | None
    client_id: str
    topics: tuple[str, ...]
    max_backoff_s: float = 5.0


# -- encoding -------------------------------------------------------------------------------
def varint(n: int) -> bytes:
    """MQTT's variable byte integer (1.5.5)."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8_string(text: str) -> bytes:
    """MQTT's UTF-8 encoded string (1.5.4)."""
    data = text.encode("utf-8")
    return len(data).to_bytes(2, "big") + data


def packet(first_byte: int, body: bytes) -> bytes:
    """A control packet: fixed header (type and flags, remaining length), then `body`."""
    return bytes([first_byte]) + varint(len(body)) + body


def connect_packet(options: ClientOptions) -> bytes:
    """CONNECT: MQTT 5, clean start off, a session that never expires, a large receive
    maximum (so the broker keeps many messages in flight to us instead of dropping what
    exceeds its queue), user name and password when given."""
    flags = 0
    tail = b""
    if options.username is not None:
        flags |= 0x80
        tail += utf8_string(options.username)
        if options.password is not None:
            flags |= 0x40
            tail += utf8_string(options.password)
    properties = (b"\x11" + SESSION_EXPIRY.to_bytes(4, "big")
                  + b"\x21" + RECEIVE_MAXIMUM.to_bytes(2, "big"))
    body = (utf8_string("MQTT") + bytes([5, flags]) + KEEPALIVE_S.to_bytes(2, "big")
            + varint(len(properties)) + properties + utf8_string(options.client_id) + tail)
    return packet(CONNECT << 4, body)


def subscribe_packet(packet_id: int, topics: tuple[str, ...]) -> bytes:
    """SUBSCRIBE to every topic filter at QoS 1 (options byte 1: no-local off, retain as
    published, retained messages sent)."""
    body = packet_id.to_bytes(2, "big") + b"\x00"
    for topic in topics:
        body += utf8_string(topic) + b"\x01"
    return packet((SUBSCRIBE << 4) | 0x02, body)


# -- decoding -------------------------------------------------------------------------------
class PacketReader:
    """Splits a byte stream into MQTT packets, whatever the reads' boundaries.

    `feed(data)` takes the next bytes and returns the complete packets as (first byte, body)
    pairs; a packet cut by the end of a read waits for the rest."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buffer = self._buffer + data if self._buffer else data
        end = len(buffer)
        out = []
        offset = 0
        while end - offset >= 2:
            length = 0
            shift = 0
            position = offset + 1
            while True:
                if position >= end:
                    self._buffer = buffer[offset:]
                    return out
                digit = buffer[position]
                position += 1
                length |= (digit & 0x7F) << shift
                if not digit & 0x80:
                    break
                shift += 7
                if shift > 21:
                    raise MqttFailure("a packet length longer than four bytes")
            if position + length > end:
                break
            out.append((buffer[offset], buffer[position:position + length]))
            offset = position + length
        self._buffer = buffer[offset:]
        return out


def read_varint(data: bytes, position: int) -> tuple[int, int]:
    """(value, position after it) of the variable byte integer at `position`."""
    value = shift = 0
    while True:
        if position >= len(data) or shift > 21:
            raise MqttFailure("a malformed variable byte integer")
        digit = data[position]
        position += 1
        value |= (digit & 0x7F) << shift
        if not digit & 0x80:
            return value, position
        shift += 7


def decode_publish(first_byte: int, body: bytes) -> tuple[str, bytes, int, bytes]:
    """(topic, payload, QoS, packet id bytes) of a PUBLISH's body (3.3). Properties (topic
    aliases are never sent: we announce no Topic Alias Maximum) are skipped."""
    qos = (first_byte >> 1) & 0x03
    if qos == 3 or len(body) < 2:
        raise MqttFailure("a malformed PUBLISH")
    topic_end = 2 + int.from_bytes(body[:2], "big")
    topic = body[2:topic_end].decode("utf-8", "replace")
    packet_id = b""
    position = topic_end
    if qos:
        packet_id = body[position:position + 2]
        position += 2
    properties, position = read_varint(body, position)
    position += properties
    if position > len(body):
        raise MqttFailure("a malformed PUBLISH")
    return topic, body[position:], qos, packet_id


def _reason(code: int) -> str:
    return f"reason code 0x{code:02x}"


# -- the session ----------------------------------------------------------------------------
class _Sender:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.batch: list[tuple[str, bytes]] = []

    def send(self, kind: str, value: Any) -> None:
        try:
            self.conn.send_bytes(pickle.dumps((kind, value), protocol=pickle.HIGHEST_PROTOCOL))
        except (OSError, EOFError, ValueError) as exc:  # ValueError: the pipe is closed
            raise HubGone(str(exc)) from None

    def flush(self) -> None:
        if self.batch:
            batch, self.batch = self.batch, []
            self.send("m", batch)


async def _flusher(sender: _Sender) -> None:
    while True:
        await asyncio.sleep(FLUSH_S)
        sender.flush()


async def _pinger(writer: asyncio.StreamWriter, heard: list[float]) -> None:
    """PINGREQ every half keep-alive; a broker silent for longer than the keep-alive and a
    half (no PINGRESP) is gone: the connection is dropped, so the read ends. (A timeout on
    each read would cost a task a read.)"""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(KEEPALIVE_S / 2)
        if loop.time() - heard[0] > KEEPALIVE_S * 1.5:
            writer.transport.abort()
            return
        writer.write(PINGREQ_PACKET)


async def session(options: ClientOptions, sender: _Sender, on_subscribed: Any) -> None:
    """One connection: connect, subscribe, then read until the connection ends (raises
    OSError, MqttFailure or TimeoutError; returns only when cancelled)."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(options.host, options.port), TIMEOUT_S)
    pinger: asyncio.Task[None] | None = None
    try:
        writer.write(connect_packet(options))
        packets = PacketReader()
        pending: list[tuple[int, bytes]] = []
        while not pending:  # CONNACK comes first
            data = await asyncio.wait_for(reader.read(READ_SIZE), TIMEOUT_S)
            if not data:
                raise MqttFailure("the broker closed the connection before CONNACK")
            pending = packets.feed(data)
        first, body = pending.pop(0)
        if first >> 4 != CONNACK or len(body) < 2:
            raise MqttFailure("the broker did not answer CONNECT with CONNACK")
        if body[1] >= 0x80:
            raise MqttFailure(f"the broker refused the connection ({_reason(body[1])})")
        writer.write(subscribe_packet(1, options.topics))
        loop = asyncio.get_running_loop()
        heard = [loop.time()]  # when the broker last sent something
        pinger = asyncio.create_task(_pinger(writer, heard))
        subscribed = False
        #: QoS 2 packet ids received and not yet released (delivered once)
        unreleased: set[bytes] = set()
        batch = sender.batch
        while True:
            answer = bytearray()
            for first, body in pending:
                kind = first >> 4
                if kind == PUBLISH:
                    topic, payload, qos, packet_id = decode_publish(first, body)
                    if qos == 1:
                        batch.append((topic, payload))
                        answer += b"\x40\x02" + packet_id
                    elif qos == 0:
                        batch.append((topic, payload))
                    else:
                        if packet_id not in unreleased:
                            unreleased.add(packet_id)
                            batch.append((topic, payload))
                        answer += b"\x50\x02" + packet_id
                elif kind == PUBREL:
                    unreleased.discard(body[:2])
                    answer += b"\x70\x02" + body[:2]
                elif kind == SUBACK:
                    properties, position = read_varint(body, 2)
                    codes = body[position + properties:]
                    failed = [c for c in codes if c >= 0x80]
                    if failed:
                        raise MqttFailure(f"the broker refused the subscription "
                                          f"({_reason(failed[0])})")
                    if not subscribed:
                        subscribed = True
                        on_subscribed()
                elif kind == DISCONNECT:
                    code = body[0] if body else 0
                    raise MqttFailure(f"the broker disconnected ({_reason(code)})")
                elif kind not in (PINGRESP, PUBACK, PUBCOMP):
                    raise MqttFailure(f"unexpected packet type {kind}")
            if answer:
                writer.write(bytes(answer))
            if len(batch) >= BATCH:
                sender.flush()
                batch = sender.batch
            data = await reader.read(READ_SIZE)
            if not data:
                raise MqttFailure("the broker closed the connection")
            heard[0] = loop.time()
            pending = packets.feed(data)
            batch = sender.batch  # the flusher may have swapped it
    except asyncio.CancelledError:
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            writer.write(DISCONNECT_PACKET)
            await asyncio.wait_for(writer.drain(), 1.0)
        raise
    finally:
        if pinger is not None:
            pinger.cancel()
        writer.close()
        with contextlib.suppress(OSError, asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(writer.wait_closed(), 1.0)


async def _read(options: ClientOptions, sender: _Sender) -> None:
    backoff = 0.1
    connected = False

    def on_subscribed() -> None:
        nonlocal connected, backoff
        connected = True
        backoff = 0.1
        sender.send("connected", None)

    while True:
        try:
            await session(options, sender, on_subscribed)
        except (TimeoutError, OSError, MqttFailure) as exc:
            sender.flush()
            reason = str(exc)[:200] or type(exc).__name__
            if connected:
                connected = False
                sender.send("disconnected", reason)
            elif isinstance(exc, MqttFailure):
                log.warning("MQTT broker %s:%s: %s", options.host, options.port, reason)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, options.max_backoff_s)


async def _main(options: ClientOptions, conn: Connection, stop: Any) -> None:
    sender = _Sender(conn)
    tasks = [asyncio.create_task(_read(options, sender)),
             asyncio.create_task(_flusher(sender))]
    while not stop.is_set() and not tasks[0].done():
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task  # HubGone goes on up: there is nobody left to send to
    sender.flush()


def run(options: ClientOptions, conn: Connection, stop: Any) -> None:
    """The child process's entry point."""
    try:
        asyncio.run(_main(options, conn, stop))
    except (HubGone, KeyboardInterrupt):
        pass
    finally:
        conn.close()
