"""The attribute history on SQLite: reads on the reader pool, changes on the one writer thread.

Times are integer milliseconds since 1970 (as the write path stores them, `store.changes`), so
a time range is an integer range of the `(eid, kid, observed_at)` index and an aggregation
period is integer division. The standard deviation takes two passes: the period's mean as a
window, then the squared deviations.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from cityhub.ngsild.errors import ResourceNotFound
from cityhub.ngsild.temporal import (
    AggregatedPeriod,
    HistoryInstance,
    TemporalQuery,
    epoch_ms,
    from_epoch_ms,
    instance_id,
    instance_time,
)
from cityhub.store.base import HistoryQuery, HistorySelector, RetentionCut
from cityhub.store.changes import history_rows, numeric
from cityhub.store.history import HistorySql

#: every member that may hold an instance's value, in the order of `VALUE_MEMBER`
_VALUE_PATHS = ("'$.value', '$.object', '$.languageMap', '$.valueList', '$.objectList', "
                "'$.json', '$.vocab'")
INSERT = ("INSERT INTO attr_history (eid, kid, dataset_id, observed_at, created_at, "
          "modified_at, num, instance) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")

Job = Callable[[sqlite3.Connection], Any]


class SqliteHistorySql(HistorySql):
    needs_mean = True

    def in_list(self, column: str, values: Sequence[Any]) -> str:
        self.params.extend(values)
        return f"{column} IN ({','.join('?' * len(values))})"

    def time_value(self, text: str) -> Any:
        return epoch_ms(text)

    def time_text(self, value: Any) -> str:
        return from_epoch_ms(value)

    def period(self, column: str, query: TemporalQuery) -> str:
        assert query.aggregation is not None
        length = query.aggregation.period_ms
        if query.interval.start is not None:  # the origin; no time selected is earlier
            return self.bind(f"(({column} - ?) / ?)", query.origin_ms, length)
        # origin 1970: integer division truncates towards zero, so earlier times round down
        return self.bind(f"(CASE WHEN {column} >= 0 THEN {column} / ? "
                         f"ELSE ({column} - ? + 1) / ? END)", length, length, length)

    def distinct_value(self) -> str:
        return f"coalesce(num, json_extract(CAST(instance AS TEXT), {_VALUE_PATHS}))"

    def variance(self) -> str:
        return "sum((num - mean) * (num - mean)) / (count(num) - 1)"

    def document(self, value: Any) -> dict:
        return orjson.loads(value)


class SqliteHistory:
    """The history methods of the Store protocol, mixed into `SqliteStore` (which provides
    `_read`, `_write` and `_name_ids`)."""

    _read: Callable[[Job], Awaitable[Any]]
    _write: Callable[[Job], Awaitable[Any]]
    _name_ids: Callable[[sqlite3.Connection, set[str]], dict[str, int]]

    async def history(self, tenant: str, query: HistoryQuery) -> list[HistoryInstance]:
        return await self._read(lambda c: _select(c, tenant, query))

    async def aggregate_history(self, tenant: str, query: HistoryQuery
                                ) -> list[AggregatedPeriod]:
        return await self._read(lambda c: _select(c, tenant, query))

    async def history_instance(self, tenant: str, entity_id: str, attr: str, hid: int
                               ) -> HistoryInstance | None:
        sql = SqliteHistorySql()
        text = sql.instance(tenant, entity_id, attr, hid)
        row = await self._read(lambda c: c.execute(text, sql.params).fetchone())
        if row is None:
            return None
        instance = orjson.loads(row[1])
        return HistoryInstance(entity_id, attr, instance_id(row[0]),
                               instance_time(instance, "observedAt"), instance)

    async def append_history(self, tenant: str, entity_id: str, attrs: dict[str, list[dict]],
                             now: str) -> int:
        # rows computed here, off the writer thread (as `write` does)
        rows = [(attr, dataset, epoch_ms(observed), epoch_ms(created), epoch_ms(modified), num,
                 document)
                for attr, dataset, observed, created, modified, num, document
                in history_rows({"attrs": attrs}, now)]

        def run(conn: sqlite3.Connection) -> int:
            found = conn.execute("SELECT eid FROM entities WHERE tenant = ? AND id = ?",
                                 (tenant, entity_id)).fetchone()
            if found is None:
                raise ResourceNotFound(f"entity {entity_id} does not exist")
            names = self._name_ids(conn, {row[0] for row in rows})
            conn.executemany(INSERT, [(found[0], names[row[0]], *row[1:]) for row in rows])
            return len(rows)

        return await self._write(run)

    async def modify_history(self, tenant: str, entity_id: str, attr: str, hid: int,
                             instance: dict, expected_modified_at: str) -> bool:
        sql = SqliteHistorySql()
        text = sql.modify(tenant, entity_id, attr, hid, instance,
                          numeric(instance.get("value")), orjson.dumps(instance),
                          expected_modified_at)
        return await self._write(lambda c: c.execute(text, sql.params).rowcount == 1)

    async def delete_history(self, tenant: str, selector: HistorySelector) -> int:
        sql = SqliteHistorySql()
        text = sql.delete(tenant, selector)
        return await self._write(lambda c: c.execute(text, sql.params).rowcount)

    async def expire_history(self, cut: RetentionCut, limit: int) -> int:
        sql = SqliteHistorySql()
        text = sql.expired(cut, limit)
        return await self._write(lambda c: c.execute(text, sql.params).rowcount)

    async def tenants(self) -> list[str]:
        rows = await self._read(
            lambda c: c.execute("SELECT name FROM tenants ORDER BY name").fetchall())
        return [row[0] for row in rows]


def _select(conn: sqlite3.Connection, tenant: str, query: HistoryQuery) -> list[Any]:
    """The instances or aggregated values `query` asks for."""
    entities, names = _resolve(conn, tenant, query)
    if not entities or names == {}:
        return []
    sql = SqliteHistorySql()
    rows = conn.execute(sql.select(list(entities), _ids(names), query), sql.params).fetchall()
    return sql.results(rows, entities, names or _names(conn, {row[1] for row in rows}), query)


def _resolve(conn: sqlite3.Connection, tenant: str, query: HistoryQuery
             ) -> tuple[dict[int, str], dict[int, str] | None]:
    """(eid -> id of the query's entities, nid -> name of its attributes, None for all)."""
    sql = SqliteHistorySql()
    entities = dict(conn.execute(sql.entity_ids(tenant, query.entity_ids), sql.params))
    if not query.attrs:
        return entities, None
    sql = SqliteHistorySql()
    return entities, dict(conn.execute(sql.name_ids(query.attrs), sql.params))


def _ids(names: dict[int, str] | None) -> list[int] | None:
    return None if names is None else list(names)


def _names(conn: sqlite3.Connection, nids: set[int]) -> dict[int, str]:
    if not nids:
        return {}
    sql = SqliteHistorySql()
    return dict(conn.execute(sql.names(list(nids)), sql.params))
