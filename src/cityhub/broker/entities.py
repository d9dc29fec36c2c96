"""Entity use cases (ETSI GS CIM 009 clause 5.6 and 5.7): create, read, change, delete, query.

The broker validates and transforms with `ngsild`, and persists with a `Store`. Changes to an
existing entity are read-modify-write with optimistic concurrency: the write names the version it
read, and a concurrent change makes it retry on fresh data, so no update is lost.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable
from typing import Any, TypeVar

from cityhub.ngsild.context import TermMap
from cityhub.ngsild.entity import EntityParser, check_name, check_uri, now_iso
from cityhub.ngsild.errors import (
    BadRequestData,
    Conflict,
    NonexistentTenant,
    ResourceNotFound,
)
from cityhub.ngsild.update import (
    UpdateResult,
    append_attributes,
    delete_attribute,
    merge_entity,
    partial_update_attribute,
    strip_nulls,
    update_attributes,
)
from cityhub.store.base import (
    Delete,
    EntityQuery,
    Put,
    QueryResult,
    Store,
    StoredEntity,
)

R = TypeVar("R")

DEFAULT_TENANT = ""
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
MAX_RETRIES = 8
#: first back-off step between retries of a conflicting write, in seconds (doubles each time)
RETRY_BACKOFF_S = 0.001


def never_record_changes(tenant: str) -> bool:
    """The default change filter: no tenant has subscriptions, so no change is recorded."""
    return False


def check_tenant(tenant: str | None) -> str:
    """The tenant a NGSILD-Tenant header names ('' for the default tenant)."""
    if tenant is None or tenant == "":
        return DEFAULT_TENANT
    if not _TENANT.match(tenant):
        raise BadRequestData(
            "NGSILD-Tenant must be 1-64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        )
    return tenant


class EntityBroker:
    """Clause 5.6 (provision) and 5.7 (consumption) of entities, over one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        #: tenant -> whether its writes must leave change records (it has subscriptions);
        #: the Hub points this at the subscription registry
        self.record_changes: Callable[[str], bool] = never_record_changes

    async def require_tenant(self, tenant: str) -> None:
        """Reading from a tenant that was never written to is a NonexistentTenant error."""
        if tenant != DEFAULT_TENANT and not await self.store.tenant_exists(tenant):
            raise NonexistentTenant(f"tenant {tenant!r} does not exist")

    # -- 5.6.1 Create Entity ----------------------------------------------------------------
    async def create(self, tenant: str, payload: Any, terms: TermMap) -> str:
        now = now_iso()
        entity = EntityParser(terms, now).entity(payload)
        [outcome] = await self.store.write(tenant, [Put(entity, now, "create")],
                                             record_changes=self.record_changes(tenant))
        if outcome.error is not None:
            raise outcome.error
        return entity["id"]

    # -- 5.7.1 Retrieve Entity --------------------------------------------------------------
    async def retrieve(self, tenant: str, entity_id: str) -> StoredEntity:
        check_uri(entity_id, "entity id")
        await self.require_tenant(tenant)
        found = (await self.store.get(tenant, [entity_id])).get(entity_id)
        if found is None:
            raise ResourceNotFound(f"entity {entity_id} does not exist")
        return found

    # -- 5.7.2 Query Entities ---------------------------------------------------------------
    async def query(self, tenant: str, query: EntityQuery) -> QueryResult:
        await self.require_tenant(tenant)
        return await self.store.query(tenant, query)

    # -- 5.6.6 Delete Entity ----------------------------------------------------------------
    async def delete(self, tenant: str, entity_id: str) -> None:
        check_uri(entity_id, "entity id")
        await self.require_tenant(tenant)
        [outcome] = await self.store.write(tenant, [Delete(entity_id)],
                                             record_changes=self.record_changes(tenant))
        if outcome.error is not None:
            raise outcome.error

    # -- purge: DELETE /entities?type=... ---------------------------------------------------
    async def purge(self, tenant: str, query: EntityQuery) -> int:
        await self.require_tenant(tenant)
        return await self.store.delete_matching(
            tenant, query, record_changes=self.record_changes(tenant))

    # -- 5.6.18 Replace Entity --------------------------------------------------------------
    async def replace(self, tenant: str, entity_id: str, payload: Any, terms: TermMap) -> None:
        check_uri(entity_id, "entity id")
        now = now_iso()
        entity = EntityParser(terms, now).entity(payload, require_id=False)
        if entity.get("id", entity_id) != entity_id:
            raise BadRequestData("the entity id in the body differs from the one in the URL")
        entity["id"] = entity_id
        await self.require_tenant(tenant)
        [outcome] = await self.store.write(tenant, [Put(entity, now, "replace")],
                                             record_changes=self.record_changes(tenant))
        if outcome.error is not None:
            raise outcome.error

    # -- 5.6.17 Merge Entity ----------------------------------------------------------------
    async def merge(self, tenant: str, entity_id: str, payload: Any, terms: TermMap) -> None:
        check_uri(entity_id, "entity id")
        now = now_iso()
        parser = EntityParser(terms, now, allow_null=True, partial=True)
        fragment = parser.entity(payload, require_id=False, require_type=False)
        if fragment.get("id", entity_id) != entity_id:
            raise BadRequestData("the entity id in the body differs from the one in the URL")
        await self._modify(tenant, entity_id, now, lambda e: merge_entity(e, fragment, now))

    # -- 5.6.3 Append Entity Attributes -----------------------------------------------------
    async def append_attrs(
        self, tenant: str, entity_id: str, payload: Any, terms: TermMap, *, overwrite: bool
    ) -> UpdateResult:
        check_uri(entity_id, "entity id")
        now = now_iso()
        fragment = EntityParser(terms, now).entity(payload, require_id=False, require_type=False)
        _same_id(fragment, entity_id)
        return await self._modify(
            tenant, entity_id, now,
            lambda e: append_attributes(e, fragment["attrs"], overwrite=overwrite),
            fragment.get("type"),
        )

    # -- 5.6.2 Update Entity Attributes -----------------------------------------------------
    async def update_attrs(
        self, tenant: str, entity_id: str, payload: Any, terms: TermMap
    ) -> UpdateResult:
        check_uri(entity_id, "entity id")
        now = now_iso()
        parser = EntityParser(terms, now, allow_null=True)
        fragment = parser.entity(payload, require_id=False, require_type=False)
        _same_id(fragment, entity_id)
        return await self._modify(
            tenant, entity_id, now, lambda e: update_attributes(e, fragment["attrs"])
        )

    # -- 5.6.4 Partial Attribute Update -----------------------------------------------------
    async def partial_update_attr(
        self, tenant: str, entity_id: str, attr: str, payload: Any, terms: TermMap
    ) -> None:
        check_uri(entity_id, "entity id")
        check_name(attr)
        now = now_iso()
        if not isinstance(payload, dict):
            raise BadRequestData("an attribute fragment must be a JSON object")
        parser = EntityParser(terms, now, allow_null=True, partial=True)
        [instance] = parser.attribute(attr, payload)
        iri = terms.expand(attr)
        await self._modify(
            tenant, entity_id, now,
            lambda e: (partial_update_attribute(e, iri, instance, now), None),
        )

    # -- 5.6.5 Delete Entity Attribute ------------------------------------------------------
    async def delete_attr(
        self, tenant: str, entity_id: str, attr: str, terms: TermMap,
        dataset_id: str | None, delete_all: bool,
    ) -> None:
        check_uri(entity_id, "entity id")
        check_name(attr)
        if dataset_id is not None:
            check_uri(dataset_id, "datasetId")
        iri = terms.expand(attr)
        await self.require_tenant(tenant)
        now = now_iso()
        await self._modify(
            tenant, entity_id, now,
            lambda e: (delete_attribute(e, iri, dataset_id, delete_all), None),
        )

    async def _modify(
        self,
        tenant: str,
        entity_id: str,
        now: str,
        change: Callable[[dict], tuple[dict, R]],
        add_types: list[str] | None = None,
    ) -> R:
        await self.require_tenant(tenant)
        for attempt in range(MAX_RETRIES):
            if attempt:
                # back off a random while, growing, so that racing writers stop colliding
                await asyncio.sleep(random.uniform(0, RETRY_BACKOFF_S * 2**attempt))
            current = (await self.store.get(tenant, [entity_id])).get(entity_id)
            if current is None:
                raise ResourceNotFound(f"entity {entity_id} does not exist")
            entity, result = change(current.entity)
            if isinstance(result, UpdateResult) and not result.changed and not add_types:
                return result
            if add_types:
                entity["type"] = list(dict.fromkeys([*entity["type"], *add_types]))
            put = Put(entity, now, "replace", expected_version=current.version,
                      previous=current.entity)
            [outcome] = await self.store.write(
                tenant, [put], record_changes=self.record_changes(tenant))
            if outcome.error is None:
                return result
            if not isinstance(outcome.error, Conflict):
                raise outcome.error
        raise Conflict(f"entity {entity_id} is changing too fast; try again")


def _same_id(fragment: dict, entity_id: str) -> None:
    if fragment.get("id", entity_id) != entity_id:
        raise BadRequestData("the entity id in the body differs from the one in the URL")


__all__ = ["DEFAULT_TENANT", "EntityBroker", "check_tenant", "never_record_changes", "strip_nulls"]
