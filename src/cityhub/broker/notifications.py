"""From change records to notifications: the dispatcher, periodic notifications, and who
delivers.

The path of a change (docs/architecture.md, "Notifications"):

1. a write in a tenant with live subscriptions appends a change record (the entity before and
   after) to `change_outbox`, in the write's own transaction, and is acknowledged;
2. the dispatcher claims change records, matches each against the subscriptions its entity id,
   types and attributes index (`SubscriptionRegistry.candidates`), renders the notification
   data under each subscription's @context, and stores the pending notifications in the same
   transaction as it deletes the claimed records (`Store.dispatch_changes`);
3. per-subscription senders (`broker.delivery`) deliver them, in order, at least once.

The write path never waits: the dispatcher is woken by an in-process signal after a local write
committed (`ChangeSignallingStore`), and polls every `poll_s` for other workers' writes.

`Notifier` runs steps 2 and 3 while this process holds the store's delivery role (always on
SQLite; on PostgreSQL one worker at a time, the others standing by to take over), plus the
periodic subscriptions (`timeInterval`): every interval, the entities the subscription selects
now, at most `PERIODIC_LIMIT` of them. Periodic notifications are not stored: after a crash the
next one simply comes at the next interval.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from cityhub.broker.delivery import Deliveries, DeliveryOptions, wait_event
from cityhub.broker.subscriptions import Registered, SubscriptionRegistry, stop_task
from cityhub.ngsild.entity import now_iso
from cityhub.ngsild.errors import NgsiLdError
from cityhub.ngsild.notification import describe_change, reason_for, render_change, render_current
from cityhub.ngsild.subscription import PERIODIC_REASON, selector_parts
from cityhub.store.base import (
    ChangeRecord,
    EntityQuery,
    EntitySelector,
    PendingNotification,
    Store,
    WriteOp,
    WriteOutcome,
)

log = logging.getLogger("cityhub.notifications")

NOTIFICATION_PREFIX = "urn:ngsi-ld:Notification:"
#: change records claimed per dispatch transaction
DISPATCH_BATCH = 500
#: the most entities one periodic notification carries
PERIODIC_LIMIT = 1000
#: seconds between two checks that this process still holds the delivery role
ROLE_CHECK_S = 1.0


class ChangeSignallingStore:
    """The store as the writing brokers see it: a write that recorded changes signals once it
    has committed, so the dispatcher starts at once. Everything else is the store's own."""

    def __init__(self, store: Store, signal: Callable[[], None]) -> None:
        self._store = store
        self._signal = signal

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def write(self, tenant: str, ops: Sequence[WriteOp], **options: Any
                    ) -> list[WriteOutcome]:
        outcomes = await self._store.write(tenant, ops, **options)
        if options.get("record_changes"):
            self._signal()
        return outcomes

    async def delete_matching(self, tenant: str, query: EntityQuery, **options: Any) -> int:
        deleted = await self._store.delete_matching(tenant, query, **options)
        if options.get("record_changes"):
            self._signal()
        return deleted


class Notifier:
    """Dispatching and delivery in this process, while it holds the delivery role."""

    def __init__(self, store: Store, registry: SubscriptionRegistry,
                 options: DeliveryOptions) -> None:
        self.store = store
        self.registry = registry
        self.options = options
        self.deliveries = Deliveries(store, registry, options)
        self.delivering = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._role_checked = 0.0
        #: (tenant, subscription id) -> loop time the next periodic notification is due
        self._due: dict[tuple[str, str], float] = {}
        self._periodic_tasks: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """A local write recorded changes: dispatch now."""
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="cityhub-dispatcher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_task(task)
        await self._resign()
        await self.store.release_delivery()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            try:
                every = ROLE_CHECK_S if self.delivering else self.options.poll_s
                if loop.time() - self._role_checked >= every:
                    self._role_checked = loop.time()
                    await self._check_role()
                if self.delivering:
                    await self.dispatch()
                    if self.registry.periodic():
                        self._periodic(loop.time())
            except NgsiLdError as exc:
                log.warning("notification dispatch failed, will retry: %s", exc.detail)
            except Exception:
                log.exception("notification dispatch failed, will retry")
            await wait_event(self._wake, self.options.poll_s)

    async def _check_role(self) -> None:
        if self.delivering:
            if not await self.store.holds_delivery():
                log.warning("this process lost the delivery role; another worker takes over")
                await self._resign()
        elif await self.store.acquire_delivery():
            log.info("this process delivers notifications")
            self.delivering = True
            self.deliveries.start()
            # notifications left by a previous run (or another worker) are read back lazily
            self.deliveries.spill(await self.store.pending_subscriptions())

    async def _resign(self) -> None:
        if not self.delivering:
            return
        self.delivering = False
        for task in list(self._periodic_tasks):
            task.cancel()
        self._due.clear()
        await self.deliveries.stop()

    # -- dispatching -------------------------------------------------------------------------
    async def dispatch(self) -> int:
        """Turn every waiting change record into pending notifications; how many records."""
        total = 0
        while True:
            claimed, notes = await self.store.dispatch_changes(DISPATCH_BATCH, self.route)
            total += claimed
            if notes:
                self.deliveries.push(notes)
            if claimed < DISPATCH_BATCH:
                return total

    def route(self, changes: list[ChangeRecord]) -> list[PendingNotification]:
        """The notifications a batch of change records causes (runs inside the claiming
        transaction: CPU only). A record that cannot be evaluated is logged and skipped, so it
        cannot block the ones after it."""
        now = now_iso()
        out: list[PendingNotification] = []
        for record in changes:
            try:
                change = describe_change(record.entity_id, record.at, record.previous,
                                         record.current)
                for reg in self.registry.candidates(record.tenant, change):
                    sub = reg.sub
                    if not sub.live(now):
                        continue
                    reason = reason_for(sub, change)
                    if reason is None:
                        continue
                    data = orjson.dumps([render_change(sub, change, reg.terms)])
                    out.append(PendingNotification(
                        record.tenant, sub.id, NOTIFICATION_PREFIX + uuid.uuid4().hex,
                        record.at, reason, data))
            except Exception:
                log.exception("change %s of entity %s could not be matched; skipped",
                              record.seq, record.entity_id)
        return out

    # -- periodic subscriptions --------------------------------------------------------------
    def _periodic(self, now: float) -> None:
        wall = now_iso()
        live = set()
        for reg in self.registry.periodic():
            key = reg.key
            if not reg.sub.live(wall):
                continue
            live.add(key)
            due = self._due.setdefault(key, now)
            if due <= now:
                assert reg.sub.time_interval is not None
                self._due[key] = now + reg.sub.time_interval
                task = asyncio.create_task(self._notify_periodic(reg))
                self._periodic_tasks.add(task)
                task.add_done_callback(self._periodic_tasks.discard)
        for key in list(self._due):
            if key not in live:
                del self._due[key]

    async def _notify_periodic(self, reg: Registered) -> None:
        sub = reg.sub
        query = EntityQuery(
            selectors=tuple(EntitySelector(*selector_parts(s)) for s in sub.selectors),
            q=sub.q, geoq=sub.geoq, scopeq=sub.scopeq, limit=PERIODIC_LIMIT)
        try:
            result = await self.store.query(reg.tenant, query)
        except NgsiLdError as exc:
            log.warning("periodic subscription %s: query failed: %s", sub.id, exc.detail)
            return
        entities = [render_current(sub, s.entity, reg.terms, s.created_at, s.modified_at)
                    for s in result.entities]
        if not entities:
            return
        note = PendingNotification(reg.tenant, sub.id, NOTIFICATION_PREFIX + uuid.uuid4().hex,
                                   now_iso(), PERIODIC_REASON, orjson.dumps(entities))
        self.deliveries.sender(reg.key).push(note)
