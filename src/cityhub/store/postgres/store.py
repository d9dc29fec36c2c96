"""The production store: PostgreSQL + PostGIS through an asyncpg connection pool.

`PostgresStore` implements the Store protocol. Reads compile an EntityQuery with
`compiler.PostgresCompiler` and run it; writes go to `write.EntityWriter` (one transaction per
call, safe with many API workers on one database). Every driver or connection exception leaves
as an NGSI-LD error (`errors.translate`). Per-process caches hold only facts that never become
false: a name's id, a tenant's existence.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from cityhub.ngsild.entity import now_iso
from cityhub.ngsild.errors import NgsiLdError, StoreUnavailable
from cityhub.store.base import (
    AttributeSummary,
    ContextRecord,
    EntityQuery,
    QueryResult,
    StoredEntity,
    TypeSummary,
    WriteOp,
    WriteOutcome,
)
from cityhub.store.postgres.compiler import PostgresCompiler
from cityhub.store.postgres.datasets import PostgresDatasets
from cityhub.store.postgres.errors import translate
from cityhub.store.postgres.schema import (
    create_schema,
    quote_ident,
    register_codecs,
    unicode_collation,
)
from cityhub.store.postgres.subscriptions import PostgresSubscriptions
from cityhub.store.postgres.temporal import PostgresHistory
from cityhub.store.postgres.write import EntityWriter


class PostgresStore(PostgresSubscriptions, PostgresHistory, PostgresDatasets):
    """The Store protocol over PostgreSQL 15+ with PostGIS (see the module docstring)."""

    name = "postgres"

    def __init__(
        self,
        dsn: str,
        *,
        schema: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        statement_timeout_s: float = 30.0,
        write_timeout_s: float = 600.0,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.dsn = dsn
        #: a schema to keep the tables in (created if missing); None: the DSN's search_path
        self.schema = schema
        self._min_size = min_size
        self._max_size = max_size
        self._connect_timeout = connect_timeout_s
        # JIT compiles the PostGIS-heavy geo-queries (their cost estimates are high) for
        # hundreds of milliseconds to save a few: off, as for most request/response workloads
        self._settings = {"statement_timeout": str(int(statement_timeout_s * 1000)),
                          "jit": "off"}
        if schema is not None:
            self._settings["search_path"] = f"{quote_ident(schema)}, public"
        self._pool: asyncpg.Pool | None = None
        self._collation: str | None = None
        self._writer = EntityWriter(int(write_timeout_s * 1000))

    # -- lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        try:
            conn = await asyncpg.connect(
                self.dsn, server_settings=self._settings, timeout=self._connect_timeout
            )
        except Exception as exc:
            raise _unavailable(exc) from exc
        try:
            await create_schema(conn, self.schema)
            self._collation = await unicode_collation(conn)
        except Exception as exc:
            error = translate(exc)
            if error is exc:
                raise
            raise error from exc
        finally:
            await conn.close()
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=self._min_size,
                max_size=self._max_size,
                server_settings=self._settings,
                init=register_codecs,
                timeout=self._connect_timeout,
            )
        except Exception as exc:
            raise _unavailable(exc) from exc

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=10)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pool.terminate()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; every database exception inside becomes an NGSI-LD error."""
        if self._pool is None:
            raise StoreUnavailable("the store is not open")
        try:
            async with self._pool.acquire(timeout=self._connect_timeout) as conn:
                yield conn
        except Exception as exc:
            error = translate(exc)
            if error is exc:
                raise
            raise error from exc

    # -- contract: reads ---------------------------------------------------------------------
    async def tenant_exists(self, tenant: str) -> bool:
        if tenant in self._writer.tenants:
            return True
        async with self._connection() as conn:
            found = await conn.fetchval("SELECT 1 FROM tenants WHERE name = $1", tenant)
        if found:
            self._writer.tenants.add(tenant)
        return bool(found)

    async def get(self, tenant: str, ids: Sequence[str]) -> dict[str, StoredEntity]:
        if not ids:
            return {}
        async with self._connection() as conn:
            rows = await conn.fetch(
                "SELECT id, doc, created_at, modified_at, version FROM entities "
                "WHERE tenant = $1 AND id = ANY($2::text[])",
                tenant, list(ids),
            )
        return {r[0]: StoredEntity(r[1], r[2], r[3], r[4]) for r in rows}

    async def query(self, tenant: str, query: EntityQuery) -> QueryResult:
        compiler = PostgresCompiler(self._collation)
        where = compiler.where(tenant, query)
        count_sql, count_params = compiler.finish(f"SELECT count(*) FROM entities e WHERE {where}")
        pager = PostgresCompiler(self._collation, paged=True)
        where = pager.where(tenant, query)
        page_sql, page_params = pager.finish(
            "SELECT e.doc, e.created_at, e.modified_at, e.version, e.eid FROM entities e "
            f"WHERE {where} ORDER BY e.eid LIMIT ? OFFSET ?",
            [*pager.params, query.limit, query.offset],
        )
        count = None
        rows: list[asyncpg.Record] = []
        async with self._connection() as conn:
            if query.count and query.limit > 0:
                async with _snapshot(conn):
                    count = await conn.fetchval(count_sql, *count_params)
                    rows = await conn.fetch(page_sql, *page_params)
            elif query.count:
                count = await conn.fetchval(count_sql, *count_params)
            elif query.limit > 0:
                rows = await conn.fetch(page_sql, *page_params)
        return QueryResult([StoredEntity(r[0], r[1], r[2], r[3]) for r in rows], count,
                           rows[-1][4] if rows else None)

    async def type_summaries(
        self, tenant: str, types: Sequence[str] | None = None
    ) -> list[TypeSummary]:
        where, params = "e.tenant = $1", [tenant]
        if types is not None:
            where += " AND n.name = ANY($2::text[])"
            params.append(list(types))
        async with self._connection() as conn, _snapshot(conn):
            counts = await conn.fetch(
                "SELECT n.name, count(*) FROM entity_types t JOIN entities e ON e.eid = t.eid "
                f"JOIN names n ON n.nid = t.tid WHERE {where} GROUP BY n.name ORDER BY n.name",
                *params,
            )
            attributes = await conn.fetch(
                "SELECT n.name, an.name, a.atype FROM entity_types t "
                "JOIN entities e ON e.eid = t.eid JOIN names n ON n.nid = t.tid "
                "JOIN attr_index a ON a.eid = t.eid AND a.atype IS NOT NULL "
                f"JOIN names an ON an.nid = a.kid WHERE {where} "
                "GROUP BY n.name, an.name, a.atype",
                *params,
            )
        summaries = {name: TypeSummary(name, count) for name, count in counts}
        for type_name, attr, kind in attributes:
            summaries[type_name].attributes.setdefault(attr, set()).add(kind)
        return list(summaries.values())

    async def attribute_summaries(
        self, tenant: str, attributes: Sequence[str] | None = None
    ) -> list[AttributeSummary]:
        where, params = "e.tenant = $1", [tenant]
        if attributes is not None:
            where += " AND an.name = ANY($2::text[])"
            params.append(list(attributes))
        async with self._connection() as conn, _snapshot(conn):
            # counted without joining the types: an instance of a multi-typed entity is one
            counts = await conn.fetch(
                "SELECT an.name, a.atype, count(*) FROM attr_index a "
                "JOIN entities e ON e.eid = a.eid JOIN names an ON an.nid = a.kid "
                f"WHERE a.atype IS NOT NULL AND {where} GROUP BY an.name, a.atype "
                "ORDER BY an.name",
                *params,
            )
            typed = await conn.fetch(
                "SELECT DISTINCT an.name, n.name FROM attr_index a "
                "JOIN entities e ON e.eid = a.eid JOIN names an ON an.nid = a.kid "
                "JOIN entity_types t ON t.eid = a.eid JOIN names n ON n.nid = t.tid "
                f"WHERE a.atype IS NOT NULL AND {where}",
                *params,
            )
        summaries: dict[str, AttributeSummary] = {}
        for attr, kind, count in counts:
            summary = summaries.setdefault(attr, AttributeSummary(attr, 0))
            summary.kinds.add(kind)
            summary.count += count
        for attr, type_name in typed:
            if attr in summaries:  # else written between the two reads
                summaries[attr].types.add(type_name)
        return list(summaries.values())

    # -- contract: writes --------------------------------------------------------------------
    async def write(
        self,
        tenant: str,
        ops: Sequence[WriteOp],
        *,
        want_previous: bool = False,
        record_changes: bool = False,
    ) -> list[WriteOutcome]:
        async with self._connection() as conn:
            return await self._writer.write(conn, tenant, list(ops), want_previous,
                                            record_changes)

    async def delete_matching(
        self, tenant: str, query: EntityQuery, *, record_changes: bool = False
    ) -> int:
        compiler = PostgresCompiler(self._collation)
        where = compiler.where(tenant, query)
        # with change records: one per deleted entity, in the same statement (store.changes)
        changes = (
            "c AS (INSERT INTO change_outbox (tenant, entity_id, at, previous) "
            f"SELECT tenant, id, {compiler.param('?', now_iso())}, doc FROM gone), "
            if record_changes else ""
        )
        sql, params = compiler.finish(
            f"WITH gone AS (DELETE FROM entities e WHERE {where} "
            "RETURNING e.eid, e.tenant, e.id, e.doc), "
            "t AS (DELETE FROM entity_types WHERE eid IN (SELECT eid FROM gone)), "
            "a AS (DELETE FROM attr_index WHERE eid IN (SELECT eid FROM gone)), "
            f"{changes}"
            "g AS (DELETE FROM geo_index WHERE eid IN (SELECT eid FROM gone)), "
            "h AS (DELETE FROM attr_history WHERE eid IN (SELECT eid FROM gone)) "
            "SELECT count(*) FROM gone"
        )
        async with self._connection() as conn:
            return await conn.fetchval(sql, *params)

    # -- contexts ----------------------------------------------------------------------------
    async def list_contexts(self) -> list[ContextRecord]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                "SELECT id, url, kind, document, created_at FROM jsonld_contexts "
                "ORDER BY created_at, seq"
            )
        return [ContextRecord(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    async def put_context(self, record: ContextRecord) -> None:
        async with self._connection() as conn:
            await conn.execute(
                "INSERT INTO jsonld_contexts (id, url, kind, document, created_at) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url, "
                "kind = EXCLUDED.kind, document = EXCLUDED.document, "
                "created_at = EXCLUDED.created_at, seq = nextval('jsonld_contexts_seq')",
                record.id, record.url, record.kind, record.document, record.created_at,
            )

    async def delete_context(self, context_id: str) -> bool:
        async with self._connection() as conn:
            status = await conn.execute("DELETE FROM jsonld_contexts WHERE id = $1", context_id)
        return status != "DELETE 0"


# ------------------------------------------------------------------------------- helpers


def _snapshot(conn: asyncpg.Connection) -> Any:
    """A read-only transaction in which several statements see one snapshot."""
    return conn.transaction(isolation="repeatable_read", readonly=True)


def _unavailable(exc: BaseException) -> NgsiLdError:
    error = translate(exc)
    if isinstance(error, NgsiLdError):
        return error
    return StoreUnavailable(f"cannot connect to PostgreSQL: {type(exc).__name__}: {exc}")
