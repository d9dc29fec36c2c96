"""The published datasets' use cases: what the open-data catalogue reads of each (tenant, type)
(count, extent, latest change, attributes) and the usage counters it keeps (`cityhub.opendata`)."""

from __future__ import annotations

from collections.abc import Sequence

from cityhub.store.base import DatasetSummary, Store, TypeSummary, UsageCount


class DatasetBroker:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def tenants(self) -> list[str]:
        return await self.store.tenants()

    async def summaries(self, tenant: str, geoproperty: str) -> list[DatasetSummary]:
        """Every entity type of `tenant` with its count, the bounding box of `geoproperty` and
        the latest modification, computed in the store."""
        return await self.store.dataset_summaries(tenant, geoproperty)

    async def type_summary(self, tenant: str, type_iri: str) -> TypeSummary | None:
        found = await self.store.type_summaries(tenant, [type_iri])
        return found[0] if found else None

    async def usage(self, tenants: Sequence[str] | None = None) -> list[UsageCount]:
        return await self.store.usage_counts(tenants)

    async def add_usage(self, counts: Sequence[UsageCount]) -> None:
        await self.store.add_usage(counts)
