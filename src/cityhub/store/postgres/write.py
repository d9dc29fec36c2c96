"""One `write()` on PostgreSQL: a transaction safe for any number of workers on one database.

The transaction

1. locks the rows of its entity ids (`SELECT ... FOR UPDATE`, in id order, so two writers of
   the same ids queue instead of deadlocking);
2. decides every operation's outcome in Python (`plan.plan_writes`: the rules of the SQLite
   adapter, duplicate ids in one batch included);
3. changes rows with a few set-based statements. A small write: one statement deleting index
   rows (and deleted entities), one updating changed entities in place (`WHERE version =` the
   locked version) and inserting all other rows from `unnest`ed array parameters. A large
   write: changed entities are deleted and, like new ones, sent with binary COPY; while the
   server inserts the entity rows, a worker thread computes the index rows, whose names are
   then interned inside the transaction.

Names of small writes are interned before the transaction, committed on their own, so that the
per-process name cache only ever holds committed ids. When another worker wins a race (both
create the same new id, or a deadlock), the transaction is run again and then sees the other
worker's result.
"""

from __future__ import annotations

import asyncio
import gc
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import orjson

from cityhub.ngsild.entity import now_iso
from cityhub.ngsild.errors import NgsiLdError, StoreUnavailable
from cityhub.store.base import StoredEntity, WriteOp, WriteOutcome
from cityhub.store.changes import change_rows
from cityhub.store.postgres.batch import (
    EntityIndex,
    WriteRows,
    encode_documents,
    index_entities,
    write_rows,
)
from cityhub.store.postgres.errors import RETRYABLE
from cityhub.store.postgres.plan import Existing, WritePlan, op_entity_id, plan_writes
from cityhub.store.postgres.schema import EncodedJson

#: from this many storable Puts on, a write is large: COPY, index rows built in a thread
BULK_FROM = 500
MAX_WRITE_ATTEMPTS = 6
#: from this many operations on, the garbage collector pauses during the write
GC_PAUSE_FROM = 1000
#: a large write that adds this fraction of the index rows there were refreshes statistics
ANALYZE_GROWTH = 0.1
HISTORY_COLUMNS = ["eid", "kid", "dataset_id", "observed_at", "created_at", "modified_at",
                   "num", "instance"]


class _IndexJob:
    """The index rows of a write's Puts: computed at once (small writes), or in a worker thread
    started when the database has work of its own to do (large writes)."""

    def __init__(self, ops: list[WriteOp], positions: list[int]) -> None:
        self._args = (ops, positions)
        self._future: asyncio.Future[EntityIndex] | None = None

    def run_here(self) -> EntityIndex:
        future = asyncio.get_running_loop().create_future()
        future.set_result(index_entities(*self._args))
        self._future = future
        return future.result()

    def start(self) -> asyncio.Future[EntityIndex]:
        if self._future is None:  # a retried transaction reuses the first computation
            self._future = asyncio.ensure_future(asyncio.to_thread(index_entities, *self._args))
        return self._future

    def result(self) -> EntityIndex:
        assert self._future is not None
        return self._future.result()

    def abandon(self) -> None:
        """After an error: let a still-running thread finish and drop its result quietly."""
        if self._future is not None and not self._future.done():
            self._future.add_done_callback(lambda f: f.cancelled() or f.exception())


class StaleRow(Exception):
    """A row changed between the lock and the change (cannot happen under FOR UPDATE)."""


class EntityWriter:
    """Applies write operations; holds the process's name and tenant caches."""

    def __init__(self, write_timeout_ms: int) -> None:
        #: the statement timeout of large writes, which may move a lot of rows
        self.write_timeout_ms = write_timeout_ms
        #: name -> nid, committed names only
        self.names: dict[str, int] = {}
        #: tenants known to exist
        self.tenants: set[str] = set()

    async def write(
        self,
        conn: asyncpg.Connection,
        tenant: str,
        ops: list[WriteOp],
        want_previous: bool,
        record_changes: bool = False,
    ) -> list[WriteOutcome]:
        with _gc_paused(len(ops)):
            outcomes, bulk_leaves = await self._write(conn, tenant, ops, want_previous,
                                                      record_changes)
            if bulk_leaves is not None:
                await _refresh_statistics(conn, bulk_leaves)
        self.tenants.add(tenant)
        return outcomes

    async def _write(
        self,
        conn: asyncpg.Connection,
        tenant: str,
        ops: list[WriteOp],
        want_previous: bool,
        record_changes: bool,
    ) -> tuple[list[WriteOutcome], int | None]:
        """The outcomes, and for a large write the number of index rows it wrote."""
        docs, rejected = encode_documents(ops)
        bulk = len(docs) >= BULK_FROM
        index = _IndexJob(ops, list(docs))
        if not bulk:
            await self.intern(conn, index.run_here().names)
        try:
            for attempt in range(MAX_WRITE_ATTEMPTS):
                pending: dict[str, int] = {}
                try:
                    async with conn.transaction():
                        if bulk:
                            await conn.execute(
                                f"SET LOCAL statement_timeout = {self.write_timeout_ms}"
                            )
                        outcomes = await self._apply(
                            conn, tenant, ops, docs, rejected, index, pending, want_previous,
                            bulk, record_changes,
                        )
                    self.names.update(pending)  # committed now
                    return outcomes, index.result().leaf_count if bulk else None
                except (*RETRYABLE, StaleRow) as exc:
                    if attempt == MAX_WRITE_ATTEMPTS - 1:
                        raise StoreUnavailable(
                            "concurrent writes to the same entities kept conflicting; retry"
                        ) from exc
                    await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            index.abandon()

    async def intern(
        self, conn: asyncpg.Connection, names: set[str], pending: dict[str, int] | None = None
    ) -> dict[str, int]:
        """Ids of `names`, inserting the missing ones in sorted order (no two writers can
        deadlock on them). Outside a transaction the ids go to the cache at once; inside one,
        to `pending`, which the caller adds to the cache after its commit."""
        missing = sorted(n for n in names if n not in self.names)
        found = self.names if pending is None else pending
        if missing:
            rows = await conn.fetch(
                "WITH added AS (INSERT INTO names (name) SELECT unnest($1::text[]) "
                "ON CONFLICT DO NOTHING RETURNING nid, name) "
                "SELECT nid, name FROM added UNION ALL "
                "SELECT nid, name FROM names WHERE name = ANY($1::text[])",
                missing,
            )
            found.update((name, nid) for nid, name in rows)
            late = [n for n in missing if n not in found]
            if late:  # inserted by another worker after this statement's snapshot
                rows = await conn.fetch(
                    "SELECT nid, name FROM names WHERE name = ANY($1::text[])", late
                )
                found.update((name, nid) for nid, name in rows)
        return self.names if pending is None else {**self.names, **pending}

    async def _apply(
        self,
        conn: asyncpg.Connection,
        tenant: str,
        ops: list[WriteOp],
        docs: dict[int, EncodedJson],
        rejected: dict[int, NgsiLdError],
        index: _IndexJob,
        pending: dict[str, int],
        want_previous: bool,
        bulk: bool,
        record_changes: bool,
    ) -> list[WriteOutcome]:
        """One attempt at a write, inside its transaction."""
        if tenant not in self.tenants:
            await conn.execute(
                "INSERT INTO tenants (name) VALUES ($1) ON CONFLICT DO NOTHING", tenant
            )
        existing = await _lock(conn, tenant, ops, want_previous or record_changes)
        plan = plan_writes(ops, existing, rejected)
        if record_changes:
            await _record_changes(conn, tenant, ops, plan, docs, existing)
        await _remove(conn, plan, reinsert=bulk)
        new_eids: list[int] = []
        if plan.new_rows:
            new_eids = sorted(await conn.fetchval(
                "SELECT array_agg(nextval('entities_eid_seq')) FROM generate_series(1, $1)",
                plan.new_rows,
            ))
        rows = write_rows(tenant, plan, docs, new_eids, in_place=not bulk)
        if not bulk:
            await _insert(conn, rows, index.result(), self.names)
            return plan.outcomes
        running = index.start()  # index rows are built while the entity rows are copied
        if rows.entities:
            await conn.copy_records_to_table(
                "entities", records=rows.entities,
                columns=["eid", "tenant", "id", "created_at", "modified_at", "version", "doc"],
            )
        entity_index = await running
        names = await self.intern(conn, entity_index.names, pending)
        await _copy_index_rows(conn, rows, entity_index, names)
        history = rows.history(entity_index, names, as_text=False)
        if history:
            await conn.copy_records_to_table("attr_history", records=history,
                                             columns=HISTORY_COLUMNS)
        return plan.outcomes


async def _lock(
    conn: asyncpg.Connection, tenant: str, ops: list[WriteOp], want_previous: bool
) -> dict[str, Existing]:
    """Lock the stored rows of the operations' ids (in id order); their state by id."""
    ids = list(dict.fromkeys(op_entity_id(op) for op in ops))
    existing: dict[str, Existing] = {}
    if not ids:
        return existing
    extra = ", modified_at, doc" if want_previous else ""
    for row in await conn.fetch(
        f"SELECT eid, id, version, created_at{extra} FROM entities "
        "WHERE tenant = $1 AND id = ANY($2::text[]) ORDER BY id FOR UPDATE",
        tenant, ids,
    ):
        previous = (
            StoredEntity(row["doc"], row["created_at"], row["modified_at"], row["version"])
            if want_previous else None
        )
        existing[row["id"]] = Existing(row["eid"], row["version"], row["created_at"], previous)
    return existing


async def _record_changes(
    conn: asyncpg.Connection,
    tenant: str,
    ops: list[WriteOp],
    plan: WritePlan,
    docs: dict[int, EncodedJson],
    existing: dict[str, Existing],
) -> None:
    """The change records of the write's successful operations (`store.changes`)."""
    stored = {
        entity_id: EncodedJson(orjson.dumps(row.previous.entity))
        for entity_id, row in existing.items() if row.previous is not None
    }
    documents = [docs.get(position) for position in range(len(ops))]
    changes = change_rows(ops, plan.outcomes, stored, documents, now_iso())
    if changes:
        await conn.execute(
            "INSERT INTO change_outbox (tenant, entity_id, at, previous, current) "
            "SELECT $1, * FROM unnest($2::text[], $3::text[], $4::jsonb[], $5::jsonb[])",
            tenant, *(list(column) for column in zip(*changes, strict=True)),
        )


async def _remove(conn: asyncpg.Connection, plan: WritePlan, *, reinsert: bool) -> None:
    """Delete the index rows of every stored entity that changes or goes away, and the entity
    rows of those that go away — with `reinsert`, of those that change too (they are then
    inserted again under the same eid: for a large batch, DELETE + COPY costs a third of a bulk
    UPDATE). The DELETE re-checks each row's version against the one locked."""
    if not plan.touched:
        return
    written = {w.eid for w in plan.writes if w.eid is not None}
    kept = set() if reinsert else written
    gone = [eid for eid in plan.touched if eid not in kept]
    removed = await conn.fetchval(
        "WITH t AS (DELETE FROM entity_types WHERE eid = ANY($1::bigint[])), "
        "a AS (DELETE FROM attr_index WHERE eid = ANY($1::bigint[])), "
        "g AS (DELETE FROM geo_index WHERE eid = ANY($1::bigint[])), "
        "h AS (DELETE FROM attr_history WHERE eid = ANY($4::bigint[])), "
        "e AS (DELETE FROM entities x USING unnest($2::bigint[], $3::int[]) AS s(eid, v) "
        "WHERE x.eid = s.eid AND x.version = s.v RETURNING 1) "
        "SELECT count(*) FROM e",
        list(plan.touched), gone, [plan.touched[eid] for eid in gone],
        [eid for eid in plan.touched if eid not in written],
    )
    if removed != len(gone):
        raise StaleRow(f"{removed} of {len(gone)} rows had the locked version")


async def _insert(
    conn: asyncpg.Connection,
    rows: WriteRows,
    index: EntityIndex,
    names: dict[str, int],
) -> None:
    """A small write: one statement updating changed entities in place (its WHERE re-checks the
    locked version) and inserting every other row (history too) from `unnest`ed array
    parameters."""
    parts: list[str] = []
    params: list[Any] = []

    def arrays(types: str, records: list[tuple[Any, ...]]) -> str:
        marks = ", ".join(f"${len(params) + i + 1}::{t}[]" for i, t in enumerate(types.split()))
        params.extend(list(column) for column in zip(*records, strict=True))
        return f"unnest({marks})"

    def insert(table: str, columns: str, types: str, records: list[tuple[Any, ...]],
               select: str = "*") -> None:
        if records:
            parts.append(f"INSERT INTO {table} ({columns}) SELECT {select} FROM "
                         f"{arrays(types, records)} AS r({columns})")

    if rows.updates:
        parts.append(
            "UPDATE entities e SET modified_at = u.modified_at, version = u.version, "
            f"doc = u.doc FROM {arrays('bigint text int jsonb int', rows.updates)} "
            "AS u(eid, modified_at, version, doc, old_version) "
            "WHERE e.eid = u.eid AND e.version = u.old_version RETURNING 1"
        )
    insert("entities", "eid, tenant, id, created_at, modified_at, version, doc",
           "bigint text text text text int jsonb", rows.entities)
    insert("entity_types", "tid, eid", "bigint bigint", list(rows.types(names)))
    insert("attr_index", "eid, kid, kind, num, txt, atype",
           'bigint bigint "char" float8 text text', list(rows.leaves(index, names)))
    insert("geo_index", "eid, kid, geom", "bigint bigint bytea",
           list(rows.geometries(index, names)), "r.eid, r.kid, ST_GeomFromEWKB(r.geom)")
    insert("attr_history", ", ".join(HISTORY_COLUMNS),
           "bigint bigint text text text text float8 jsonb",
           rows.history(index, names, as_text=True),
           "r.eid, r.kid, r.dataset_id, r.observed_at::timestamptz, "
           "r.created_at::timestamptz, r.modified_at::timestamptz, r.num, r.instance")
    if not parts:
        return
    ctes = ", ".join(f"w{i} AS ({part})" for i, part in enumerate(parts))
    updated = await conn.fetchval(
        f"WITH {ctes} SELECT count(*) FROM w0" if rows.updates else f"WITH {ctes} SELECT 0",
        *params,
    )
    if updated != len(rows.updates):
        raise StaleRow(f"{updated} of {len(rows.updates)} rows had the locked version")


async def _copy_index_rows(
    conn: asyncpg.Connection, rows: WriteRows, index: EntityIndex, names: dict[str, int]
) -> None:
    """A large write's index rows, generated while binary COPY streams them."""
    if rows.type_count():
        await conn.copy_records_to_table(
            "entity_types", records=rows.types(names), columns=["tid", "eid"]
        )
    if index.leaf_count:
        await conn.copy_records_to_table(
            "attr_index", records=rows.leaves(index, names),
            columns=["eid", "kid", "kind", "num", "txt", "atype"],
        )
    if rows.geometry_count(index):
        await conn.copy_records_to_table(
            "geo_index", records=rows.geometries(index, names), columns=["eid", "kid", "geom"]
        )


async def _refresh_statistics(conn: asyncpg.Connection, rows_written: int) -> None:
    """ANALYZE after a large write that grew the index by a tenth or more (or on the first).

    Autovacuum would, but only after a while; meanwhile the planner, believing the tables
    nearly empty, picks nested loops that turn a 15 ms q query into a 30 s timeout."""
    known = await conn.fetchval("SELECT reltuples FROM pg_class WHERE oid = 'attr_index'::regclass")
    if known < 0 or rows_written > ANALYZE_GROWTH * known:
        # a small sample is plenty to choose join strategies; documents need no statistics
        async with conn.transaction():
            await conn.execute("SET LOCAL default_statistics_target = 20")
            await conn.execute(
                "ANALYZE entities (eid, tenant, id), entity_types, attr_index, geo_index"
            )


@contextmanager
def _gc_paused(size: int) -> Iterator[None]:
    """Pause the cyclic garbage collector during a large write: its collections would rescan
    every object the batch holds again and again (half the Python time of a 100,000-entity
    write). The write makes no reference cycles, so reference counting frees all of it when it
    returns, before the collector runs again. (Other coroutines run with the collector paused
    meanwhile; that only delays collecting their cycles.)"""
    if size < GC_PAUSE_FROM or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
