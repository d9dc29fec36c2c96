"""Helpers of the notification tests: a local HTTP receiver of notifications (records what
arrives, can fail or go down on demand; it runs in threads, so it serves an in-process hub and a
hub process alike), and a PostgreSQL schema for code that is not async."""

from __future__ import annotations

import asyncio
import http.server
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from conftest import postgres_test_schema


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    at: float  # time.monotonic() on arrival
    status: int  # what the receiver answered


class Receiver:
    """Answers POSTs with `status` (204) and records them; `down()` refuses connections (and
    drops kept-alive ones) until `up()`."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.status = 204
        self.is_down = False
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                data = self.rfile.read(length)
                if receiver.is_down:
                    self.close_connection = True
                    return
                with receiver._changed:
                    receiver.received.append(Received(
                        self.path, {k.lower(): v for k, v in self.headers.items()},
                        json.loads(data), time.monotonic(), receiver.status))
                    receiver._changed.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._handler = Handler
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._server: http.server.ThreadingHTTPServer | None = None
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        self.is_down = False
        if self._server is None:
            server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self._handler,
                                                     bind_and_activate=False)
            server.allow_reuse_address = True
            server.daemon_threads = True
            server.server_bind()
            server.server_activate()
            self._server = server
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                             daemon=True, name=f"receiver-{self.port}").start()

    def down(self) -> None:
        self.is_down = True
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def close(self) -> None:
        self.down()

    def bodies(self, path: str | None = None, *, accepted: bool = False) -> list[Any]:
        """What arrived (at `path`); with `accepted`, only what was answered with a 2xx."""
        with self._lock:
            return [r.body for r in self.received if (path is None or r.path == path)
                    and (not accepted or 200 <= r.status < 300)]

    def wait_for(self, done: Callable[[list[Received]], bool], timeout: float = 10.0
                 ) -> list[Received]:
        """Block until `done(received)` holds (or the timeout passes); return what arrived."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done(self.received):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(min(left, 0.05))
            return list(self.received)

    def wait_count(self, count: int, path: str | None = None, timeout: float = 10.0
                   ) -> list[Any]:
        self.wait_for(lambda got: sum(1 for r in got if path is None or r.path == path)
                      >= count, timeout)
        return self.bodies(path)


def entities_of(bodies: list[Any]) -> list[dict[str, Any]]:
    """Every entity of every notification body, in arrival order."""
    return [entity for body in bodies for entity in body["data"]]


@contextmanager
def postgres_schema() -> Iterator[tuple[str, str]]:
    """`conftest.postgres_test_schema` (DSN, fresh schema name; skips or fails without
    PostgreSQL) for synchronous code: module fixtures, tests that start processes."""
    loop = asyncio.new_event_loop()
    schema = postgres_test_schema()
    try:
        found = loop.run_until_complete(schema.__aenter__())
        try:
            yield found
        finally:
            loop.run_until_complete(schema.__aexit__(None, None, None))
    finally:
        loop.close()
