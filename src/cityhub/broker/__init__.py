"""Use cases of the context broker: entities, batches, queries, discovery, @contexts.

`Hub` wires them over one store; the API and the services talk to the hub, never to the store.
"""

from __future__ import annotations

from typing import Any

from cityhub.broker.batch import BatchBroker
from cityhub.broker.contexts import ContextResolver
from cityhub.broker.datasets import DatasetBroker
from cityhub.broker.delivery import DeliveryOptions
from cityhub.broker.discovery import Discovery
from cityhub.broker.entities import EntityBroker
from cityhub.broker.notifications import ChangeSignallingStore, Notifier
from cityhub.broker.retention import Retention, RetentionPolicy
from cityhub.broker.subscriptions import SubscriptionBroker, SubscriptionRegistry
from cityhub.broker.temporal import TemporalBroker
from cityhub.store.base import Store, open_store


class Hub:
    """The broker core over one store: what `cityhub serve` runs and the services call."""

    def __init__(
        self,
        store: Store,
        *,
        context_fetch_timeout: float = 5.0,
        context_allow: tuple[str, ...] | None = None,
        delivery: DeliveryOptions | None = None,
        retention: RetentionPolicy | None = None,
    ) -> None:
        self.store = store
        self.contexts = ContextResolver(store, fetch_timeout=context_fetch_timeout,
                                        allow=context_allow)
        # subscriptions: the registry tells writers whether to record changes; writes that do
        # wake the dispatcher (broker.notifications)
        self.registry = SubscriptionRegistry(store, self.contexts.for_inline)
        self.notifier = Notifier(store, self.registry, delivery or DeliveryOptions())
        self.subscriptions = SubscriptionBroker(store, self.registry,
                                                self.notifier.deliveries.unsettled)
        writes = ChangeSignallingStore(store, self.notifier.wake)
        self.entities = EntityBroker(writes)  # type: ignore[arg-type]
        self.batch = BatchBroker(writes)  # type: ignore[arg-type]
        self.entities.record_changes = self.registry.records_changes
        self.batch.record_changes = self.registry.records_changes
        self.discovery = Discovery(store)
        self.datasets = DatasetBroker(store)
        # the temporal API (history) and the retention of history (broker.retention)
        self.temporal = TemporalBroker(writes, self.entities)  # type: ignore[arg-type]
        self.retention = Retention(store, retention or RetentionPolicy(()))

    @classmethod
    def from_dsn(cls, dsn: str, **options: Any) -> Hub:
        return cls(open_store(dsn), **options)

    async def start(self) -> None:
        await self.store.open()
        await self.contexts.start()
        await self.registry.start()
        await self.notifier.start()
        await self.retention.start()

    async def stop(self) -> None:
        await self.retention.stop()
        await self.notifier.stop()
        await self.registry.stop()
        await self.store.close()


__all__ = ["Hub"]
