"""Subscriptions and pending notifications on SQLite: tables and the Store methods over them.

`SqliteSubscriptions` is mixed into `SqliteStore` and uses its writer queue (`_write`) and
reader pool (`_read`). One process owns a SQLite database, so it is always the one delivering
notifications, and its single writer orders everything: change records are claimed by reading
them and deleted in the writer job that stores the notifications made of them.

Tables:

* `subscriptions`: one row per subscription (the document of `Subscription.to_doc()`) with its
  delivery figures in columns of their own, so that recording a delivery never rewrites the
  document and a PATCH never loses a count;
* `subscription_generation`: one counter, bumped in the transaction of every change to a
  subscription, that other readers poll to know when to reload;
* `pending_notifications`: notifications due and not yet delivered, in `nid` order
  (AUTOINCREMENT: a number is never reused, so "after nid N" stays meaningful).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import orjson

from cityhub.ngsild.errors import AlreadyExists
from cityhub.store.base import (
    ChangeRecord,
    DeliveryReport,
    DeliveryStatus,
    PendingNotification,
    SubscriptionRecord,
)

CHUNK = 900

DDL = """
CREATE TABLE IF NOT EXISTS subscriptions (
    sid INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    doc BLOB NOT NULL,
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    times_sent INTEGER NOT NULL DEFAULT 0,
    times_failed INTEGER NOT NULL DEFAULT 0,
    last_notification TEXT,
    last_success TEXT,
    last_failure TEXT,
    last_status TEXT,
    UNIQUE (tenant, id)
);
CREATE TABLE IF NOT EXISTS subscription_generation (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO subscription_generation (one, value) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS pending_notifications (
    nid INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    at TEXT NOT NULL,
    reason TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_notifications_by_subscription
    ON pending_notifications (tenant, subscription_id, nid);
"""

_COLUMNS = ("tenant, id, doc, created_at, modified_at, times_sent, times_failed, "
            "last_notification, last_success, last_failure, last_status")
_BUMP = "UPDATE subscription_generation SET value = value + 1 WHERE one = 1"



def _record(row: tuple[Any, ...]) -> SubscriptionRecord:
    return SubscriptionRecord(row[0], row[1], orjson.loads(row[2]), row[3], row[4],
                              DeliveryStatus(*row[5:11]))


def _pending(row: tuple[Any, ...]) -> PendingNotification:
    return PendingNotification(row[1], row[2], row[3], row[4], row[5], bytes(row[6]), row[0])


class SqliteSubscriptions:
    """The subscription part of the Store protocol (see `store.base`), for SqliteStore."""

    _read: Callable[..., Any]
    _write: Callable[..., Any]
    _tenants: set[str]

    async def create_subscription(self, record: SubscriptionRecord) -> None:
        doc = orjson.dumps(record.doc)

        def run(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM subscriptions WHERE tenant = ? AND id = ?",
                            (record.tenant, record.id)).fetchone():
                raise AlreadyExists(f"subscription {record.id} already exists")
            conn.execute("INSERT OR IGNORE INTO tenants (name, created_at) "
                         "VALUES (?, datetime('now'))", (record.tenant,))
            conn.execute(
                "INSERT INTO subscriptions (tenant, id, doc, created_at, modified_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (record.tenant, record.id, doc, record.created_at, record.modified_at))
            conn.execute(_BUMP)

        await self._write(run)
        self._tenants.add(record.tenant)

    async def replace_subscription(self, record: SubscriptionRecord) -> bool:
        doc = orjson.dumps(record.doc)

        def run(conn: sqlite3.Connection) -> bool:
            changed = conn.execute(
                "UPDATE subscriptions SET doc = ?, modified_at = ? WHERE tenant = ? AND id = ?",
                (doc, record.modified_at, record.tenant, record.id)).rowcount > 0
            if changed:
                conn.execute(_BUMP)
            return changed

        return await self._write(run)

    async def delete_subscription(self, tenant: str, subscription_id: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            gone = conn.execute("DELETE FROM subscriptions WHERE tenant = ? AND id = ?",
                                (tenant, subscription_id)).rowcount > 0
            if gone:
                conn.execute("DELETE FROM pending_notifications WHERE tenant = ? AND "
                             "subscription_id = ?", (tenant, subscription_id))
                conn.execute(_BUMP)
            return gone

        return await self._write(run)

    async def get_subscription(self, tenant: str, subscription_id: str
                               ) -> SubscriptionRecord | None:
        row = await self._read(lambda c: c.execute(
            f"SELECT {_COLUMNS} FROM subscriptions WHERE tenant = ? AND id = ?",
            (tenant, subscription_id)).fetchone())
        return _record(row) if row is not None else None

    async def list_subscriptions(
        self, tenant: str | None, *, limit: int | None = None, offset: int = 0
    ) -> tuple[list[SubscriptionRecord], int]:
        where, params = ("WHERE tenant = ?", [tenant]) if tenant is not None else ("", [])

        def run(conn: sqlite3.Connection) -> tuple[list[SubscriptionRecord], int]:
            total = conn.execute(f"SELECT count(*) FROM subscriptions {where}",
                                 params).fetchone()[0]
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM subscriptions {where} ORDER BY sid LIMIT ? OFFSET ?",
                [*params, -1 if limit is None else limit, offset]).fetchall()
            return [_record(r) for r in rows], total

        return await self._read(run)

    async def subscriptions_generation(self) -> int:
        return await self._read(lambda c: c.execute(
            "SELECT value FROM subscription_generation WHERE one = 1").fetchone()[0])

    # -- notifications -----------------------------------------------------------------------
    async def dispatch_changes(
        self, limit: int, route: Callable[[list[ChangeRecord]], list[PendingNotification]]
    ) -> tuple[int, list[PendingNotification]]:
        def claim(conn: sqlite3.Connection) -> list[ChangeRecord]:
            return [
                ChangeRecord(seq, tenant, entity_id, at,
                             orjson.loads(previous) if previous is not None else None,
                             orjson.loads(current) if current is not None else None)
                for seq, tenant, entity_id, at, previous, current in conn.execute(
                    "SELECT seq, tenant, entity_id, at, previous, current FROM change_outbox "
                    "ORDER BY seq LIMIT ?", (limit,))
            ]

        # This process is the only consumer (see the module docstring): what it read stays
        # unclaimed by anyone else until the write below deletes it.
        changes = await self._read(claim)
        if not changes:
            return 0, []
        notifications = route(changes)
        seqs = [c.seq for c in changes]

        def store(conn: sqlite3.Connection) -> None:
            if notifications:
                conn.executemany(
                    "INSERT INTO pending_notifications (tenant, subscription_id, "
                    "notification_id, at, reason, data) VALUES (?, ?, ?, ?, ?, ?)",
                    [(n.tenant, n.subscription_id, n.notification_id, n.at, n.reason, n.data)
                     for n in notifications])
                # one writer, one statement: the rows took consecutive numbers up to the last
                last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
                for nid, n in enumerate(notifications, last - len(notifications) + 1):
                    n.nid = nid
            for start in range(0, len(seqs), CHUNK):
                chunk = seqs[start : start + CHUNK]
                conn.execute(
                    f"DELETE FROM change_outbox WHERE seq IN ({','.join('?' * len(chunk))})",
                    chunk)

        await self._write(store)
        return len(changes), notifications

    async def pending_subscriptions(self) -> list[tuple[str, str]]:
        rows = await self._read(lambda c: c.execute(
            "SELECT DISTINCT tenant, subscription_id FROM pending_notifications").fetchall())
        return [(r[0], r[1]) for r in rows]

    async def pending_notifications(
        self, tenant: str, subscription_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[PendingNotification]:
        rows = await self._read(lambda c: c.execute(
            "SELECT nid, tenant, subscription_id, notification_id, at, reason, data "
            "FROM pending_notifications WHERE tenant = ? AND subscription_id = ? AND nid > ? "
            "ORDER BY nid LIMIT ?", (tenant, subscription_id, after, limit)).fetchall())
        return [_pending(r) for r in rows]

    async def settle_notifications(self, report: DeliveryReport) -> None:
        settled = list(report.settled)
        figures = [
            (s.times_sent, s.times_failed, s.last_notification, s.last_success, s.last_failure,
             s.last_status, tenant, sub_id)
            for (tenant, sub_id), s in report.status.items()
        ]

        def run(conn: sqlite3.Connection) -> None:
            for start in range(0, len(settled), CHUNK):
                chunk = settled[start : start + CHUNK]
                conn.execute(
                    f"DELETE FROM pending_notifications WHERE nid IN "
                    f"({','.join('?' * len(chunk))})", chunk)
            conn.executemany(
                "UPDATE subscriptions SET times_sent = times_sent + ?, "
                "times_failed = times_failed + ?, "
                "last_notification = coalesce(?, last_notification), "
                "last_success = coalesce(?, last_success), "
                "last_failure = coalesce(?, last_failure), "
                "last_status = coalesce(?, last_status) WHERE tenant = ? AND id = ?",
                figures)

        await self._write(run)

    async def acquire_delivery(self) -> bool:
        return True  # one process per SQLite database

    async def holds_delivery(self) -> bool:
        return True

    async def release_delivery(self) -> None:
        return None
