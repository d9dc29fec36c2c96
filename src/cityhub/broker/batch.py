"""Batch entity operations (clause 5.6.7 - 5.6.10): create, upsert, update, delete.

Each entity of a batch succeeds or fails on its own: a bad entity becomes an entry in the
BatchOperationResult's `errors` and never stops or corrupts the others. All the good entities of
one batch are written in one store transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cityhub.broker.entities import never_record_changes
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.entity import EntityParser, check_uri, now_iso
from cityhub.ngsild.errors import (
    AlreadyExists,
    BadRequestData,
    Conflict,
    NgsiLdError,
    ResourceNotFound,
)
from cityhub.ngsild.update import append_attributes
from cityhub.store.base import Delete, Put, Store, WriteOp

MAX_BATCH = 10_000
MAX_RETRIES = 8


@dataclass
class BatchResult:
    success: list[str] = field(default_factory=list)
    errors: list[tuple[str, NgsiLdError]] = field(default_factory=list)
    #: ids created (as opposed to updated), for upsert's 201/204 answer
    created: list[str] = field(default_factory=list)


def _check_batch(payload: Any) -> list[Any]:
    if not isinstance(payload, list):
        raise BadRequestData("a batch operation needs a JSON array")
    if not payload:
        raise BadRequestData("a batch operation needs at least one entity")
    if len(payload) > MAX_BATCH:
        raise BadRequestData(f"a batch may hold at most {MAX_BATCH} entities")
    return payload


def _item_id(item: Any) -> str:
    if isinstance(item, dict) and isinstance(item.get("id"), str):
        return item["id"][:2048]
    return item[:2048] if isinstance(item, str) else ""


class BatchBroker:
    def __init__(self, store: Store) -> None:
        self.store = store
        #: as EntityBroker.record_changes
        self.record_changes: Callable[[str], bool] = never_record_changes

    def _parse(
        self, payload: Any, terms: TermMap, now: str, result: BatchResult
    ) -> list[dict]:
        parser = EntityParser(terms, now)
        entities = []
        for item in _check_batch(payload):
            try:
                entities.append(parser.entity(item))
            except NgsiLdError as exc:
                result.errors.append((_item_id(item), exc))
        return entities

    async def _write(self, tenant: str, ops: list[WriteOp], result: BatchResult) -> None:
        if not ops:
            return
        written = await self.store.write(tenant, ops, record_changes=self.record_changes(tenant))
        for outcome in written:
            if outcome.error is not None:
                result.errors.append((outcome.entity_id, outcome.error))
            else:
                result.success.append(outcome.entity_id)
                if outcome.created:
                    result.created.append(outcome.entity_id)

    # -- 5.6.7 Batch Entity Creation ---------------------------------------------------------
    async def create(self, tenant: str, payload: Any, terms: TermMap) -> BatchResult:
        now = now_iso()
        result = BatchResult()
        entities = self._parse(payload, terms, now, result)
        await self._write(tenant, [Put(e, now, "create") for e in entities], result)
        return result

    # -- 5.6.8 Batch Entity Upsert -----------------------------------------------------------
    async def upsert(self, tenant: str, payload: Any, terms: TermMap, *, replace: bool = True
                     ) -> BatchResult:
        """options=replace (default): each entity replaces the stored one; options=update:
        its attributes are appended to (overwrite) the stored entity's."""
        now = now_iso()
        result = BatchResult()
        entities = self._parse(payload, terms, now, result)
        if replace:
            await self._write(tenant, [Put(e, now, "upsert") for e in entities], result)
        else:
            await self._merge_into(tenant, entities, now, result, create_missing=True,
                                   overwrite=True)
        return result

    # -- 5.6.9 Batch Entity Update -----------------------------------------------------------
    async def update(self, tenant: str, payload: Any, terms: TermMap, *, overwrite: bool = True
                     ) -> BatchResult:
        now = now_iso()
        result = BatchResult()
        entities = self._parse(payload, terms, now, result)
        await self._merge_into(tenant, entities, now, result, create_missing=False,
                               overwrite=overwrite)
        return result

    async def _merge_into(
        self, tenant: str, entities: list[dict], now: str, result: BatchResult, *,
        create_missing: bool, overwrite: bool,
    ) -> None:
        """Append each entity's attributes to the stored one (read, merge, write if unchanged).

        An entity whose merge fails (a null value for an attribute) is an error of its own and
        leaves the others alone, as a bad entity does at parsing."""
        pending = entities
        for _ in range(MAX_RETRIES):
            if not pending:
                return
            stored = await self.store.get(tenant, list({e["id"]: None for e in pending}))
            merged: dict[str, dict] = {}  # an id twice in one batch: merge in order
            versions: dict[str, int | None] = {}
            by_id: dict[str, list[dict]] = {}  # the fragments merged into each written entity
            for entity in pending:
                entity_id = entity["id"]
                base = merged.get(entity_id)
                if base is None:
                    found = stored.get(entity_id)
                    if found is not None:
                        base = found.entity
                        versions[entity_id] = found.version
                if base is None:
                    if not create_missing:
                        result.errors.append(
                            (entity_id, ResourceNotFound(f"entity {entity_id} does not exist")))
                        continue
                    merged[entity_id] = entity
                    versions.setdefault(entity_id, None)
                    by_id[entity_id] = [entity]
                    continue
                try:
                    new, _ = append_attributes(base, entity["attrs"], overwrite=overwrite)
                except NgsiLdError as exc:
                    result.errors.append((entity_id, exc))
                    continue
                base_types, types = base["type"], entity["type"]
                new["type"] = list(base_types) if types == base_types else list(
                    dict.fromkeys([*base_types, *types]))
                if "scope" in entity:
                    new["scope"] = entity["scope"]
                merged[entity_id] = new
                by_id.setdefault(entity_id, []).append(entity)  # what a retry merges again
            ops: list[WriteOp] = []
            for entity_id, entity in merged.items():
                version = versions.get(entity_id)
                if version is None:
                    ops.append(Put(entity, now, "create"))
                else:
                    ops.append(Put(entity, now, "replace", expected_version=version,
                                   previous=stored[entity_id].entity))
            retry: list[dict] = []
            written = await self.store.write(
                tenant, ops, record_changes=self.record_changes(tenant)) if ops else []
            for outcome in written:
                if isinstance(outcome.error, Conflict | AlreadyExists):
                    retry.extend(by_id[outcome.entity_id])  # raced with another writer
                elif outcome.error is not None:
                    result.errors.append((outcome.entity_id, outcome.error))
                else:
                    result.success.append(outcome.entity_id)
                    if outcome.created:
                        result.created.append(outcome.entity_id)
            pending = retry
        for entity in pending:
            result.errors.append((entity["id"], Conflict(f"entity {entity['id']} kept changing")))

    # -- 5.6.10 Batch Entity Delete ----------------------------------------------------------
    async def delete(self, tenant: str, payload: Any) -> BatchResult:
        result = BatchResult()
        ops: list[WriteOp] = []
        for item in _check_batch(payload):
            try:
                ops.append(Delete(check_uri(item, "entity id")))
            except NgsiLdError as exc:
                result.errors.append((_item_id(item), exc))
        await self._write(tenant, ops, result)
        return result
