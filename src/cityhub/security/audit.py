"""The audit log: append-only JSON Lines, one record per write, subscription change and read
of personal data (who, when, what), queryable by admins (`GET /cityhub/v1/audit`).

A record holds the caller's subject (key id or JWT subject, never a credential), its role,
the tenant, the operation, the request's method, path and (truncated) query, the status
answered, and the client address. Each record is one `write` of one line on a file opened
with O_APPEND, so concurrent workers on one host never interleave records.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

MAX_WHAT = 1024


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class AuditQuery:
    tenants: frozenset[str] | None = None  # None: every tenant
    subject: str | None = None
    action: str | None = None
    since: str | None = None
    until: str | None = None
    limit: int = 100
    offset: int = 0


class AuditLog:
    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def record(self, *, subject: str, role: str, tenant: str, action: str, method: str,
               what: str, status: int, client: str | None) -> None:
        line = orjson.dumps({"at": now_iso(), "subject": subject, "role": role,
                             "tenant": tenant, "action": action, "method": method,
                             "what": what[:MAX_WHAT], "status": status,
                             "client": client}) + b"\n"
        with self._lock:
            os.write(self._fd, line)

    def _records(self) -> Iterator[dict[str, Any]]:
        with open(self.path, "rb") as source:
            for line in source:
                try:
                    yield orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # a torn last line after a crash

    def query(self, query: AuditQuery) -> tuple[list[dict[str, Any]], int]:
        """Matching records, oldest first, and how many match in all."""
        found: list[dict[str, Any]] = []
        count = 0
        for item in self._records():
            if query.tenants is not None and item.get("tenant") not in query.tenants:
                continue
            if query.subject is not None and item.get("subject") != query.subject:
                continue
            if query.action is not None and item.get("action") != query.action:
                continue
            at = item.get("at", "")
            if (query.since is not None and at < query.since) or (
                    query.until is not None and at >= query.until):
                continue
            if query.offset <= count < query.offset + query.limit:
                found.append(item)
            count += 1
        return found, count

    def close(self) -> None:
        with self._lock:
            os.close(self._fd)
