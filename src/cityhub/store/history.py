"""Reading the attribute history in SQL, shared by the SQLite and PostgreSQL adapters.

Both adapters hold the same `attr_history` table (see `store.changes`): one row per attribute
instance, keyed by the entity's row id (`eid`) and the attribute's interned name (`kid`), with
its datasetId, the three times, the numeric value (`num`, NULL for anything but an int or float)
and the instance document. A series (one attribute of one entity) is a range of the
`(eid, kid, observed_at)` index. A dialect subclass of `HistorySql` says how its database
spells a list test, a time and an aggregation period; everything else (the filters, lastN, the
aggregation methods, retention's selection) is written once here, with bound parameters only
(`?`; the PostgreSQL adapter renumbers them).

A read takes up to four statements on one connection: the entities' row ids and the
attributes' name ids, the history rows, and (for every attribute) the names of those found;
the big statement joins nothing and the planner sees plain id lists.

Aggregations run in the database: one `GROUP BY` over (entity, attribute, datasetId, period),
each method one SQL aggregate over `num` (`totalCount` and `distinctCount` over every
instance). The standard deviation comes as the sample variance (`var_samp`, or on SQLite two
passes: the period's mean as a window, then the squared deviations), whose square root is
taken here, once per period.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from cityhub.ngsild.temporal import (
    AggregatedPeriod,
    HistoryInstance,
    TemporalQuery,
    instance_id,
    instance_time,
    period_bounds,
)
from cityhub.store.base import HistoryQuery, HistorySelector, RetentionCut

#: the column of each timeproperty
TIME_COLUMNS = {"observedAt": "observed_at", "createdAt": "created_at",
                "modifiedAt": "modified_at"}
SERIES = "eid, kid, dataset_id"
ENTITY_ID = "(SELECT eid FROM entities WHERE tenant = ? AND id = ?)"
NAME_ID = "(SELECT nid FROM names WHERE name = ?)"


class HistorySql:
    """Builds history statements; subclasses supply the dialect hooks. One builder builds one
    statement: `params` are its parameters."""

    def __init__(self) -> None:
        self.params: list[Any] = []

    # -- dialect hooks -----------------------------------------------------------------------
    def in_list(self, column: str, values: Sequence[Any]) -> str:
        """SQL testing that `column` is one of `values` (bound here)."""
        raise NotImplementedError

    def time_value(self, text: str) -> Any:
        """A canonical UTC time as the database holds it."""
        raise NotImplementedError

    def time_text(self, value: Any) -> str:
        """The canonical UTC time of a value of a time column."""
        raise NotImplementedError

    def period(self, column: str, query: TemporalQuery) -> str:
        """SQL giving the aggregation period of a row (see `period_index`)."""
        raise NotImplementedError

    def period_index(self, value: Any, query: TemporalQuery) -> int:
        """The period number of what `period` computed."""
        return int(value)

    def distinct_value(self) -> str:
        """SQL giving a value that is equal for instances with equal values."""
        raise NotImplementedError

    def document(self, value: Any) -> dict:
        """An instance document as the driver returns it, decoded."""
        return value

    def variance(self) -> str:
        """The sample variance of `num` in a group (rows carry `mean`, their period's mean,
        when `needs_mean`)."""
        raise NotImplementedError

    #: whether `variance` needs each row's period mean, computed as a window
    needs_mean = False

    # -- building blocks ---------------------------------------------------------------------
    def bind(self, sql: str, *values: Any) -> str:
        self.params.extend(values)
        return sql

    def entity_ids(self, tenant: str, ids: Sequence[str]) -> str:
        """eid, id of the tenant's entities `ids`."""
        sql = self.bind("SELECT eid, id FROM entities WHERE tenant = ? AND ", tenant)
        return sql + self.in_list("id", ids)

    def names(self, nids: Sequence[int]) -> str:
        """nid, name of the names `nids`."""
        return "SELECT nid, name FROM names WHERE " + self.in_list("nid", nids)

    def name_ids(self, names: Sequence[str]) -> str:
        """nid, name of the names `names` that exist."""
        return "SELECT nid, name FROM names WHERE " + self.in_list("name", names)

    def where(self, eids: Sequence[int], kids: Sequence[int] | None, query: HistoryQuery
              ) -> str:
        """The rows of entities `eids`, of attributes `kids` (None: all), in the interval."""
        column = TIME_COLUMNS[query.temporal.timeproperty]
        clauses = [self.in_list("eid", eids)]
        if kids is not None:
            clauses.append(self.in_list("kid", kids))
        interval = query.temporal.interval
        if interval.start is not None:
            clauses.append(self.bind(f"{column} >= ?", self.time_value(interval.start)))
        if interval.end is not None:
            clauses.append(self.bind(f"{column} < ?", self.time_value(interval.end)))
        return " AND ".join(clauses)

    # -- instances ---------------------------------------------------------------------------
    def instances(self, eids: Sequence[int], kids: Sequence[int] | None, query: HistoryQuery
                  ) -> str:
        """eid, kid, hid, instance: by entity, attribute and time; the latest `lastN` of each
        series; at most `query.limit` + 1 rows."""
        column = TIME_COLUMNS[query.temporal.timeproperty]
        where = self.where(eids, kids, query)
        last_n = query.temporal.last_n
        if last_n is None:
            sql = (f"SELECT eid, kid, hid, instance FROM attr_history WHERE {where} "
                   f"ORDER BY eid, kid, {column}, hid")
        else:
            sql = self.bind(
                f"SELECT eid, kid, hid, instance FROM (SELECT hid, eid, kid, instance, "
                f"{column} AS t, row_number() OVER (PARTITION BY {SERIES} ORDER BY {column} "
                f"DESC, hid DESC) AS n FROM attr_history WHERE {where}) r "
                "WHERE n <= ? ORDER BY eid, kid, t, hid", last_n)
        return self.bind(sql + " LIMIT ?", query.limit + 1)

    def history_instances(self, rows: Sequence[Sequence[Any]], entities: dict[int, str],
                          names: dict[int, str], query: HistoryQuery) -> list[HistoryInstance]:
        timeproperty = query.temporal.timeproperty
        out = []
        for eid, kid, hid, document in rows:
            instance = self.document(document)
            out.append(HistoryInstance(entities[eid], names[kid], instance_id(hid),
                                       instance_time(instance, timeproperty), instance))
        return out

    # -- one read: instances or aggregated values ----------------------------------------------
    def select(self, eids: Sequence[int], kids: Sequence[int] | None, query: HistoryQuery
               ) -> str:
        """The statement `query` asks for; its rows start with eid, kid."""
        if query.temporal.aggregation is None:
            return self.instances(eids, kids, query)
        return self.aggregate(eids, kids, query)

    def results(self, rows: Sequence[Sequence[Any]], entities: dict[int, str],
                names: dict[int, str], query: HistoryQuery
                ) -> list[HistoryInstance] | list[AggregatedPeriod]:
        if query.temporal.aggregation is None:
            return self.history_instances(rows, entities, names, query)
        return self.periods(rows, entities, names, query)

    def instance(self, tenant: str, entity_id: str, attr: str, hid: int) -> str:
        """hid, instance of one recorded instance."""
        return self.bind(f"SELECT hid, instance FROM attr_history WHERE hid = ? AND eid = "
                         f"{ENTITY_ID} AND kid = {NAME_ID}", hid, tenant, entity_id, attr)

    # -- aggregation -------------------------------------------------------------------------
    def aggregate(self, eids: Sequence[int], kids: Sequence[int] | None, query: HistoryQuery
                  ) -> str:
        """eid, kid, dataset_id, period, first time, last time, then one column per
        aggregation method (the variance for stddev); by series and period. The groups are
        keyed period first: most rows differ there, which makes sorting them cheapest."""
        temporal = query.temporal
        aggregation = temporal.aggregation
        assert aggregation is not None
        column = TIME_COLUMNS[temporal.timeproperty]
        whole = aggregation.period_ms == 0
        period = "0" if whole else self.period(column, temporal)
        methods = [self.method(name) for name in aggregation.methods]
        inner = (f"SELECT {SERIES}, {period} AS period, {column} AS t, num, instance "
                 f"FROM attr_history WHERE {self.where(eids, kids, query)}")
        if self.needs_mean and "stddev" in aggregation.methods:
            inner = (f"SELECT m.*, avg(num) OVER (PARTITION BY {SERIES}, period) AS mean "
                     f"FROM ({inner}) m")
        bounds = "min(t), max(t)" if whole else "NULL, NULL"
        sql = (f"SELECT {SERIES}, period, {bounds}, {', '.join(methods)} FROM ({inner}) r "
               f"GROUP BY period, {SERIES}")
        if temporal.last_n is not None:
            sql = self.bind(
                f"SELECT * FROM (SELECT a.*, row_number() OVER (PARTITION BY {SERIES} "
                f"ORDER BY period DESC) AS n FROM ({sql}) a) l WHERE n <= ?", temporal.last_n)
        return self.bind(f"{sql} ORDER BY {SERIES}, period LIMIT ?", query.limit + 1)

    def method(self, name: str) -> str:
        if name == "totalCount":
            return "count(*)"
        if name == "distinctCount":
            return f"count(DISTINCT {self.distinct_value()})"
        if name == "sumsq":
            return "sum(num * num)"
        if name == "stddev":
            return self.variance()
        return f"{name}(num)"  # sum, avg, min, max

    def periods(self, rows: Sequence[Sequence[Any]], entities: dict[int, str],
                names: dict[int, str], query: HistoryQuery) -> list[AggregatedPeriod]:
        """The rows of `aggregate` as periods (square roots of variances taken here)."""
        temporal = query.temporal
        assert temporal.aggregation is not None
        methods = temporal.aggregation.methods
        out = []
        for row in rows:
            eid, kid, dataset_id, period, first, last = row[:6]
            values = dict(zip(methods, row[6:6 + len(methods)], strict=True))
            if values.get("stddev") is not None:
                values["stddev"] = math.sqrt(max(values["stddev"], 0.0))
            if first is None:
                start, end = period_bounds(temporal, self.period_index(period, temporal), "", "")
            else:
                start, end = period_bounds(temporal, 0, self.time_text(first),
                                           self.time_text(last))
            out.append(AggregatedPeriod(entities[eid], names[kid], dataset_id, start, end,
                                        values))
        return out

    # -- changes -----------------------------------------------------------------------------
    def modify(self, tenant: str, entity_id: str, attr: str, hid: int, instance: dict,
               num: float | None, document: Any, expected_modified_at: str) -> str:
        """UPDATE of one recorded instance, if unchanged since it was read."""
        return self.bind(
            "UPDATE attr_history SET observed_at = ?, modified_at = ?, num = ?, instance = ? "
            f"WHERE hid = ? AND eid = {ENTITY_ID} AND kid = {NAME_ID} AND modified_at = ?",
            self.time_value(instance_time(instance, "observedAt")),
            self.time_value(instance["modifiedAt"]), num, document, hid, tenant, entity_id,
            attr, self.time_value(expected_modified_at))

    def delete(self, tenant: str, selector: HistorySelector) -> str:
        sql = self.bind(f"DELETE FROM attr_history WHERE eid = {ENTITY_ID}", tenant,
                        selector.entity_id)
        if selector.attr is not None:
            sql += self.bind(f" AND kid = {NAME_ID}", selector.attr)
            if not selector.all_datasets:
                sql += (" AND dataset_id IS NULL" if selector.dataset_id is None
                        else self.bind(" AND dataset_id = ?", selector.dataset_id))
        if selector.hid is not None:
            sql += self.bind(" AND hid = ?", selector.hid)
        return sql

    # -- retention ---------------------------------------------------------------------------
    def expired(self, cut: RetentionCut, limit: int) -> str:
        """DELETE of at most `limit` rows observed before `cut.before` of the entities of
        `cut.tenant` it covers (of `types`, or any; never of `except_types`)."""
        sql = self.bind(
            "DELETE FROM attr_history WHERE hid IN (SELECT hid FROM attr_history WHERE "
            "observed_at < ? AND eid IN (SELECT e.eid FROM entities e WHERE e.tenant = ?",
            self.time_value(cut.before), cut.tenant)
        if cut.types is not None:
            sql += f" AND {self._typed(cut.types)}"
        if cut.except_types:
            sql += f" AND NOT {self._typed(cut.except_types)}"
        return self.bind(sql + ") LIMIT ?)", limit)

    def _typed(self, types: Sequence[str]) -> str:
        """SQL testing that entity `e` has one of `types`."""
        return ("EXISTS (SELECT 1 FROM entity_types t JOIN names n ON n.nid = t.tid "
                f"WHERE t.eid = e.eid AND {self.in_list('n.name', types)})")
