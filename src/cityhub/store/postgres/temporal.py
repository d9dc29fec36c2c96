"""The attribute history on PostgreSQL: `timestamptz` times, aggregation periods by `date_bin`.

A series is scanned through the `(eid, kid, observed_at)` btree; retention's range deletes use
the BRIN index on `observed_at`. Appends go through binary COPY, in the rows `store.changes`
derives for a write, after the entity's row is locked `FOR SHARE`: a concurrent delete of the
entity (which deletes its history) waits for them instead of leaving rows behind.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from cityhub.ngsild.entity import format_datetime
from cityhub.ngsild.errors import ResourceNotFound
from cityhub.ngsild.temporal import (
    AggregatedPeriod,
    HistoryInstance,
    TemporalQuery,
    from_epoch_ms,
    instance_id,
    instance_time,
)
from cityhub.store.base import HistoryQuery, HistorySelector, RetentionCut
from cityhub.store.changes import history_rows, numeric
from cityhub.store.history import HistorySql
from cityhub.store.postgres.schema import EncodedJson

_PLACEHOLDER = re.compile(r"\?")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
COLUMNS = ["eid", "kid", "dataset_id", "observed_at", "created_at", "modified_at", "num",
           "instance"]
#: the members that may hold an instance's value (`VALUE_MEMBER`)
_VALUE_MEMBERS = ("value", "object", "languageMap", "valueList", "objectList", "json", "vocab")


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


class PostgresHistorySql(HistorySql):
    def in_list(self, column: str, values: Sequence[Any]) -> str:
        kind = "bigint" if values and isinstance(values[0], int) else "text"
        return self.bind(f"{column} = ANY(?::{kind}[])", list(values))

    def time_value(self, text: str) -> Any:
        return _moment(text)

    def time_text(self, value: Any) -> str:
        return format_datetime(value)

    def period(self, column: str, query: TemporalQuery) -> str:
        assert query.aggregation is not None
        return self.bind(f"date_bin(?::interval, {column}, ?::timestamptz)",
                         timedelta(milliseconds=query.aggregation.period_ms),
                         _moment(from_epoch_ms(query.origin_ms)))

    def period_index(self, value: Any, query: TemporalQuery) -> int:
        assert query.aggregation is not None
        return ((value - _EPOCH) // _MS - query.origin_ms) // query.aggregation.period_ms

    def distinct_value(self) -> str:
        members = ", ".join(f"instance->'{member}'" for member in _VALUE_MEMBERS)
        return f"coalesce(to_jsonb(num), {members})"

    def variance(self) -> str:
        return "var_samp(num)"

    def numbered(self, sql: str) -> str:
        """`sql` with `$n` placeholders."""
        counter = iter(range(1, len(self.params) + 1))
        return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


async def _fetch(conn: asyncpg.Connection, sql: PostgresHistorySql, text: str
                 ) -> list[asyncpg.Record]:
    return await conn.fetch(sql.numbered(text), *sql.params)


async def _resolve(conn: asyncpg.Connection, tenant: str, query: HistoryQuery
                   ) -> tuple[dict[int, str], dict[int, str] | None]:
    """(eid -> id of the query's entities, nid -> name of its attributes, None for all)."""
    sql = PostgresHistorySql()
    entities = dict(await _fetch(conn, sql, sql.entity_ids(tenant, query.entity_ids)))
    if not query.attrs:
        return entities, None
    sql = PostgresHistorySql()
    return entities, dict(await _fetch(conn, sql, sql.name_ids(query.attrs)))


def _ids(names: dict[int, str] | None) -> list[int] | None:
    return None if names is None else list(names)


async def _names(conn: asyncpg.Connection, nids: set[int]) -> dict[int, str]:
    if not nids:
        return {}
    sql = PostgresHistorySql()
    return dict(await _fetch(conn, sql, sql.names(list(nids))))


class PostgresHistory:
    """The history methods of the Store protocol, mixed into `PostgresStore` (which provides
    `_connection` and the name-interning `_writer`)."""

    _connection: Callable[[], AbstractAsyncContextManager[asyncpg.Connection]]
    _writer: Any

    async def _execute(self, sql: PostgresHistorySql, text: str) -> int:
        async with self._connection() as conn:
            status = await conn.execute(sql.numbered(text), *sql.params)
        return int(status.rsplit(" ", 1)[-1])

    async def history(self, tenant: str, query: HistoryQuery) -> list[HistoryInstance]:
        return await self._select(tenant, query)

    async def aggregate_history(self, tenant: str, query: HistoryQuery
                                ) -> list[AggregatedPeriod]:
        return await self._select(tenant, query)

    async def _select(self, tenant: str, query: HistoryQuery) -> list[Any]:
        """The instances or aggregated values `query` asks for."""
        async with self._connection() as conn:
            entities, names = await _resolve(conn, tenant, query)
            if not entities or names == {}:
                return []
            sql = PostgresHistorySql()
            rows = await _fetch(conn, sql, sql.select(list(entities), _ids(names), query))
            names = names or await _names(conn, {row[1] for row in rows})
        return sql.results(rows, entities, names, query)

    async def history_instance(self, tenant: str, entity_id: str, attr: str, hid: int
                               ) -> HistoryInstance | None:
        sql = PostgresHistorySql()
        text = sql.instance(tenant, entity_id, attr, hid)
        async with self._connection() as conn:
            rows = await _fetch(conn, sql, text)
        if not rows:
            return None
        instance = rows[0][1]
        return HistoryInstance(entity_id, attr, instance_id(rows[0][0]),
                               instance_time(instance, "observedAt"), instance)

    async def append_history(self, tenant: str, entity_id: str, attrs: dict[str, list[dict]],
                             now: str) -> int:
        rows = history_rows({"attrs": attrs}, now)
        if not rows:
            return 0
        async with self._connection() as conn:
            names = await self._writer.intern(conn, {row[0] for row in rows})
            async with conn.transaction():
                eid = await conn.fetchval(
                    "SELECT eid FROM entities WHERE tenant = $1 AND id = $2 FOR SHARE",
                    tenant, entity_id)
                if eid is None:
                    raise ResourceNotFound(f"entity {entity_id} does not exist")
                await conn.copy_records_to_table("attr_history", columns=COLUMNS, records=[
                    (eid, names[attr], dataset, _moment(observed), _moment(created),
                     _moment(modified), num, EncodedJson(document))
                    for attr, dataset, observed, created, modified, num, document in rows
                ])
        return len(rows)

    async def modify_history(self, tenant: str, entity_id: str, attr: str, hid: int,
                             instance: dict, expected_modified_at: str) -> bool:
        sql = PostgresHistorySql()
        text = sql.modify(tenant, entity_id, attr, hid, instance,
                          numeric(instance.get("value")),
                          EncodedJson(orjson.dumps(instance)), expected_modified_at)
        return await self._execute(sql, text) == 1

    async def delete_history(self, tenant: str, selector: HistorySelector) -> int:
        sql = PostgresHistorySql()
        return await self._execute(sql, sql.delete(tenant, selector))

    async def expire_history(self, cut: RetentionCut, limit: int) -> int:
        sql = PostgresHistorySql()
        return await self._execute(sql, sql.expired(cut, limit))

    async def tenants(self) -> list[str]:
        async with self._connection() as conn:
            rows = await conn.fetch("SELECT name FROM tenants ORDER BY name")
        return [row[0] for row in rows]
