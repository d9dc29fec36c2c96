"""The dead-letter store: records the hub refused, with the reason, as `IngestRejection`
entities (in the record's tenant) written through the broker core, so they are queryable like
any entity and through `/cityhub/v1/ingest/rejections`.

A rejection never keeps a personal value in clear: it holds the record as it was after
de-identification, only the measurement names of a device nobody provisioned, and of a payload
that could not be read only its size and a keyed digest (a plain hash of a short plate could
be reversed by trying every plate).
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from cityhub.broker import Hub
from cityhub.ngsild.context import core_term_map
from cityhub.ngsild.entity import now_iso
from cityhub.ngsild.errors import NonexistentTenant
from cityhub.ngsild.render import KEY_VALUES, RenderOptions, render_entity
from cityhub.ngsild.typeexpr import TypeName
from cityhub.store.base import EntityQuery, EntitySelector

log = logging.getLogger("cityhub.ingest")
TERMS = core_term_map()
TYPE = "IngestRejection"
MAX_REASON = 500


def rejection_id() -> str:
    """Time-ordered, unique: milliseconds then randomness."""
    return f"urn:ngsi-ld:{TYPE}:{int(time.time() * 1000):013x}-{secrets.token_hex(6)}"


def rejection_entity(source: str, reason: str, *, device_id: str | None = None,
                     record: dict[str, Any] | None = None, payload_bytes: int | None = None,
                     payload_digest: str | None = None) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "id": rejection_id(), "type": TYPE,
        "source": {"type": "Property", "value": source},
        "reason": {"type": "Property", "value": reason[:MAX_REASON]},
        "receivedAt": {"type": "Property", "value": now_iso()},
    }
    if device_id is not None:
        entity["deviceId"] = {"type": "Property", "value": device_id[:128]}
    if record is not None:
        entity["record"] = {"type": "Property", "value": record}
    if payload_bytes is not None:
        entity["payloadBytes"] = {"type": "Property", "value": payload_bytes}
    if payload_digest is not None:
        entity["payloadDigest"] = {"type": "Property", "value": payload_digest}
    return entity


class DeadLetters:
    """Buffers rejections and writes them in batches (`flush`)."""

    def __init__(self, hub: Hub, capacity: int = 100_000) -> None:
        self.hub = hub
        self.capacity = capacity
        self.pending: dict[str, list[dict[str, Any]]] = {}
        self.size = 0
        #: rejections not kept (the buffer was full, or the store refused one): counted and
        #: logged, never silent
        self.overflow = 0

    def add(self, tenant: str, entity: dict[str, Any]) -> None:
        if self.size >= self.capacity:
            self.overflow += 1
            return
        self.pending.setdefault(tenant, []).append(entity)
        self.size += 1

    async def flush(self) -> None:
        pending, self.pending, self.size = self.pending, {}, 0
        for tenant, entities in pending.items():
            for start in range(0, len(entities), 1000):
                result = await self.hub.batch.create(tenant, entities[start:start + 1000],
                                                     TERMS)
                for entity_id, error in result.errors:
                    self.overflow += 1
                    log.error("rejection %s could not be stored: %s", entity_id, error.detail)

    async def list(self, tenant: str, limit: int = 100, offset: int = 0
                   ) -> tuple[list[dict[str, Any]], int]:
        """The tenant's rejections (key-values), in the store's order, and how many."""
        query = EntityQuery(selectors=(EntitySelector(types=TypeName(TERMS.expand(TYPE))),),
                            limit=limit, offset=offset, count=True)
        try:
            result = await self.hub.entities.query(tenant, query)
        except NonexistentTenant:
            return [], 0
        options = RenderOptions(format=KEY_VALUES)
        return ([render_entity(s.entity, TERMS, options) for s in result.entities],
                result.count or 0)
