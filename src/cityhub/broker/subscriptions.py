"""Subscription use cases (ETSI GS CIM 009 clause 5.8) and the registry of subscriptions.

`SubscriptionBroker` creates, retrieves, queries, updates and deletes subscriptions in the
store. `SubscriptionRegistry` keeps every tenant's subscriptions compiled in memory, indexed so
that a change is matched against its candidates only: by entity id (selectors naming one), by
entity type (the types a selector's type expression requires), and by watched attribute
(subscriptions with watchedAttributes but no entities). It answers `records_changes(tenant)`,
the filter the writing brokers ask before each write (does the tenant have a live subscription
that notifies on changes?), and reloads from the store whenever the store's subscription
generation moves, polled every `poll_s` seconds: so a subscription another worker made is seen
within that time, and nothing about subscriptions lives only in one worker's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from cityhub.broker.entities import DEFAULT_TENANT
from cityhub.broker.query import page
from cityhub.ngsild.context import TermMap, core_term_map
from cityhub.ngsild.entity import check_uri, now_iso
from cityhub.ngsild.errors import NgsiLdError, NonexistentTenant, ResourceNotFound
from cityhub.ngsild.notification import EntityChange
from cityhub.ngsild.subscription import (
    SUBSCRIPTION_PREFIX,
    Subscription,
    parse_subscription,
    patch_subscription,
    render_subscription,
)
from cityhub.store.base import DeliveryStatus, Store, SubscriptionRecord

log = logging.getLogger("cityhub.subscriptions")

#: seconds between two looks at the store's subscription generation
DEFAULT_POLL_S = 0.5
#: a time after every possible expiresAt
_FOREVER = "~"


@dataclass(slots=True, eq=False)
class Registered:
    """A subscription as the registry holds it, with what notifying needs at hand."""

    tenant: str
    sub: Subscription
    #: the term map notifications are compacted with
    terms: TermMap
    modified_at: str
    #: `sub.notify_context` as JSON, for application/ld+json notifications
    context_json: bytes = b""

    @property
    def key(self) -> tuple[str, str]:
        return self.tenant, self.sub.id


@dataclass(slots=True)
class _Tenant:
    subs: dict[str, Registered] = field(default_factory=dict)
    index: dict[tuple[str, str], list[Registered]] = field(default_factory=dict)
    #: the latest expiresAt of a live change subscription ("" none, _FOREVER: never expires)
    record_until: str = ""

    def rebuild(self) -> None:
        self.index.clear()
        until = ""
        for reg in self.subs.values():
            for key in dict.fromkeys(reg.sub.index_keys()):
                self.index.setdefault(key, []).append(reg)
            if reg.sub.is_active and not reg.sub.periodic:
                until = max(until, reg.sub.expires_at or _FOREVER)
        self.record_until = until


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background task (if any) and wait until it has stopped."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class SubscriptionRegistry:
    """Every tenant's subscriptions, compiled and indexed (see the module docstring)."""

    def __init__(self, store: Store, resolve: Callable[[Any], Any], *,
                 poll_s: float = DEFAULT_POLL_S) -> None:
        self.store = store
        #: context -> TermMap coroutine (the ContextResolver's for_inline)
        self._resolve = resolve
        self.poll_s = poll_s
        self._tenants: dict[str, _Tenant] = {}
        self._generation: int | None = None
        self._task: asyncio.Task[None] | None = None
        #: held while the registry and the store change together (local change or reload)
        self.lock = asyncio.Lock()
        self._periodic: list[Registered] | None = None
        #: called after the registry changed (senders re-read their subscription)
        self.listeners: list[Callable[[], None]] = []

    async def start(self) -> None:
        await self.reload()
        self._task = asyncio.create_task(self._poll(), name="cityhub-subscription-registry")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_task(task)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                if await self.store.subscriptions_generation() != self._generation:
                    await self.reload()
            except NgsiLdError as exc:
                log.warning("subscriptions could not be reloaded: %s", exc.detail)
            except Exception:
                log.exception("subscriptions could not be reloaded")

    async def reload(self) -> None:
        """Rebuild from the store; subscriptions whose record did not change are kept."""
        async with self.lock:
            generation = await self.store.subscriptions_generation()
            records, _ = await self.store.list_subscriptions(None)
            tenants: dict[str, _Tenant] = {}
            for record in records:
                known = self.get(record.tenant, record.id)
                if known is not None and known.modified_at == record.modified_at:
                    reg: Registered | None = known
                else:
                    reg = await self._compile(record)
                if reg is not None:
                    tenants.setdefault(record.tenant, _Tenant()).subs[record.id] = reg
            for tenant in tenants.values():
                tenant.rebuild()
            self._tenants = tenants
            self._generation = generation
        self._changed()

    async def _compile(self, record: SubscriptionRecord) -> Registered | None:
        try:
            sub = Subscription.from_doc(record.doc, core_term_map().expand)
        except NgsiLdError as exc:  # written by an older version with other rules
            log.error("subscription %s of tenant %r cannot be read: %s", record.id,
                      record.tenant, exc.detail)
            return None
        return await self.registered(record.tenant, sub, record.modified_at)

    async def registered(self, tenant: str, sub: Subscription, modified_at: str) -> Registered:
        context = sub.notify_context
        try:
            terms = await self._resolve(context)
        except NgsiLdError as exc:
            log.warning("the @context of subscription %s is not available (%s); its "
                        "notifications use the core context", sub.id, exc.detail)
            terms = core_term_map()
        return Registered(tenant, sub, terms, modified_at, orjson.dumps(context))

    def put(self, reg: Registered) -> None:
        tenant = self._tenants.setdefault(reg.tenant, _Tenant())
        tenant.subs[reg.sub.id] = reg
        tenant.rebuild()
        self._changed()

    def remove(self, tenant: str, subscription_id: str) -> None:
        found = self._tenants.get(tenant)
        if found is not None and found.subs.pop(subscription_id, None) is not None:
            found.rebuild()
        self._changed()

    def _changed(self) -> None:
        self._periodic = None
        for listener in self.listeners:
            listener()

    # -- queries -----------------------------------------------------------------------------
    def get(self, tenant: str, subscription_id: str) -> Registered | None:
        found = self._tenants.get(tenant)
        return found.subs.get(subscription_id) if found is not None else None

    def records_changes(self, tenant: str) -> bool:
        """Whether writes to `tenant` must leave change records: it has a live subscription
        that notifies on changes."""
        found = self._tenants.get(tenant)
        if found is None or not found.record_until:
            return False
        return found.record_until == _FOREVER or found.record_until > now_iso()

    def candidates(self, tenant: str, change: EntityChange) -> list[Registered]:
        """The subscriptions of `tenant` that `change` may concern (a superset)."""
        found = self._tenants.get(tenant)
        if found is None:
            return []
        index = found.index
        hits: dict[int, Registered] = {}
        keys = [("id", change.entity_id)]
        keys.extend(("type", t) for t in change.types)
        keys.extend(("attr", a) for a in change.attrs)
        for key in keys:
            for reg in index.get(key, ()):
                hits[id(reg)] = reg
        return list(hits.values())

    def periodic(self) -> list[Registered]:
        if self._periodic is None:
            self._periodic = [reg for tenant in self._tenants.values()
                              for reg in tenant.subs.values() if reg.sub.periodic]
        return self._periodic

    def all(self) -> list[Registered]:
        return [reg for tenant in self._tenants.values() for reg in tenant.subs.values()]


class SubscriptionBroker:
    """Clause 5.8: subscriptions of one hub, over one store, kept in the registry."""

    def __init__(self, store: Store, registry: SubscriptionRegistry,
                 unsettled: Callable[[str, str], DeliveryStatus | None] | None = None) -> None:
        self.store = store
        self.registry = registry
        #: delivery figures this process has not written to the store yet
        self.unsettled = unsettled or (lambda tenant, subscription_id: None)

    async def _require_tenant(self, tenant: str) -> None:
        if tenant != DEFAULT_TENANT and not await self.store.tenant_exists(tenant):
            raise NonexistentTenant(f"tenant {tenant!r} does not exist")

    # -- 5.8.1 Create Subscription -----------------------------------------------------------
    async def create(self, tenant: str, payload: Any, terms: TermMap, context: Any) -> str:
        now = now_iso()
        generated = SUBSCRIPTION_PREFIX + uuid.uuid4().hex
        sub = parse_subscription(payload, terms.expand, now, generated_id=generated,
                                 context=context)
        async with self.registry.lock:
            reg = await self.registry.registered(tenant, sub, now)
            await self.store.create_subscription(
                SubscriptionRecord(tenant, sub.id, sub.to_doc(), now, now))
            self.registry.put(reg)
        return sub.id

    # -- 5.8.3 Retrieve Subscription ---------------------------------------------------------
    async def retrieve(self, tenant: str, subscription_id: str) -> SubscriptionRecord:
        check_uri(subscription_id, "subscription id")
        await self._require_tenant(tenant)
        record = await self.store.get_subscription(tenant, subscription_id)
        if record is None:
            raise ResourceNotFound(f"subscription {subscription_id} does not exist")
        return record

    # -- 5.8.4 Query Subscriptions -----------------------------------------------------------
    async def query(self, tenant: str, limit: str | None, offset: str | None, count: bool
                    ) -> tuple[list[SubscriptionRecord], int]:
        size, start = page(limit, offset, count)
        await self._require_tenant(tenant)
        return await self.store.list_subscriptions(tenant, limit=size, offset=start)

    # -- 5.8.2 Update Subscription -----------------------------------------------------------
    async def update(self, tenant: str, subscription_id: str, fragment: Any,
                     terms: TermMap) -> None:
        record = await self.retrieve(tenant, subscription_id)
        now = now_iso()
        current = Subscription.from_doc(record.doc, core_term_map().expand)
        sub = patch_subscription(current, fragment, terms.expand, now, core_term_map().expand)
        async with self.registry.lock:
            reg = await self.registry.registered(tenant, sub, now)
            record = SubscriptionRecord(tenant, sub.id, sub.to_doc(), record.created_at, now)
            if not await self.store.replace_subscription(record):
                raise ResourceNotFound(f"subscription {subscription_id} does not exist")
            self.registry.put(reg)

    # -- 5.8.5 Delete Subscription -----------------------------------------------------------
    async def delete(self, tenant: str, subscription_id: str) -> None:
        check_uri(subscription_id, "subscription id")
        await self._require_tenant(tenant)
        async with self.registry.lock:
            if not await self.store.delete_subscription(tenant, subscription_id):
                raise ResourceNotFound(f"subscription {subscription_id} does not exist")
            self.registry.remove(tenant, subscription_id)

    # -- rendering ---------------------------------------------------------------------------
    def render(self, record: SubscriptionRecord, *, sys_attrs: bool = False) -> dict[str, Any]:
        """A stored subscription as GET answers, with its delivery figures."""
        sub = Subscription.from_doc(record.doc, core_term_map().expand)
        figures = _add(record.status, self.unsettled(record.tenant, record.id))
        status: dict[str, Any] = {
            "timesSent": figures.times_sent,
            "timesFailed": figures.times_failed,
            "lastNotification": figures.last_notification,
            "lastSuccess": figures.last_success,
            "lastFailure": figures.last_failure,
            "status": figures.last_status,
        }
        return render_subscription(
            sub, now_iso(), status,
            created_at=record.created_at if sys_attrs else None,
            modified_at=record.modified_at if sys_attrs else None)


def _add(stored: DeliveryStatus, extra: DeliveryStatus | None) -> DeliveryStatus:
    if extra is None:
        return stored
    return DeliveryStatus(
        stored.times_sent + extra.times_sent,
        stored.times_failed + extra.times_failed,
        extra.last_notification or stored.last_notification,
        extra.last_success or stored.last_success,
        extra.last_failure or stored.last_failure,
        extra.last_status or stored.last_status,
    )
