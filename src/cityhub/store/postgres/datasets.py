"""Open data on PostgreSQL: dataset extents (ST_Extent over the GiST-indexed geometries) and
usage counters (`store.sqlite.datasets` has the same table; increments are added by an upsert,
so any number of API workers may flush into it)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from cityhub.store.base import DatasetSummary, UsageCount

DDL = """
CREATE TABLE IF NOT EXISTS dataset_usage (
    tenant text NOT NULL,
    type text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    requests bigint NOT NULL DEFAULT 0,
    entities bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, type, key)
);
"""


async def create_dataset_schema(conn: asyncpg.Connection) -> None:
    await conn.execute(DDL)


class PostgresDatasets:
    async def dataset_summaries(self, tenant: str, geoproperty: str) -> list[DatasetSummary]:
        async with self._connection() as conn, conn.transaction(  # type: ignore[attr-defined]
                isolation="repeatable_read", readonly=True):
            counts = await conn.fetch(
                "SELECT n.name, count(*), min(e.created_at), max(e.modified_at) "
                "FROM entity_types t JOIN entities e ON e.eid = t.eid "
                "JOIN names n ON n.nid = t.tid WHERE e.tenant = $1 GROUP BY n.name "
                "ORDER BY n.name", tenant)
            boxes = await conn.fetch(
                "SELECT n.name, ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM ("
                "SELECT t.tid, ST_Extent(g.geom) AS b FROM geo_index g "
                "JOIN entities e ON e.eid = g.eid JOIN entity_types t ON t.eid = g.eid "
                "WHERE e.tenant = $1 AND g.kid = (SELECT nid FROM names WHERE name = $2) "
                "GROUP BY t.tid) x JOIN names n ON n.nid = x.tid", tenant, geoproperty)
        found = {r[0]: DatasetSummary(r[0], r[1], r[2], r[3]) for r in counts}
        for name, *box in boxes:
            if name in found and box[0] is not None:
                found[name].bbox = (box[0], box[1], box[2], box[3])
        return list(found.values())

    async def add_usage(self, counts: Sequence[UsageCount]) -> None:
        if not counts:
            return
        async with self._connection() as conn:  # type: ignore[attr-defined]
            await conn.executemany(
                "INSERT INTO dataset_usage (tenant, type, key, requests, entities) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, type, key) DO UPDATE SET "
                "requests = dataset_usage.requests + EXCLUDED.requests, "
                "entities = dataset_usage.entities + EXCLUDED.entities",
                [(c.tenant, c.type, c.key, c.requests, c.entities) for c in counts])

    async def usage_counts(self, tenants: Sequence[str] | None = None) -> list[UsageCount]:
        if tenants is not None and not tenants:
            return []
        sql = "SELECT tenant, type, key, requests, entities FROM dataset_usage"
        params: list[object] = []
        if tenants is not None:
            sql += " WHERE tenant = ANY($1::text[])"
            params.append(list(tenants))
        async with self._connection() as conn:  # type: ignore[attr-defined]
            rows = await conn.fetch(sql + " ORDER BY tenant, type, key", *params)
        return [UsageCount(r[0], r[1], r[2], r[3], r[4]) for r in rows]
