"""Temporal use cases (ETSI GS CIM 009 v1.8, clauses 5.6.11-5.6.16 and 5.7.3-5.7.4).

The history of an entity is what its writes recorded (`store.changes`): every attribute
instance a create or update changed, with its observedAt. This broker reads it (instances or
aggregated values, computed by the store), adds instances to it, and corrects or deletes them.

A temporal entity is the entity: it exists while the entity does, queries filter entities by
their current state and then read their history, and deleting it (5.6.16) is deleting the
entity, which deletes its history as every entity delete does.

Adding instances (POST /temporal/entities, POST .../attrs) keeps the current entity the latest
observation: per attribute and datasetId, the posted instance with the latest time (observedAt,
else now) replaces the current one unless that is later still; it is written as an entity
update, which records it in the history as every update does, and every other posted instance
rides on the same write (`Put.history`), so that all of a POST is recorded in one transaction
or none of it. The entity is created when absent (POST /temporal/entities).

Correcting or deleting recorded instances (PATCH / DELETE of an instance, DELETE of an
attribute's history) changes the history only, never the current entity.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any

from cityhub.broker.entities import MAX_RETRIES, RETRY_BACKOFF_S, EntityBroker
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.entity import check_name, check_uri, now_iso
from cityhub.ngsild.errors import (
    AlreadyExists,
    BadRequestData,
    Conflict,
    ResourceNotFound,
    TooManyResults,
)
from cityhub.ngsild.temporal import (
    MAX_INSTANCES,
    AggregatedPeriod,
    HistoryInstance,
    TemporalPayloadParser,
    TemporalQuery,
    instance_time,
    parse_instance_id,
)
from cityhub.ngsild.update import merge_instance
from cityhub.store.base import (
    EntityQuery,
    HistoryQuery,
    HistorySelector,
    Put,
    Store,
    StoredEntity,
)


@dataclass(slots=True)
class TemporalEntity:
    """An entity's current state and the part of its history a query asked for."""

    stored: StoredEntity
    instances: list[HistoryInstance]
    periods: list[AggregatedPeriod]


@dataclass(slots=True)
class TemporalResult:
    entities: list[TemporalEntity]
    count: int | None = None


class TemporalBroker:
    """Clause 5.6.11-5.6.16 and 5.7.3-5.7.4, over one store; entity-level checks and deletes
    go through the entity broker."""

    def __init__(self, store: Store, entities: EntityBroker) -> None:
        self.store = store
        self.entities = entities

    def _record_changes(self, tenant: str) -> bool:
        return self.entities.record_changes(tenant)

    # -- 5.7.4 Query Temporal Evolution of Entities -------------------------------------------
    async def query(self, tenant: str, query: EntityQuery, temporal: TemporalQuery
                    ) -> TemporalResult:
        """The entities `query` selects (their current state), each with its history of the
        attributes `query.attrs` names (all when none)."""
        result = await self.entities.query(tenant, query)
        return TemporalResult(await self._histories(tenant, result.entities, query.attrs,
                                                    temporal), result.count)

    # -- 5.7.3 Retrieve Temporal Evolution of an Entity ---------------------------------------
    async def retrieve(self, tenant: str, entity_id: str, attrs: tuple[str, ...],
                       temporal: TemporalQuery) -> TemporalEntity:
        stored = await self.entities.retrieve(tenant, entity_id)
        [found] = await self._histories(tenant, [stored], attrs, temporal)
        return found

    async def _histories(self, tenant: str, entities: list[StoredEntity],
                         attrs: tuple[str, ...], temporal: TemporalQuery
                         ) -> list[TemporalEntity]:
        out = {s.entity["id"]: TemporalEntity(s, [], []) for s in entities}
        if not out:
            return []
        query = HistoryQuery(tuple(out), attrs, temporal, MAX_INSTANCES)
        if temporal.aggregation is None:
            instances = await self.store.history(tenant, query)
            _check_size(len(instances), "instances")
            for item in instances:
                out[item.entity_id].instances.append(item)
        else:
            periods = await self.store.aggregate_history(tenant, query)
            _check_size(len(periods), "aggregation periods")
            for period in periods:
                out[period.entity_id].periods.append(period)
        return list(out.values())

    # -- 5.6.11 Create or Update Temporal Representation of an Entity -------------------------
    async def upsert(self, tenant: str, payload: Any, terms: TermMap) -> bool:
        """Add the payload's instances, creating the entity if needed; True if it was created."""
        now = now_iso()
        head, attrs = TemporalPayloadParser(terms, now).entity(payload)
        return await self._add(tenant, head["id"], head, attrs, now, create=True)

    # -- 5.6.12 Add Attributes to Temporal Representation of an Entity ------------------------
    async def add_attrs(self, tenant: str, entity_id: str, payload: Any, terms: TermMap) -> None:
        check_uri(entity_id, "entity id")
        now = now_iso()
        head, attrs = TemporalPayloadParser(terms, now).entity(
            payload, require_id=False, require_type=False)
        if head.get("id", entity_id) != entity_id:
            raise BadRequestData("the entity id in the body differs from the one in the URL")
        if not attrs:
            raise BadRequestData("the fragment has no attribute")
        await self.entities.require_tenant(tenant)
        await self._add(tenant, entity_id, head, attrs, now, create=False)

    async def _add(self, tenant: str, entity_id: str, head: dict, attrs: dict[str, list[dict]],
                   now: str, *, create: bool) -> bool:
        for attempt in range(MAX_RETRIES):
            if attempt:
                await asyncio.sleep(random.uniform(0, RETRY_BACKOFF_S * 2**attempt))
            current = (await self.store.get(tenant, [entity_id])).get(entity_id)
            if current is None and not create:
                raise ResourceNotFound(f"entity {entity_id} does not exist")
            entity, older = latest_first(current.entity if current else None, head, attrs)
            if current is not None and entity is None:
                # nothing posted is newer than what the entity holds: history only
                if older:
                    await self.store.append_history(tenant, entity_id, older, now)
                break
            # the older instances go into the history in the same transaction
            put = (Put(entity, now, "create", history=older or None) if current is None
                   else Put(entity, now, "replace", expected_version=current.version,
                            history=older or None))
            [outcome] = await self.store.write(tenant, [put],
                                               record_changes=self._record_changes(tenant))
            if outcome.error is None:
                break
            if not isinstance(outcome.error, Conflict | AlreadyExists | ResourceNotFound):
                raise outcome.error
        else:
            raise Conflict(f"entity {entity_id} is changing too fast; try again")
        return current is None

    # -- 5.6.13 Delete Attribute from Temporal Representation of an Entity --------------------
    async def delete_attr(self, tenant: str, entity_id: str, attr: str, terms: TermMap,
                          dataset_id: str | None, delete_all: bool) -> None:
        check_name(attr)
        if dataset_id is not None:
            check_uri(dataset_id, "datasetId")
            if delete_all:
                raise BadRequestData("datasetId and deleteAll=true exclude each other")
        iri = terms.expand(attr)
        await self.entities.retrieve(tenant, entity_id)
        selector = HistorySelector(entity_id, iri, dataset_id, all_datasets=delete_all)
        if not await self.store.delete_history(tenant, selector):
            what = f" with datasetId {dataset_id}" if dataset_id else ""
            raise ResourceNotFound(f"entity {entity_id} has no recorded instance of {attr}{what}")

    # -- 5.6.14 Modify Attribute Instance in Temporal Representation of an Entity -------------
    async def modify_instance(self, tenant: str, entity_id: str, attr: str, instance: str,
                              payload: Any, terms: TermMap) -> None:
        check_uri(entity_id, "entity id")
        check_name(attr)
        hid = parse_instance_id(instance)
        now = now_iso()
        if not isinstance(payload, dict):
            raise BadRequestData("the body must be an attribute instance (a JSON object)")
        if set(payload) == {attr}:
            payload = payload[attr]  # {"<attr>": instance}, or the instance itself
        fragment = TemporalPayloadParser(terms, now).fragment(attr, payload)
        iri = terms.expand(attr)
        await self.entities.require_tenant(tenant)
        for _ in range(MAX_RETRIES):
            found = await self.store.history_instance(tenant, entity_id, iri, hid)
            if found is None:
                raise ResourceNotFound(
                    f"entity {entity_id} has no instance {instance[:200]} of {attr}")
            old = found.instance
            if fragment.get("datasetId", old.get("datasetId")) != old.get("datasetId"):
                raise BadRequestData("the datasetId of a recorded instance cannot change")
            changed = merge_instance(old, fragment, now)
            if await self.store.modify_history(tenant, entity_id, iri, hid, changed,
                                               old["modifiedAt"]):
                return
        raise Conflict(f"instance {instance[:200]} is changing too fast; try again")

    # -- 5.6.15 Delete Attribute Instance from Temporal Representation of an Entity -----------
    async def delete_instance(self, tenant: str, entity_id: str, attr: str, instance: str,
                              terms: TermMap) -> None:
        check_uri(entity_id, "entity id")
        check_name(attr)
        hid = parse_instance_id(instance)
        await self.entities.require_tenant(tenant)
        selector = HistorySelector(entity_id, terms.expand(attr), hid=hid)
        if not await self.store.delete_history(tenant, selector):
            raise ResourceNotFound(
                f"entity {entity_id} has no instance {instance[:200]} of {attr}")


def latest_first(current: dict | None, head: dict, attrs: dict[str, list[dict]]
                 ) -> tuple[dict | None, dict[str, list[dict]]]:
    """Split posted instances: (the entity with the latest ones in place, or None when it
    does not change; attribute IRI -> the instances to append to the history)."""
    entity = ({"id": head["id"], "type": list(head["type"]), "attrs": {}} if current is None
              else {**current, "attrs": {i: list(v) for i, v in current["attrs"].items()}})
    changed = current is None
    if current is not None and head.get("type"):
        types = list(dict.fromkeys([*current["type"], *head["type"]]))
        changed = types != current["type"]
        entity["type"] = types
    if "scope" in head and (current is None or head["scope"] != current.get("scope")):
        entity["scope"] = head["scope"]
        changed = True
    older: dict[str, list[dict]] = {}
    for iri, posted in attrs.items():
        held = entity["attrs"].setdefault(iri, [])
        by_dataset: dict[str | None, list[dict]] = {}
        for inst in posted:
            by_dataset.setdefault(inst.get("datasetId"), []).append(inst)
        for dataset, instances in by_dataset.items():
            # the latest of the posted ones (the last posted among equals)
            newest = max(range(len(instances)),
                         key=lambda i: (instance_time(instances[i], "observedAt"), i))
            index = next((i for i, h in enumerate(held) if h.get("datasetId") == dataset), -1)
            rest = instances[:newest] + instances[newest + 1:]
            kept = held[index] if index >= 0 else None
            if kept is not None and (instance_time(kept, "observedAt")
                                     > instance_time(instances[newest], "observedAt")):
                rest = instances  # the entity holds a later observation
            else:
                replacement = dict(instances[newest])
                if kept is not None:
                    replacement["createdAt"] = kept["createdAt"]
                    held[index] = replacement
                else:
                    held.append(replacement)
                changed = True
                kept = replacement
            for inst in rest:  # instances of an attribute share its createdAt
                inst["createdAt"] = kept["createdAt"]
            if rest:
                older.setdefault(iri, []).extend(rest)
    return (entity if changed else None), older


def _check_size(found: int, what: str) -> None:
    if found > MAX_INSTANCES:
        raise TooManyResults(
            f"the answer would hold more than {MAX_INSTANCES} {what}; narrow the time "
            "interval (timerel), ask for fewer attributes or entities, use lastN, or "
            "aggregate (options=aggregatedValues)", maxInstances=MAX_INSTANCES)


__all__ = ["TemporalBroker", "TemporalEntity", "TemporalResult", "latest_first"]
