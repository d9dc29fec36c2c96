"""Usage counters of the published datasets: requests and entities served, per dataset and per
caller (API key id, JWT subject, or "anonymous").

Counted in memory on the request path (a dictionary update, no store call) and flushed to the
store (`dataset_usage`, added to by upsert) every FLUSH_S seconds and at shutdown, so counts
survive restarts and add up over several API workers. Counted: the catalogue's exports, and the
NGSI-LD reads of published types (GET /ngsi-ld/v1/entities and /entities/{id}) that answer 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from starlette.types import Message, Scope, Send

from cityhub.security.policy import short_name
from cityhub.store.base import UsageCount

log = logging.getLogger("cityhub.opendata")

FLUSH_S = 5.0
ANONYMOUS = "anonymous"
_ENTITIES = "/ngsi-ld/v1/entities"
#: the scope key under which an entity read's handler leaves the entities it served (their
#: stored, expanded documents)
SERVED = "cityhub.served"


class UsageMeter:
    """The counters of one process, and their flushing through `datasets`
    (broker.datasets.DatasetBroker)."""

    def __init__(self, datasets: Any, published: Callable[[str, str], bool]) -> None:
        self.datasets = datasets
        #: whether (tenant, type short name) is a published dataset
        self.published = published
        self.pending: dict[tuple[str, str, str], list[int]] = {}
        self._task: asyncio.Task[None] | None = None

    def count(self, tenant: str, type_name: str, key: str, entities: int,
              requests: int = 1) -> None:
        found = self.pending.get((tenant, type_name, key))
        if found is None:
            self.pending[(tenant, type_name, key)] = [requests, entities]
        else:
            found[0] += requests
            found[1] += entities

    def metered(self, scope: Scope, send: Send, tenant: str, key: str | None) -> Send:
        """`send`, counting the entities a 200 answer of an NGSI-LD entity read served (the
        handler leaves them in the scope under SERVED: nothing is parsed again); `send` itself
        for any other request (a prefix test: microseconds)."""
        path = scope["path"]
        if scope["method"] != "GET" or not path.startswith(_ENTITIES):
            return send
        caller = key or ANONYMOUS
        status = 0

        async def metering(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif (status == 200 and message["type"] == "http.response.body"
                  and not message.get("more_body", False)):
                self._count_served(tenant, caller, scope.get(SERVED) or ())
            await send(message)

        return metering

    def served(self, tenant: str, key: str | None, served: Iterable[dict[str, Any]]) -> None:
        """Count a 200 entity read that a layer answered itself, without a `metered` send
        (api.entities.DefaultRetrieve: the common GET /entities/{id})."""
        self._count_served(tenant, key or ANONYMOUS, served)

    def _count_served(self, tenant: str, key: str, served: Iterable[dict[str, Any]]) -> None:
        by_type: dict[str, int] = {}
        for entity in served:
            for kind in entity.get("type") or ():
                name = short_name(kind)
                by_type[name] = by_type.get(name, 0) + 1
        for name, entities in by_type.items():
            if self.published(tenant, name):
                self.count(tenant, name, key, entities)

    def snapshot(self) -> list[UsageCount]:
        return [UsageCount(t, n, k, r, e) for (t, n, k), (r, e) in self.pending.items()]

    async def flush(self) -> None:
        pending, self.pending = self.pending, {}
        counts = [UsageCount(t, n, k, r, e) for (t, n, k), (r, e) in pending.items()]
        try:
            await self.datasets.add_usage(counts)
        except Exception as exc:  # keep them for the next flush
            log.warning("usage counters not flushed, kept for the next try: %s",
                        getattr(exc, "detail", exc))
            for c in counts:
                self.count(c.tenant, c.type, c.key, c.entities, c.requests)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            await self.flush()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="cityhub-usage-flush")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()
