"""The embedded store: SQLite with one writer thread and a pool of reader connections.

SQLite allows one writer at a time, so the design has exactly one: a thread that owns the write
connection and takes jobs from a queue. It drains whatever jobs are waiting into one transaction
(group commit), each job inside its own SAVEPOINT so that one failing job never undoes another.
Readers use their own connections (WAL lets them read while the writer writes) on a small thread
pool, so the event loop never blocks on the database.
"""

from __future__ import annotations

import asyncio
import math
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import orjson

from cityhub.ngsild.entity import now_iso
from cityhub.ngsild.errors import (
    AlreadyExists,
    Conflict,
    NgsiLdError,
    ResourceNotFound,
    StoreUnavailable,
    TooComplexQuery,
)
from cityhub.ngsild.geo import GeoQuery, search_bbox
from cityhub.ngsild.temporal import epoch_ms
from cityhub.store.base import (
    AttributeSummary,
    ContextRecord,
    EntityQuery,
    Put,
    QueryResult,
    StoredEntity,
    TypeSummary,
    WriteOp,
    WriteOutcome,
)
from cityhub.store.changes import HistoryRow, change_rows, put_history_rows
from cityhub.store.rows import entity_rows
from cityhub.store.sql import NAME_ID, QueryCompiler
from cityhub.store.sqlite.datasets import SqliteDatasets
from cityhub.store.sqlite.schema import (
    BANDS_PER_DEGREE,
    GEO_SLOTS,
    connect,
    create_schema,
    encode_geo_query,
    point_row,
)
from cityhub.store.sqlite.subscriptions import SqliteSubscriptions
from cityhub.store.sqlite.temporal import SqliteHistory

T = TypeVar("T")

#: SQLite's default bound-parameter limit is 32766 (since 3.32); stay well below it
CHUNK = 900
MAX_JOBS_PER_COMMIT = 64
#: get() of at most this many ids runs on the calling thread
INLINE_READ_MAX_IDS = 16
#: memory map of the connection that serves those (address space, not memory)
INLINE_MMAP_BYTES = 1 << 31
#: a geo-query box over at most this many latitude bands lists them (one index range each);
#: a taller box scans the bands between
MAX_BANDS_LISTED = 200


class SqliteCompiler(QueryCompiler):
    def tenant_condition(self, driven: bool) -> str:
        # The unary + keeps SQLite from scanning the tenant's index when an id list or a
        # geometry can drive the query (it then looks entities up by rowid instead).
        return "+e.tenant = ?" if driven else "e.tenant = ?"

    def regex(self, value_sql: str) -> str:
        return f"regexp(?, {value_sql})"

    def geo_condition(self, geoq: GeoQuery) -> str:
        box = search_bbox(geoq)
        encoded = encode_geo_query(geoq)
        # the points: one index range of longitudes per latitude band the box covers
        sql = f"e.eid IN (SELECT p.gid / {GEO_SLOTS} FROM geo_points p WHERE p.kid = {NAME_ID} "
        self.params.append(geoq.geoproperty)
        if box is not None:
            low, high = (math.floor(box[1] * BANDS_PER_DEGREE),
                         math.floor(box[3] * BANDS_PER_DEGREE))
            if high - low < MAX_BANDS_LISTED:
                sql += f"AND p.band IN ({','.join(map(str, range(low, high + 1)))}) "
            else:
                sql += "AND p.band BETWEEN ? AND ? "
                self.params.extend((low, high))
            sql += "AND p.lon BETWEEN ? AND ? AND p.lat BETWEEN ? AND ? "
            self.params.extend((box[0], box[2], box[1], box[3]))
        sql += "AND geo_point_match(?, p.lon, p.lat) UNION ALL SELECT r.eid FROM geo_rtree r WHERE "
        self.params.append(encoded)
        if box is not None:
            sql += ("r.min_lon <= ? AND r.max_lon >= ? AND r.min_lat <= ? AND r.max_lat >= ? "
                    "AND ")
            self.params.extend((box[2], box[0], box[3], box[1]))
        sql += f"r.kid = {NAME_ID} AND geo_match(?, r.geometry))"
        self.params.extend((geoq.geoproperty, encoded))
        return sql


class _Job:
    __slots__ = ("fn", "future", "loop")

    def __init__(self, fn: Callable[[sqlite3.Connection], Any], loop: asyncio.AbstractEventLoop):
        self.fn = fn
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


class SqliteStore(SqliteSubscriptions, SqliteHistory, SqliteDatasets):
    name = "sqlite"

    def __init__(self, path: str, *, readers: int = 4) -> None:
        self.path = path
        self.memory = path == ":memory:"
        if self.memory:
            # every connection must see one database: a named shared-cache memory database
            self.path = f"file:cityhub-{id(self)}-{os.getpid()}?mode=memory&cache=shared"
        self._readers = readers
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._write_conn: sqlite3.Connection | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._inline_conn: sqlite3.Connection | None = None
        self._names: dict[str, int] = {}
        self._tenants: set[str] = set()
        self._next_eid = 1

    @classmethod
    def from_dsn(cls, dsn: str) -> SqliteStore:
        """`sqlite:///relative/path.db`, `sqlite:////absolute/path.db` (SQLAlchemy's
        convention: the path follows the third slash) or `sqlite://:memory:`."""
        rest = dsn.removeprefix("sqlite:").removeprefix("//")
        if rest in ("", ":memory:", "/:memory:"):
            return cls(":memory:")
        path = rest.removeprefix("/")
        if not path:
            raise ValueError(f"the SQLite DSN {dsn!r} names no file")
        return cls(path)

    # -- lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        uri = self.path.startswith("file:")
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, uri=uri)
        conn.close()
        self._write_conn = self._connect()
        create_schema(self._write_conn)
        self._reset_counters(self._write_conn)
        self._writer = threading.Thread(target=self._write_loop, name="cityhub-sqlite-writer",
                                        daemon=True)
        self._writer.start()
        if not self.memory:
            self._pool = ThreadPoolExecutor(self._readers, thread_name_prefix="cityhub-sqlite-read")

    def _connect(self, read_only: bool = False) -> sqlite3.Connection:
        if self.path.startswith("file:"):
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   uri=True)
            conn.close()
        return connect(self.path, read_only=read_only)

    async def close(self) -> None:
        if self._writer is not None:
            self._jobs.put(None)
            await asyncio.to_thread(self._writer.join)
            self._writer = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for conn in self._reader_conns:
            conn.close()
        self._reader_conns.clear()
        if self._inline_conn is not None:
            self._inline_conn.close()
            self._inline_conn = None
        if self._write_conn is not None:
            self._write_conn.close()
            self._write_conn = None

    # -- plumbing ----------------------------------------------------------------------------
    def _reset_counters(self, conn: sqlite3.Connection) -> None:
        self._names.clear()
        self._tenants.clear()
        self._next_eid = (conn.execute("SELECT max(eid) FROM entities").fetchone()[0] or 0) + 1

    def _write_loop(self) -> None:
        conn = self._write_conn
        assert conn is not None
        while True:
            job = self._jobs.get()
            if job is None:
                return
            batch = [job]
            while len(batch) < MAX_JOBS_PER_COMMIT:
                try:
                    extra = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if extra is None:
                    self._jobs.put(None)
                    break
                batch.append(extra)
            results: list[Any] = []
            failed = False
            try:
                conn.execute("BEGIN IMMEDIATE")
                for item in batch:
                    conn.execute("SAVEPOINT job")
                    try:
                        results.append(item.fn(conn))
                        conn.execute("RELEASE job")
                    except Exception as exc:  # the job fails alone
                        conn.execute("ROLLBACK TO job")
                        conn.execute("RELEASE job")
                        results.append(_translate(exc))
                        failed = True
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                results = [StoreUnavailable(f"the database could not commit: {exc}")] * len(batch)
                failed = True
            if failed:
                self._reset_counters(conn)
            for item, result in zip(batch, results, strict=True):
                item.loop.call_soon_threadsafe(_settle, item.future, result)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer is None:
            raise StoreUnavailable("the store is not open")
        job = _Job(fn, asyncio.get_running_loop())
        self._jobs.put(job)
        return await job.future

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._pool is None:  # in-memory: the writer's connection serves reads too
            return await self._write(fn)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._run_read, fn)

    def _run_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(read_only=True)
            self._local.conn = conn
            self._reader_conns.append(conn)
        try:
            return fn(conn)
        except Exception as exc:
            raise _translate(exc) from None

    # -- names -------------------------------------------------------------------------------
    def _name_ids(self, conn: sqlite3.Connection, names: set[str]) -> dict[str, int]:
        missing = [n for n in names if n not in self._names]
        if missing:
            conn.executemany("INSERT OR IGNORE INTO names (name) VALUES (?)",
                             [(n,) for n in missing])
            for start in range(0, len(missing), CHUNK):
                chunk = missing[start : start + CHUNK]
                marks = ",".join("?" * len(chunk))
                for nid, name in conn.execute(
                    f"SELECT nid, name FROM names WHERE name IN ({marks})", chunk
                ):
                    self._names[name] = nid
        return self._names

    # -- contract: reads ---------------------------------------------------------------------
    async def tenant_exists(self, tenant: str) -> bool:
        if tenant in self._tenants:
            return True
        return await self._read(
            lambda c: c.execute("SELECT 1 FROM tenants WHERE name = ?", (tenant,)).fetchone()
            is not None
        )

    async def get(self, tenant: str, ids: Sequence[str]) -> dict[str, StoredEntity]:
        if len(ids) <= INLINE_READ_MAX_IDS and self._pool is not None:
            # A primary-key look-up takes microseconds: run it here rather than pay for a
            # thread hand-off (bench/broker.py, GET /entities/{id}). WAL readers never wait
            # for the writer, so this cannot block the event loop on a lock.
            if self._inline_conn is None:
                self._inline_conn = self._connect(read_only=True)
                # random point reads: map the whole file rather than copy pages through
                # the page cache (measured: ~25 -> ~17 us a look-up on 200,000 entities)
                self._inline_conn.execute(f"PRAGMA mmap_size = {INLINE_MMAP_BYTES}")
            try:
                if len(ids) == 1:
                    return self._get_one(self._inline_conn, tenant, ids[0])
                return self._get(self._inline_conn, tenant, list(ids))
            except Exception as exc:
                raise _translate(exc) from None
        return await self._read(lambda c: self._get(c, tenant, list(ids)))

    def _get_one(self, conn: sqlite3.Connection, tenant: str, entity_id: str
                 ) -> dict[str, StoredEntity]:
        row = conn.execute("SELECT doc, created_at, modified_at, version FROM entities "
                           "WHERE tenant = ? AND id = ?", (tenant, entity_id)).fetchone()
        if row is None:
            return {}
        return {entity_id: StoredEntity(orjson.loads(row[0]), row[1], row[2], row[3])}

    def _get(
        self, conn: sqlite3.Connection, tenant: str, ids: list[str]
    ) -> dict[str, StoredEntity]:
        found: dict[str, StoredEntity] = {}
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            marks = ",".join("?" * len(chunk))
            for entity_id, doc, created, modified, version in conn.execute(
                "SELECT id, doc, created_at, modified_at, version FROM entities "
                f"WHERE tenant = ? AND id IN ({marks})",
                [tenant, *chunk],
            ):
                found[entity_id] = StoredEntity(orjson.loads(doc), created, modified, version)
        return found

    async def query(self, tenant: str, query: EntityQuery) -> QueryResult:
        compiler = SqliteCompiler()
        where = compiler.where(tenant, query)
        params = compiler.params

        def run(conn: sqlite3.Connection) -> QueryResult:
            count = None
            if query.count:
                count = conn.execute(f"SELECT count(*) FROM entities e WHERE {where}",
                                     params).fetchone()[0]
            rows = []
            if query.limit > 0:
                rows = conn.execute(
                    "SELECT e.doc, e.created_at, e.modified_at, e.version, e.eid FROM entities e "
                    f"WHERE {where} ORDER BY e.eid LIMIT ? OFFSET ?",
                    [*params, query.limit, query.offset],
                ).fetchall()
            return QueryResult([StoredEntity(orjson.loads(r[0]), r[1], r[2], r[3]) for r in rows],
                               count, rows[-1][4] if rows else None)

        return await self._read(run)

    async def type_summaries(
        self, tenant: str, types: Sequence[str] | None = None
    ) -> list[TypeSummary]:
        def run(conn: sqlite3.Connection) -> list[TypeSummary]:
            where, params = "e.tenant = ?", [tenant]
            if types is not None:
                where += f" AND n.name IN ({','.join('?' * len(types))})"
                params.extend(types)
            summaries: dict[str, TypeSummary] = {}
            for name, count in conn.execute(
                "SELECT n.name, count(*) FROM entity_types t JOIN entities e ON e.eid = t.eid "
                f"JOIN names n ON n.nid = t.tid WHERE {where} GROUP BY n.name ORDER BY n.name",
                params,
            ):
                summaries[name] = TypeSummary(name, count)
            for type_name, attr, kind in conn.execute(
                "SELECT n.name, an.name, a.atype FROM entity_types t "
                "JOIN entities e ON e.eid = t.eid JOIN names n ON n.nid = t.tid "
                "JOIN attr_index a ON a.eid = t.eid AND a.atype IS NOT NULL "
                f"JOIN names an ON an.nid = a.kid WHERE {where} "
                "GROUP BY n.name, an.name, a.atype",
                params,
            ):
                summaries[type_name].attributes.setdefault(attr, set()).add(kind)
            return list(summaries.values())

        return await self._read(run)

    async def attribute_summaries(
        self, tenant: str, attributes: Sequence[str] | None = None
    ) -> list[AttributeSummary]:
        def run(conn: sqlite3.Connection) -> list[AttributeSummary]:
            where, params = "e.tenant = ?", [tenant]
            if attributes is not None:
                where += f" AND an.name IN ({','.join('?' * len(attributes))})"
                params.extend(attributes)
            summaries: dict[str, AttributeSummary] = {}
            # counted without joining the types: an instance of a multi-typed entity is one
            for attr, kind, count in conn.execute(
                "SELECT an.name, a.atype, count(*) FROM attr_index a "
                "JOIN entities e ON e.eid = a.eid JOIN names an ON an.nid = a.kid "
                f"WHERE a.atype IS NOT NULL AND {where} GROUP BY an.name, a.atype "
                "ORDER BY an.name",
                params,
            ):
                summary = summaries.setdefault(attr, AttributeSummary(attr, 0))
                summary.kinds.add(kind)
                summary.count += count
            for attr, type_name in conn.execute(
                "SELECT DISTINCT an.name, n.name FROM attr_index a "
                "JOIN entities e ON e.eid = a.eid JOIN names an ON an.nid = a.kid "
                "JOIN entity_types t ON t.eid = a.eid JOIN names n ON n.nid = t.tid "
                f"WHERE a.atype IS NOT NULL AND {where}",
                params,
            ):
                if attr in summaries:  # else written between the two reads
                    summaries[attr].types.add(type_name)
            return list(summaries.values())

        return await self._read(run)

    # -- contract: writes --------------------------------------------------------------------
    async def write(
        self,
        tenant: str,
        ops: Sequence[WriteOp],
        *,
        want_previous: bool = False,
        record_changes: bool = False,
    ) -> list[WriteOutcome]:
        ops = list(ops)
        # Index rows, history rows and documents are computed here, not on the writer thread,
        # so that the writer spends its time in SQLite (which releases the GIL) while this
        # thread works.
        prepared = [_Prepared(op) if isinstance(op, Put) else None for op in ops]
        outcomes = await self._write(
            lambda c: self._apply(c, tenant, ops, prepared, want_previous, record_changes))
        self._tenants.add(tenant)
        return outcomes

    def _apply(
        self,
        conn: sqlite3.Connection,
        tenant: str,
        ops: list[WriteOp],
        prepared: list[_Prepared | None],
        want_previous: bool,
        record_changes: bool,
    ) -> list[WriteOutcome]:
        if tenant not in self._tenants:
            conn.execute(
                "INSERT OR IGNORE INTO tenants (name, created_at) VALUES (?, datetime('now'))",
                (tenant,),
            )
        ids = list(dict.fromkeys(op.entity["id"] if isinstance(op, Put) else op.entity_id
                                 for op in ops))
        # id -> [eid, version, created_at, exists_in_db, previous]
        state: dict[str, list[Any]] = {}
        stored_geo: dict[int, int] = {}  # eid -> geometry rows it has now
        stored_version: dict[int, int] = {}  # eid -> version in the database
        stored_docs: dict[str, bytes] = {}  # id -> document, for change records
        with_doc = want_previous or record_changes
        columns = ("eid, id, version, created_at, modified_at, geo_count"
                   + (", doc" if with_doc else ""))
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(
                f"SELECT {columns} FROM entities WHERE tenant = ? AND id IN ({marks})",
                [tenant, *chunk],
            ):
                previous = (
                    StoredEntity(orjson.loads(row[6]), row[3], row[4], row[2])
                    if want_previous else None
                )
                state[row[1]] = [row[0], row[2], row[3], True, previous]
                stored_geo[row[0]] = row[5]
                stored_version[row[0]] = row[2]
                if record_changes:
                    stored_docs[row[1]] = row[6]
        touched_existing: set[int] = set()
        # eid -> (entity id, the last put and its rows or None for a delete, and whether that
        # put's `previous` is what the database holds, so that only differing rows change)
        final: dict[int, tuple[str, _Prepared | None, bool]] = {}
        history: list[tuple[int, list[HistoryRow]]] = []  # (eid, rows) per successful Put
        outcomes: list[WriteOutcome] = []
        for op, prep in zip(ops, prepared, strict=True):
            if isinstance(op, Put):
                assert prep is not None
                entity_id = op.entity["id"]
                current = state.get(entity_id)
                outcome = WriteOutcome(entity_id, previous=current[4] if current else None)
                error = _check(op, current)
                if error is not None:
                    outcome.error = error
                    outcomes.append(outcome)
                    continue
                if current is None:
                    eid = self._next_eid
                    self._next_eid += 1
                    state[entity_id] = [eid, 1, op.now, False, None]
                    outcome.created = True
                    diffable = False
                else:
                    eid = current[0]
                    # a put made from the stored entity at its stored version (so the first
                    # write of it in this batch): its previous rows are the database's
                    diffable = (prep.previous is not None and current[3]
                                and current[1] == stored_version[eid])
                    current[1] += 1
                    if current[3]:
                        touched_existing.add(eid)
                final[eid] = (entity_id, prep, diffable)
                # every successful Put leaves history, also one a later Put of the batch hides
                history.append((eid, prep.history))
                outcomes.append(outcome)
            else:
                current = state.get(op.entity_id)
                outcome = WriteOutcome(op.entity_id, previous=current[4] if current else None)
                if current is None:
                    outcome.error = ResourceNotFound(f"entity {op.entity_id} does not exist")
                elif op.expected_version is not None and op.expected_version != current[1]:
                    outcome.error = Conflict(f"entity {op.entity_id} changed concurrently")
                else:
                    final[current[0]] = (op.entity_id, None, False)
                    if current[3]:
                        touched_existing.add(current[0])
                    del state[op.entity_id]
                outcomes.append(outcome)
        self._clear_side_rows(conn, {eid: stored_geo[eid] for eid in touched_existing
                                     if not final[eid][2]})
        all_names: set[str] = set()
        for _, prep, diffable in final.values():
            if prep is not None:
                all_names.update(prep.rows.names)
                if diffable:
                    all_names.update(prep.previous.names)  # type: ignore[union-attr]
        for _, rows_of_put in history:
            all_names.update(row[0] for row in rows_of_put)
        names = self._name_ids(conn, all_names)
        entity_params: list[tuple[Any, ...]] = []
        type_rows: list[tuple[int, int]] = []
        leaf_rows: list[tuple[Any, ...]] = []
        gone_leaves: list[tuple[Any, ...]] = []
        gone_types: list[int] = []
        gone_geo: dict[int, int] = {}
        point_rows: list[tuple[Any, ...]] = []
        rtree_rows: list[tuple[Any, ...]] = []
        deleted: list[int] = []
        for eid, (entity_id, prep, diffable) in final.items():
            if prep is None:
                deleted.append(eid)
                continue
            op, rows = prep.op, prep.rows
            current = state[entity_id]
            entity_params.append(
                (eid, tenant, entity_id, current[2], op.now, current[1], prep.doc,
                 len(rows.geometries)))
            leaves = rows.leaves
            write_types = write_geo = True
            if diffable:
                old = prep.previous
                assert old is not None
                old_leaves, new_leaves = set(old.leaves), set(leaves)
                gone_leaves.extend((eid, names[leaf[0]], leaf[1], leaf[2], leaf[3])
                                   for leaf in old_leaves - new_leaves)
                leaves = [leaf for leaf in leaves if leaf not in old_leaves]
                write_types = prep.old_types != op.entity["type"]
                if write_types:
                    gone_types.append(eid)
                write_geo = old.geometries != rows.geometries
                if write_geo:
                    gone_geo[eid] = stored_geo[eid]
            if write_types:
                type_rows.extend((eid, names[t]) for t in op.entity["type"])
            leaf_rows.extend([(eid, names[leaf[0]], leaf[1], leaf[2], leaf[3], leaf[4])
                              for leaf in leaves])
            if write_geo:
                for ordinal, (key, geometry, box) in enumerate(rows.geometries):
                    gid = eid * GEO_SLOTS + ordinal
                    point = point_row(geometry)
                    if point is not None:
                        point_rows.append((gid, names[key], *point))
                    else:
                        rtree_rows.append((gid, box[0], box[2], box[1], box[3], eid, names[key],
                                           orjson.dumps(geometry)))
        self._delete_entity_rows(conn, deleted)
        conn.executemany(
            "DELETE FROM attr_index WHERE eid = ? AND kid = ? AND kind = ? AND num = ? "
            "AND txt = ?", gone_leaves)
        self._delete_rows(conn, "entity_types", gone_types)
        self._delete_geometries(conn, gone_geo)
        conn.executemany(
            "INSERT INTO entities (eid, tenant, id, created_at, modified_at, version, doc, "
            "geo_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (eid) DO UPDATE SET "
            "modified_at = excluded.modified_at, version = excluded.version, "
            "doc = excluded.doc, geo_count = excluded.geo_count",
            entity_params,
        )
        conn.executemany("INSERT INTO entity_types (eid, tid) VALUES (?, ?)", type_rows)
        conn.executemany(
            "INSERT INTO attr_index (eid, kid, kind, num, txt, atype) VALUES (?, ?, ?, ?, ?, ?)",
            leaf_rows,
        )
        conn.executemany(
            "INSERT INTO geo_points (gid, kid, band, lon, lat) VALUES (?, ?, ?, ?, ?)", point_rows)
        conn.executemany(
            "INSERT INTO geo_rtree (gid, min_lon, max_lon, min_lat, max_lat, eid, kid, geometry) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rtree_rows,
        )
        gone = set(deleted)
        conn.executemany(
            "INSERT INTO attr_history (eid, kid, dataset_id, observed_at, created_at, "
            "modified_at, num, instance) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(eid, names[attr], dataset, epoch_ms(observed), epoch_ms(created),
              epoch_ms(modified), num, inst)
             for eid, rows_of_put in history if eid not in gone
             for attr, dataset, observed, created, modified, num, inst in rows_of_put],
        )
        if record_changes:
            documents = [p.doc if p is not None else None for p in prepared]
            self._record_changes(conn, tenant, change_rows(ops, outcomes, stored_docs,
                                                           documents, now_iso()))
        return outcomes

    @staticmethod
    def _delete_entity_rows(conn: sqlite3.Connection, eids: list[int]) -> None:
        """Delete entities and their history (their index rows are cleared separately)."""
        for start in range(0, len(eids), CHUNK):
            chunk = eids[start : start + CHUNK]
            marks = ",".join("?" * len(chunk))
            conn.execute(f"DELETE FROM entities WHERE eid IN ({marks})", chunk)
            conn.execute(f"DELETE FROM attr_history WHERE eid IN ({marks})", chunk)

    @staticmethod
    def _record_changes(
        conn: sqlite3.Connection, tenant: str, rows: list[tuple[Any, ...]]
    ) -> None:
        conn.executemany(
            "INSERT INTO change_outbox (tenant, entity_id, at, previous, current) "
            "VALUES (?, ?, ?, ?, ?)",
            [(tenant, *row) for row in rows],
        )

    def _clear_side_rows(self, conn: sqlite3.Connection, geo_counts: dict[int, int]) -> None:
        """Delete the index rows of entities (eid -> how many geometry rows each has)."""
        eids = list(geo_counts)
        self._delete_rows(conn, "entity_types", eids)
        self._delete_rows(conn, "attr_index", eids)
        self._delete_geometries(conn, geo_counts)

    @staticmethod
    def _delete_rows(conn: sqlite3.Connection, table: str, eids: list[int]) -> None:
        for start in range(0, len(eids), CHUNK):
            chunk = eids[start : start + CHUNK]
            conn.execute(f"DELETE FROM {table} WHERE eid IN ({','.join('?' * len(chunk))})",
                         chunk)

    @staticmethod
    def _delete_geometries(conn: sqlite3.Connection, geo_counts: dict[int, int]) -> None:
        """Delete entities' geometry rows (eid -> how many), from whichever table holds each:
        one exact rowid per geometry (the R*Tree finds a rowid directly but scans a range)."""
        gids = [(eid * GEO_SLOTS + i,) for eid, count in geo_counts.items()
                for i in range(count)]
        conn.executemany("DELETE FROM geo_points WHERE gid = ?", gids)
        conn.executemany("DELETE FROM geo_rtree WHERE gid = ?", gids)

    async def delete_matching(
        self, tenant: str, query: EntityQuery, *, record_changes: bool = False
    ) -> int:
        compiler = SqliteCompiler()
        where = compiler.where(tenant, query)

        def run(conn: sqlite3.Connection) -> int:
            geo_counts: dict[int, int] = {}
            changes: list[tuple[Any, ...]] = []
            at = now_iso()
            for eid, geo_count, entity_id, doc in conn.execute(
                "SELECT e.eid, e.geo_count, e.id, "
                f"{'e.doc' if record_changes else 'NULL'} FROM entities e WHERE {where}",
                compiler.params,
            ):
                geo_counts[eid] = geo_count
                if record_changes:
                    changes.append((entity_id, at, doc, None))
            self._clear_side_rows(conn, geo_counts)
            self._record_changes(conn, tenant, changes)
            self._delete_entity_rows(conn, list(geo_counts))
            return len(geo_counts)

        return await self._write(run)

    # -- contexts ----------------------------------------------------------------------------
    async def list_contexts(self) -> list[ContextRecord]:
        rows = await self._read(lambda c: c.execute(
            "SELECT id, url, kind, document, created_at FROM jsonld_contexts ORDER BY created_at"
        ).fetchall())
        return [ContextRecord(r[0], r[1], r[2], orjson.loads(r[3]), r[4]) for r in rows]

    async def put_context(self, record: ContextRecord) -> None:
        await self._write(lambda c: c.execute(
            "INSERT OR REPLACE INTO jsonld_contexts (id, url, kind, document, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (record.id, record.url, record.kind, orjson.dumps(record.document),
             record.created_at),
        ))

    async def delete_context(self, context_id: str) -> bool:
        return await self._write(lambda c: c.execute(
            "DELETE FROM jsonld_contexts WHERE id = ?", (context_id,)).rowcount > 0)


class _Prepared:
    """What a Put writes, computed before the writer thread takes it: the entity's index
    rows, its document, its history rows, and (for a put made from the stored entity) the
    stored entity's index rows, so that the writer changes only those that differ."""

    __slots__ = ("doc", "history", "old_types", "op", "previous", "rows")

    def __init__(self, op: Put) -> None:
        self.op = op
        self.rows = entity_rows(op.entity)
        self.doc = orjson.dumps(op.entity)
        self.history = put_history_rows(op)
        base = op.previous if op.expected_version is not None else None
        self.previous = entity_rows(base) if base is not None else None
        self.old_types = base["type"] if base is not None else None


def _check(op: Put, current: list[Any] | None) -> NgsiLdError | None:
    entity_id = op.entity["id"]
    if op.mode == "create" and current is not None:
        return AlreadyExists(f"entity {entity_id} already exists")
    if op.mode == "replace" and current is None:
        return ResourceNotFound(f"entity {entity_id} does not exist")
    if op.expected_version is not None and (current is None or current[1] != op.expected_version):
        return Conflict(f"entity {entity_id} changed concurrently")
    return None


def _translate(exc: BaseException) -> BaseException:
    """Database exceptions become NGSI-LD errors; a UDF's own error keeps its meaning."""
    if isinstance(exc, NgsiLdError):
        return exc
    if isinstance(exc, sqlite3.OperationalError) and "user-defined function" in str(exc):
        return TooComplexQuery("a pattern in the query could not be evaluated in time")
    if isinstance(exc, sqlite3.Error):
        return StoreUnavailable(f"database error: {exc}")
    return exc
