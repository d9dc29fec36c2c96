"""Delivery with real processes: `cityhub serve` killed with SIGKILL in the middle of a stream
of updates and restarted, a receiver that is down for a while and comes back, and (PostgreSQL)
a standby worker taking over delivery from a killed one. Sent and received are counted: every
acknowledged update arrives, in order per subscription; duplicates are allowed (at least once)
and counted."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from .support import Receiver, postgres_schema

ENTITY = "urn:ngsi-ld:Counter:1"
#: delivery settings of the hub processes: retry fast, give up never (within a test)
HUB_ENV = {"CITYHUB_NOTIFY_RETRY_BASE": "0.05", "CITYHUB_NOTIFY_RETRY_MAX": "0.25",
           "CITYHUB_NOTIFY_TIMEOUT": "2", "CITYHUB_LOG_LEVEL": "warning",
           "CITYHUB_CITY": "0", "CITYHUB_SIMULATOR": "0"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class HubProcess:
    """`cityhub serve` on a free port; `kill()` sends SIGKILL."""

    def __init__(self, db: str) -> None:
        self.db = db
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> HubProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cityhub.cli", "serve", "--db", self.db, "--port",
             str(self.port)],
            env={**os.environ, **HUB_ENV}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the hub process exited"
            try:
                httpx.get(self.url + "/version", timeout=1).raise_for_status()
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError("the hub process did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The DSN of an empty store: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    with postgres_schema_dsn() as dsn:
        yield dsn


@contextmanager
def postgres_schema_dsn() -> Iterator[str]:
    """A DSN whose search_path is a fresh schema (dropped afterwards), for hub processes."""
    with postgres_schema() as (dsn, schema):
        asyncio.run(_execute(dsn, f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in dsn else "?"
        yield f"{dsn}{separator}search_path={schema}%2Cpublic"


async def _execute(dsn: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    try:
        yield found
    finally:
        found.close()


def subscribe(url: str, endpoint: str) -> str:
    response = httpx.post(url + "/ngsi-ld/v1/subscriptions", json={
        "type": "Subscription", "entities": [{"type": "Counter"}],
        "notification": {"format": "keyValues", "endpoint": {"uri": endpoint}}}, timeout=10)
    assert response.status_code == 201, response.text
    return response.headers["location"].rsplit("/", 1)[1]


class Updates:
    """PATCHes the counter 1, 2, 3, ... through whichever hub URL is current, in a thread;
    remembers which values were acknowledged (204)."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.acknowledged: list[int] = []
        self.attempted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Updates:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(10)

    def wait_for(self, acknowledged: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acknowledged) < acknowledged:
            assert time.monotonic() < deadline, "the hub stopped acknowledging updates"
            time.sleep(0.02)

    def _run(self) -> None:
        value = 0
        with httpx.Client(timeout=2) as client:
            while not self._stop.is_set():
                value += 1
                self.attempted = value
                url = self.urls[value % len(self.urls)]
                try:
                    response = client.patch(f"{url}/ngsi-ld/v1/entities/{ENTITY}/attrs",
                                            json={"count": value})
                except httpx.HTTPError:
                    time.sleep(0.02)
                    continue
                if response.status_code == 204:
                    self.acknowledged.append(value)
                time.sleep(0.002)


def counts(receiver: Receiver, path: str) -> list[int]:
    return [body["data"][0]["count"] for body in receiver.bodies(path)]


def assert_all_arrived_in_order(receiver: Receiver, path: str, acknowledged: list[int]
                                ) -> dict[str, int]:
    wanted = set(acknowledged)
    receiver.wait_for(lambda got: wanted <= {r.body["data"][0]["count"] for r in got
                                             if r.path == path}, timeout=15)
    got = counts(receiver, path)
    missing = sorted(wanted - set(got))
    assert not missing, f"lost {len(missing)} of {len(wanted)}: {missing[:20]}"
    first_seen = list(dict.fromkeys(got))
    assert first_seen == sorted(first_seen), "notifications arrived out of order"
    return {"acknowledged": len(wanted), "received": len(got),
            "duplicates": len(got) - len(first_seen)}


def test_a_hub_killed_mid_stream_loses_no_acknowledged_update(db: str,
                                                              receiver: Receiver) -> None:
    hub = HubProcess(db).start()
    try:
        subscribe(hub.url, receiver.url + "/kill")
        created = httpx.post(hub.url + "/ngsi-ld/v1/entities", json={
            "id": ENTITY, "type": "Counter", "count": 0}, timeout=10)
        assert created.status_code == 201
        with Updates([hub.url]) as updates:
            updates.wait_for(30)
            hub.kill()  # SIGKILL, with PATCHes and notifications in flight
            before_restart = len(updates.acknowledged)
            hub.start()
            updates.wait_for(before_restart + 30)
        figures = assert_all_arrived_in_order(receiver, "/kill", [0, *updates.acknowledged])
        print(f"SIGKILL mid-stream ({db.split(':')[0]}): {figures}")
        assert figures["received"] >= figures["acknowledged"]
    finally:
        hub.stop()


def test_a_receiver_down_for_a_while_gets_everything_and_others_are_not_slowed(
        db: str, receiver: Receiver) -> None:
    other = Receiver()
    hub = HubProcess(db).start()
    try:
        down_id = subscribe(hub.url, receiver.url + "/down")
        subscribe(hub.url, other.url + "/up")
        assert httpx.post(hub.url + "/ngsi-ld/v1/entities", json={
            "id": ENTITY, "type": "Counter", "count": 0}, timeout=10).status_code == 201
        receiver.down()
        sent_at: dict[int, float] = {}
        with httpx.Client(base_url=hub.url + "/ngsi-ld/v1", timeout=5) as client:
            for value in range(1, 31):
                response = client.patch(f"/entities/{ENTITY}/attrs", json={"count": value})
                assert response.status_code == 204
                sent_at[value] = time.monotonic()
                time.sleep(0.03)
            other.wait_count(31, timeout=5)
            late = [r.at - sent_at[r.body["data"][0]["count"]] for r in other.received
                    if r.body["data"][0]["count"] in sent_at]
            assert max(late) < 0.5, "a dead endpoint slowed another subscription"
            time.sleep(0.3)
            status = client.get(f"/subscriptions/{down_id}").json()
            assert status["notification"]["timesFailed"] > 0
            assert status["notification"]["status"] == "failed"
            assert status["status"] == "active"
            receiver.up()
            assert_all_arrived_in_order(receiver, "/down", list(range(31)))
            assert_all_arrived_in_order(other, "/up", list(range(31)))
    finally:
        hub.stop()
        other.close()


@pytest.mark.postgres
def test_a_standby_worker_takes_over_delivery(receiver: Receiver) -> None:
    with postgres_schema_dsn() as dsn:
        first = HubProcess(dsn).start()
        second = HubProcess(dsn).start()
        try:
            # made through the standby: the deliverer learns of it from the store
            subscribe(second.url, receiver.url + "/workers")
            time.sleep(1.0)
            assert httpx.post(first.url + "/ngsi-ld/v1/entities", json={
                "id": ENTITY, "type": "Counter", "count": 0}, timeout=10).status_code == 201
            urls = [first.url, second.url]
            with Updates(urls) as updates:
                updates.wait_for(30)
                first.kill()
                urls.remove(first.url)  # the load balancer stops sending to it
                updates.wait_for(len(updates.acknowledged) + 30)
            assert_all_arrived_in_order(receiver, "/workers", [0, *updates.acknowledged])
        finally:
            first.stop()
            second.stop()
