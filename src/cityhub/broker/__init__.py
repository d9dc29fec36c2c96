"""Use cases of the context broker: entities, batches, queries, discovery, @contexts.

`Hub` wires them over one store; the API and the services talk to the hub, never to the store.
"""

from __future__ import annotations

from typing import Any

from cityhub.broker.batch import BatchBroker
from cityhub.broker.contexts import ContextResolver
from cityhub.broker.discovery import Discovery
from cityhub.broker.entities import EntityBroker
from cityhub.store.base import Store, open_store


class Hub:
    """The broker core over one store: what `cityhub serve` runs and the services call."""

    def __init__(
        self,
        store: Store,
        *,
        context_fetch_timeout: float = 5.0,
        context_allow: tuple[str, ...] | None = None,
    ) -> None:
        self.store = store
        self.contexts = ContextResolver(store, fetch_timeout=context_fetch_timeout,
                                        allow=context_allow)
        self.entities = EntityBroker(store)
        self.batch = BatchBroker(store)
        self.discovery = Discovery(store)

    @classmethod
    def from_dsn(cls, dsn: str, **options: Any) -> Hub:
        return cls(open_store(dsn), **options)

    async def start(self) -> None:
        await self.store.open()
        await self.contexts.start()

    async def stop(self) -> None:
        await self.store.close()


__all__ = ["Hub"]
