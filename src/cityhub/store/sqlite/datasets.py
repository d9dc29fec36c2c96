"""Open data on SQLite: dataset extents (computed in the database) and usage counters.

`SqliteDatasets` is mixed into `SqliteStore` and uses its writer queue (`_write`) and reader
pool (`_read`). `dataset_usage` holds one row per (tenant, type, key): increments are added by
an upsert, so several processes (or restarts) only ever add to the counts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from cityhub.ngsild.entity import MAX_GEO_INSTANCES
from cityhub.store.base import DatasetSummary, UsageCount

DDL = """
CREATE TABLE IF NOT EXISTS dataset_usage (
    tenant TEXT NOT NULL,
    type TEXT NOT NULL,
    key TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    entities INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, type, key)
) WITHOUT ROWID;
"""



Box = tuple[float, float, float, float]


def _union(a: Box | None, b: Box) -> Box:
    if a is None:
        return b
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


class SqliteDatasets:
    async def dataset_summaries(self, tenant: str, geoproperty: str) -> list[DatasetSummary]:
        """Every entity type of `tenant` with its count, times and the bounding box of the
        `geoproperty` geometries (from the geometry tables: no document is read)."""

        def run(conn: sqlite3.Connection) -> list[DatasetSummary]:
            found = {
                name: DatasetSummary(name, count, created, modified)
                for name, count, created, modified in conn.execute(
                    "SELECT n.name, count(*), min(e.created_at), max(e.modified_at) "
                    "FROM entity_types t JOIN entities e ON e.eid = t.eid "
                    "JOIN names n ON n.nid = t.tid WHERE e.tenant = ? GROUP BY n.name "
                    "ORDER BY n.name", (tenant,))
            }
            for name, *box in conn.execute(
                "SELECT n.name, min(r.min_lon), min(r.min_lat), max(r.max_lon), max(r.max_lat) "
                "FROM geo_rtree r JOIN entities e ON e.eid = r.eid "
                "JOIN entity_types t ON t.eid = r.eid JOIN names n ON n.nid = t.tid "
                "WHERE e.tenant = ? AND r.kid = (SELECT nid FROM names WHERE name = ?) "
                "GROUP BY n.name "
                "UNION ALL "
                "SELECT n.name, min(p.lon), min(p.lat), max(p.lon), max(p.lat) "
                # gid / GEO_SLOTS (schema.py) is the eid
                f"FROM geo_points p JOIN entities e ON e.eid = p.gid / {MAX_GEO_INSTANCES} "
                "JOIN entity_types t ON t.eid = e.eid JOIN names n ON n.nid = t.tid "
                "WHERE e.tenant = ? AND p.kid = (SELECT nid FROM names WHERE name = ?) "
                "GROUP BY n.name", (tenant, geoproperty, tenant, geoproperty)):
                if name in found and box[0] is not None:
                    found[name].bbox = _union(found[name].bbox, (box[0], box[1], box[2], box[3]))
            return list(found.values())

        return await self._read(run)  # type: ignore[attr-defined,no-any-return]

    async def add_usage(self, counts: Sequence[UsageCount]) -> None:
        if not counts:
            return
        rows = [(c.tenant, c.type, c.key, c.requests, c.entities) for c in counts]
        await self._write(lambda conn: conn.executemany(  # type: ignore[attr-defined]
            "INSERT INTO dataset_usage (tenant, type, key, requests, entities) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, type, key) DO UPDATE SET "
            "requests = requests + excluded.requests, entities = entities + excluded.entities",
            rows))

    async def usage_counts(self, tenants: Sequence[str] | None = None) -> list[UsageCount]:
        """The counters of `tenants` (None: every tenant), by tenant, type and key."""

        def run(conn: sqlite3.Connection) -> list[UsageCount]:
            sql = "SELECT tenant, type, key, requests, entities FROM dataset_usage"
            params: list[str] = []
            if tenants is not None:
                sql += f" WHERE tenant IN ({','.join('?' * len(tenants))})"
                params = list(tenants)
            return [UsageCount(*row) for row in conn.execute(
                sql + " ORDER BY tenant, type, key", params)]

        if tenants is not None and not tenants:
            return []
        return await self._read(run)  # type: ignore[attr-defined,no-any-return]
