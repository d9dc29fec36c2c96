"""Notification benchmark (issue 3). Prints one JSON object of figures.

A hub (`cityhub serve`, its own process) holds 100 entities and 1,000 active subscriptions;
each subscription selects one entity by id, so every update matches exactly 10 of them. A load
generator PATCHes the entities round-robin at a fixed rate (default 500 updates/s) for a
duration (default 60 s); every notification goes to one local HTTP receiver (one path per
subscription). Both run in this process, so one clock times both ends:

* latency = receipt of a notification at the receiver - receipt of the 204 that acknowledged
  the PATCH it reports (each PATCH writes a sequence number the notification carries);
* sent = acknowledged updates x 10 subscriptions; received = distinct (subscription, update)
  pairs that arrived (duplicates, allowed by at-least-once delivery, are counted apart).

Baseline, in the same run, before the load: the bare HTTP POST round trip of a notification
of the same size to the same receiver, with the hub's own HTTP client, one at a time.

Usage: python bench/notify.py [--duration 60] [--rate 500] [--postgres DSN]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from cityhub.broker.transports import HttpTransport

ENTITIES = 100
SUBSCRIPTIONS = 1000
CONNECTIONS = 16
BASELINE_POSTS = 2000
DRAIN_TIMEOUT_S = 60.0
WINDOW_S = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary_ms(values: list[float]) -> dict[str, float]:
    return {"p50": round(percentile(values, 50) * 1000, 2),
            "p99": round(percentile(values, 99) * 1000, 2),
            "max": round(max(values) * 1000, 2) if values else float("nan"),
            "mean": round(statistics.fmean(values) * 1000, 2) if values else float("nan")}


class Receiver(asyncio.Protocol):
    """A minimal HTTP/1.1 server: records (path, seq) -> first arrival time; answers 204."""

    arrivals: dict[tuple[bytes, int], float] = {}
    #: (path, seq) -> the notification's notifiedAt, as a Unix time
    notified: dict[tuple[bytes, int], float] = {}
    duplicates = 0
    posts = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            length = _content_length(head)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4:end + 4 + length]
            self.buffer = self.buffer[end + 4 + length:]
            path = head.split(b" ", 2)[1]
            Receiver.posts += 1
            if path != b"/baseline":
                notification = orjson.loads(body)
                for entity in notification["data"]:
                    key = (path, entity["seq"])
                    if key in Receiver.arrivals:
                        Receiver.duplicates += 1
                    else:
                        Receiver.arrivals[key] = now
                        Receiver.notified[key] = _unix(notification["notifiedAt"])
            self.transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")


def _unix(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _content_length(head: bytes) -> int:
    lower = head.lower()
    at = lower.find(b"content-length:")
    if at < 0:
        return 0
    stop = lower.find(b"\r\n", at)
    return int(lower[at + 15:stop if stop >= 0 else len(lower)])


class Patcher:
    """PATCH /entities/{id}/attrs over kept-alive connections; records each 204's arrival."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.acked: dict[int, float] = {}
        #: seq -> Unix time of the acknowledgement
        self.acked_unix: dict[int, float] = {}
        self.round_trips: list[float] = []
        self.errors = 0
        #: status line (or exception name) -> count, of the updates that failed
        self.failures: dict[str, int] = {}

    async def patch(self, entity: int, seq: int) -> None:
        body = b'{"seq":%d}' % seq
        request = (b"PATCH /ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:%d/attrs HTTP/1.1\r\n"
                   b"Host: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                   % (entity, self.host.encode(), len(body))) + body
        conn = self.idle.pop() if self.idle else await asyncio.open_connection(self.host,
                                                                              self.port)
        started = time.perf_counter()
        try:
            conn[1].write(request)
            head = await conn[0].readuntil(b"\r\n\r\n")
            length = _content_length(head)
            if length:
                await conn[0].readexactly(length)
        except (OSError, asyncio.IncompleteReadError) as exc:
            self.errors += 1
            self.failures[type(exc).__name__] = self.failures.get(type(exc).__name__, 0) + 1
            conn[1].close()
            return
        now = time.perf_counter()
        self.idle.append(conn)
        if head.startswith(b"HTTP/1.1 204"):
            self.acked[seq] = now
            self.acked_unix[seq] = time.time()
            self.round_trips.append(now - started)
        else:
            self.errors += 1
            status = head.split(b"\r\n", 1)[0].decode(errors="replace")
            self.failures[status] = self.failures.get(status, 0) + 1


def start_hub(db: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "cityhub.cli", "serve", "--db", db, "--port", str(port)],
        env={**os.environ, "CITYHUB_LOG_LEVEL": "warning", "CITYHUB_CITY": "0",
             "CITYHUB_SIMULATOR": "0"},
        stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the hub exited; see {log}")
        try:
            httpx.get(url + "/version", timeout=1).raise_for_status()
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the hub did not start")


def set_up(url: str, receiver_url: str) -> None:
    with httpx.Client(base_url=url + "/ngsi-ld/v1", timeout=30) as client:
        entities = [{"id": f"urn:ngsi-ld:Sensor:{k}", "type": "Sensor", "seq": -1,
                     "location": {"type": "Point", "coordinates": [127.29, 36.48]}}
                    for k in range(ENTITIES)]
        client.post("/entityOperations/upsert", json=entities).raise_for_status()
        for j in range(SUBSCRIPTIONS):
            response = client.post("/subscriptions", json={
                "type": "Subscription",
                "entities": [{"type": "Sensor", "id": f"urn:ngsi-ld:Sensor:{j % ENTITIES}"}],
                "watchedAttributes": ["seq"],
                "notification": {"format": "keyValues", "attributes": ["seq"],
                                 "endpoint": {"uri": f"{receiver_url}/s{j}"}}})
            response.raise_for_status()


async def baseline(receiver_url: str) -> list[float]:
    body = orjson.dumps({"id": "urn:ngsi-ld:Notification:" + uuid.uuid4().hex,
                         "type": "Notification",
                         "subscriptionId": "urn:ngsi-ld:Subscription:" + uuid.uuid4().hex,
                         "notifiedAt": "2026-01-01T00:00:00.000Z",
                         "triggerReason": "attributeUpdated",
                         "data": [{"id": "urn:ngsi-ld:Sensor:1", "type": "Sensor", "seq": 1}]})
    transport = HttpTransport()
    times = []
    headers = (("Content-Type", "application/json"),)
    for _ in range(BASELINE_POSTS):
        started = time.perf_counter()
        await transport.post(receiver_url + "/baseline", headers, body, 10.0)
        times.append(time.perf_counter() - started)
    await transport.close()
    return times


async def load(port: int, rate: float, duration: float) -> tuple[Patcher, float]:
    patcher = Patcher("127.0.0.1", port)
    slots = asyncio.Semaphore(CONNECTIONS)
    total = int(rate * duration)
    lag: list[float] = []
    tasks: set[asyncio.Task[None]] = set()

    async def one(seq: int) -> None:
        async with slots:
            await patcher.patch(seq % ENTITIES, seq)

    started = time.perf_counter()
    for seq in range(total):
        target = started + seq / rate
        wait = target - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        else:
            lag.append(-wait)
        task = asyncio.create_task(one(seq))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    return patcher, percentile(lag, 99) if lag else 0.0


async def measure(db: str, rate: float, duration: float, work: Path) -> dict[str, Any]:
    Receiver.arrivals, Receiver.notified, Receiver.duplicates, Receiver.posts = {}, {}, 0, 0
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Receiver, "127.0.0.1", 0)
    receiver_url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    port = free_port()
    hub = start_hub(db, port, work / "hub.log")
    try:
        await asyncio.to_thread(set_up, f"http://127.0.0.1:{port}", receiver_url)
        posts = await baseline(receiver_url)
        await asyncio.sleep(1.0)
        patcher, schedule_lag = await load(port, rate, duration)
        sent = {(f"/s{j}".encode(), seq) for seq in patcher.acked
                for j in range(seq % ENTITIES, SUBSCRIPTIONS, ENTITIES)}
        deadline = time.perf_counter() + DRAIN_TIMEOUT_S
        while time.perf_counter() < deadline and not sent <= Receiver.arrivals.keys():
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # late duplicates
        received = sent & Receiver.arrivals.keys()
        latencies = [Receiver.arrivals[key] - patcher.acked[key[1]] for key in received]
        # notifiedAt is stamped (to the millisecond) when the hub starts sending
        in_hub = [Receiver.notified[key] - patcher.acked_unix[key[1]] for key in received]
        # p99 per window of WINDOW_S seconds of load (by the update's place in the schedule)
        windows: dict[int, list[float]] = {}
        for key, latency in zip(received, latencies, strict=True):
            windows.setdefault(int(key[1] / rate // WINDOW_S), []).append(latency)
        return {
            "updates_per_s": rate,
            "duration_s": duration,
            "updates_acknowledged": len(patcher.acked),
            "update_errors": patcher.errors,
            "update_failures": patcher.failures,
            "schedule_lag_p99_ms": round(schedule_lag * 1000, 2),
            "patch_round_trip_ms": summary_ms(patcher.round_trips),
            "notifications_sent": len(sent),
            "notifications_received": len(received),
            "duplicates": Receiver.duplicates,
            "latency_ack_to_receipt_ms": summary_ms(latencies),
            "arrived_before_ack": sum(1 for x in latencies if x < 0),
            "latency_ack_to_notified_at_ms": summary_ms(in_hub),
            f"latency_p99_ms_per_{WINDOW_S}s": [round(percentile(windows[w], 99) * 1000, 1)
                                                 for w in sorted(windows)],
            "baseline_bare_post_ms": summary_ms(posts),
        }
    finally:
        hub.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            hub.wait(20)
        if hub.poll() is None:
            hub.kill()
        server.close()


async def postgres_dsn(dsn: str) -> tuple[str, str]:
    import asyncpg

    schema = f"bench_notify_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    separator = "&" if "?" in dsn else "?"
    return f"{dsn}{separator}search_path={schema}%2Cpublic", schema


async def drop_schema(dsn: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--rate", type=float, default=500.0, help="updates per second")
    parser.add_argument("--postgres", help="also run on this PostgreSQL (a scratch schema)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cityhub-bench-notify-"))
    figures: dict[str, Any] = {"bench": "notify", "subscriptions": SUBSCRIPTIONS,
                               "entities": ENTITIES,
                               "matching_subscriptions_per_update": SUBSCRIPTIONS // ENTITIES}
    try:
        figures["sqlite"] = await measure(f"sqlite:///{work / 'notify.db'}", args.rate,
                                          args.duration, work)
        if args.postgres:
            dsn, schema = await postgres_dsn(args.postgres)
            try:
                figures["postgres"] = await measure(dsn, args.rate, args.duration, work)
            finally:
                await drop_schema(args.postgres, schema)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
