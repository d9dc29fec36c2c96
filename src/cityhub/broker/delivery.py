"""Per-subscription senders: each delivers its subscription's notifications in order, at least
once, with retries, and never waits for another subscription's endpoint.

`Deliveries` holds one `Sender` (an asyncio task) per subscription with something to send. A
sender takes its pending notifications oldest first. On failure it retries the same one after
an exponential back-off (`retry_base_s`, doubling, at most `retry_max_s`, with jitter), so the
order holds; a notification still undelivered `max_age_s` after its change is given up (logged,
counted in timesFailed) and the sender goes on to the next. A subscription with `throttling`
sends at most one notification per period, carrying every entity that changed meanwhile once,
in its latest state. A paused subscription holds its queue; an expired or deleted one drops it.

Memory holds at most `queue_limit` notifications per subscription; beyond that the sender is
"spilled" and reads the rest back from the store as it drains (the store has them all, durable
since the dispatcher committed them). What was delivered is settled in the store in batches
every `settle_s` (deleted, figures added): a crash in between re-sends those few notifications
after the restart, which at-least-once allows (their ids are stable, so receivers can tell).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from cityhub.broker.subscriptions import Registered, SubscriptionRegistry
from cityhub.broker.transports import DeliveryFailed, HttpTransport, MqttTransport
from cityhub.ngsild.entity import now_iso
from cityhub.ngsild.errors import NgsiLdError
from cityhub.ngsild.subscription import LD_JSON
from cityhub.store.base import DeliveryReport, DeliveryStatus, PendingNotification, Store

log = logging.getLogger("cityhub.notifications")

CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"


@dataclass(frozen=True, slots=True)
class DeliveryOptions:
    """How hard the hub tries (operations.md lists the settings that set these)."""

    #: first retry delay after a failed attempt, in seconds (doubles per failure)
    retry_base_s: float = 0.5
    #: the longest delay between two attempts, in seconds
    retry_max_s: float = 60.0
    #: a notification not delivered this long after its change is given up, in seconds
    max_age_s: float = 24 * 3600.0
    #: one attempt (connecting included) may take this long, in seconds
    timeout_s: float = 10.0
    #: seconds between two looks for change records other workers wrote
    poll_s: float = 0.25
    #: notifications per subscription held in memory (the rest wait in the store)
    queue_limit: int = 1000
    #: seconds between two deletions of delivered notifications from the store
    settle_s: float = 0.05
    #: seconds between two writes of the delivery figures (timesSent, ...) to the store; until
    #: then this process adds them to what the store says
    figures_s: float = 1.0


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set, at most `seconds`; whether it was. (No task is made for it,
    as `asyncio.wait_for` would: senders wait thousands of times a second.)"""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


def _age_s(at: str) -> float:
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return 0.0
    return (datetime.now(UTC) - moment).total_seconds()


class Sender:
    """Delivers one subscription's notifications (see the module docstring)."""

    def __init__(self, key: tuple[str, str], owner: Deliveries) -> None:
        self.key = key
        self.owner = owner
        self.queue: deque[PendingNotification] = deque()
        #: notifications wait in the store that are not in `queue`
        self.spilled = False
        #: the highest nid taken into memory: the store is read after it
        self.last_nid = 0
        self.arrived = asyncio.Event()
        self.changed = asyncio.Event()
        self.failures = 0
        self.last_sent = 0.0
        self.task: asyncio.Task[None] | None = None

    def push(self, note: PendingNotification) -> None:
        if note.nid and note.nid <= self.last_nid:
            return
        if self.spilled or len(self.queue) >= self.owner.options.queue_limit:
            self.spilled = True
            return
        self.queue.append(note)
        self.last_nid = max(self.last_nid, note.nid)
        self.arrived.set()

    async def run(self) -> None:
        try:
            while await self._step():
                pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the sender of subscription %s stopped", self.key[1])
        finally:
            self.owner.senders.pop(self.key, None)

    async def _step(self) -> bool:
        """One round: False when the sender has nothing left to do and may end."""
        if not self.queue and self.spilled:
            await self._reload()
        if not self.queue:
            if self.spilled:
                await asyncio.sleep(self.owner.options.poll_s)  # the store is unreachable
                return True
            self.arrived.clear()
            if not await wait_event(self.arrived, 60):
                return bool(self.queue)  # idle for a minute: end (a new one starts on demand)
            return True
        reg = self.owner.registry.get(*self.key)
        status = "gone" if reg is None else (
            "active" if reg.sub.is_active and reg.sub.expires_at is None
            else reg.sub.status(now_iso()))
        if reg is None or status == "expired":
            self._give_up(list(self.queue), "the subscription is gone or expired", count=False)
            self.queue.clear()
            return True
        if status == "paused":
            await self._wait_changed(5.0)
            return True
        if reg.sub.throttling is not None:
            wait = self.last_sent + reg.sub.throttling - asyncio.get_running_loop().time()
            if wait > 0:
                await self._wait_changed(wait)
                return True
            batch = list(self.queue)
        else:
            batch = [self.queue[0]]
        self.last_sent = asyncio.get_running_loop().time()
        error = await self.owner.send(reg, batch)
        if error is None:
            self.failures = 0
            for _ in batch:
                self.queue.popleft()
            self.owner.settled(batch)
            return True
        self.failures += 1
        if _age_s(batch[0].at) > self.owner.options.max_age_s:
            self._give_up(batch, error, count=True)
            for _ in batch:
                self.queue.popleft()
            return True
        await self._wait_changed(self.owner.backoff(self.failures))
        return True

    async def _wait_changed(self, seconds: float) -> None:
        """Sleep, but wake when the subscription changed (a new endpoint may work now)."""
        self.changed.clear()
        await wait_event(self.changed, seconds)

    async def _reload(self) -> None:
        self.spilled = False  # what the dispatcher pushes from now on is kept
        limit = self.owner.options.queue_limit
        try:
            rows = await self.owner.store.pending_notifications(*self.key, after=self.last_nid,
                                                                limit=limit)
        except NgsiLdError as exc:
            log.warning("pending notifications could not be read: %s", exc.detail)
            self.spilled = True
            return
        if len(rows) >= limit:
            self.spilled = True
        known = {n.nid for n in self.queue}
        merged = [n for n in rows if n.nid not in known] + list(self.queue)
        merged.sort(key=lambda n: n.nid)
        self.queue = deque(merged)
        if merged:
            self.last_nid = max(self.last_nid, merged[-1].nid)

    def _give_up(self, batch: list[PendingNotification], why: str, *, count: bool) -> None:
        stored = [n for n in batch if n.nid]
        if count:
            log.warning("subscription %s: gave up %d notification(s) after %d attempts (%s)",
                        self.key[1], len(batch), self.failures, why)
            self.owner.figures(self.key).times_failed += len(batch)
        self.owner.report.settled.extend(n.nid for n in stored)
        self.failures = 0


class Deliveries:
    """The senders of this process and the results they have not written to the store yet."""

    def __init__(self, store: Store, registry: SubscriptionRegistry,
                 options: DeliveryOptions) -> None:
        self.store = store
        self.registry = registry
        self.options = options
        self.http = HttpTransport()
        self.mqtt = MqttTransport()
        self.senders: dict[tuple[str, str], Sender] = {}
        self.report = DeliveryReport()
        #: the report being written to the store right now (still counted by `unsettled`)
        self._writing = DeliveryReport()
        self._settling: asyncio.Task[None] | None = None
        self._settle_now = asyncio.Event()
        self._closing = False
        registry.listeners.append(self._subscriptions_changed)

    # -- senders -----------------------------------------------------------------------------
    def sender(self, key: tuple[str, str]) -> Sender:
        found = self.senders.get(key)
        if found is None:
            found = self.senders[key] = Sender(key, self)
            found.task = asyncio.create_task(found.run(), name=f"cityhub-sender-{key[1]}")
        return found

    def push(self, notes: list[PendingNotification]) -> None:
        for note in notes:
            self.sender((note.tenant, note.subscription_id)).push(note)

    def spill(self, keys: list[tuple[str, str]]) -> None:
        """These subscriptions have notifications in the store that memory does not hold."""
        for key in keys:
            sender = self.sender(key)
            sender.spilled = True
            sender.arrived.set()

    def _subscriptions_changed(self) -> None:
        for sender in self.senders.values():
            sender.changed.set()
            sender.arrived.set()

    def backoff(self, failures: int) -> float:
        delay = min(self.options.retry_max_s, self.options.retry_base_s * 2 ** (failures - 1))
        return delay * random.uniform(0.8, 1.0)

    # -- one attempt -------------------------------------------------------------------------
    async def send(self, reg: Registered, batch: list[PendingNotification]) -> str | None:
        """Deliver `batch` as one notification; None on success, else why it failed."""
        sub = reg.sub
        endpoint = sub.endpoint
        started = now_iso()
        body = notification_body(reg, batch, started)
        headers = [("Content-Type", endpoint.accept)]
        if endpoint.accept != LD_JSON and isinstance(sub.notify_context, str):
            headers.append(("Link", f'<{sub.notify_context}>; rel="{CONTEXT_REL}"; '
                                    f'type="{LD_JSON}"'))
        if reg.tenant:
            headers.append(("NGSILD-Tenant", reg.tenant))
        headers.extend(endpoint.receiver_info)
        try:
            if endpoint.is_mqtt:
                info = dict(endpoint.notifier_info)
                message = b'{"metadata":' + orjson.dumps(dict(headers)) + b',"body":' + body + b"}"
                await self.mqtt.publish(endpoint.uri, message, qos=int(info.get("MQTT-QoS", 1)),
                                        version=info.get("MQTT-Version", "mqtt3.1.1"),
                                        timeout=self.options.timeout_s)
            else:
                await self.http.post(endpoint.uri, tuple(headers), body,
                                     self.options.timeout_s)
        except DeliveryFailed as exc:
            figures = self.figures(reg.key)  # after the await: the report may be new by now
            figures.times_sent += 1
            figures.times_failed += 1
            figures.last_notification = figures.last_failure = started
            figures.last_status = "failed"
            log.info("notification to %s for subscription %s failed: %s", endpoint.uri,
                     sub.id, exc)
            return str(exc)
        figures = self.figures(reg.key)
        figures.times_sent += 1
        figures.last_notification = figures.last_success = started
        figures.last_status = "ok"
        return None

    # -- results -----------------------------------------------------------------------------
    def figures(self, key: tuple[str, str]) -> DeliveryStatus:
        found = self.report.status.get(key)
        if found is None:
            found = self.report.status[key] = DeliveryStatus()
        return found

    def settled(self, batch: list[PendingNotification]) -> None:
        self.report.settled.extend(n.nid for n in batch if n.nid)

    def unsettled(self, tenant: str, subscription_id: str) -> DeliveryStatus | None:
        key = (tenant, subscription_id)
        found = [r.status[key] for r in (self._writing, self.report) if key in r.status]
        if len(found) < 2:
            return found[0] if found else None
        older, newer = found
        return DeliveryStatus(
            older.times_sent + newer.times_sent, older.times_failed + newer.times_failed,
            newer.last_notification or older.last_notification,
            newer.last_success or older.last_success, newer.last_failure or older.last_failure,
            newer.last_status or older.last_status)

    def start(self) -> None:
        self._closing = False
        self._settling = asyncio.create_task(self._settle_loop(), name="cityhub-settle")

    async def _settle_loop(self) -> None:
        loop = asyncio.get_running_loop()
        figures_at = loop.time()
        while not self._closing:
            await wait_event(self._settle_now, self.options.settle_s)
            self._settle_now.clear()
            figures = loop.time() - figures_at >= self.options.figures_s
            if figures:
                figures_at = loop.time()
            await self.settle(figures=figures)

    async def settle(self, *, figures: bool = True) -> None:
        """Write what was delivered or given up (and, with `figures`, the figures)."""
        if figures:
            report, self.report = self.report, DeliveryReport()
        else:
            report = DeliveryReport(self.report.settled)
            self.report = DeliveryReport(status=self.report.status)
        if not report.settled and not report.status:
            return
        self._writing = report
        try:
            await self.store.settle_notifications(report)
        except Exception as exc:  # keep the results and try again next time
            log.warning("delivery results could not be stored: %s", exc)
            self.report.settled[:0] = report.settled
            for key, figures in report.status.items():
                merged = self.figures(key)
                merged.times_sent += figures.times_sent
                merged.times_failed += figures.times_failed
                for name in ("last_notification", "last_success", "last_failure",
                             "last_status"):
                    if getattr(merged, name) is None:
                        setattr(merged, name, getattr(figures, name))
        finally:
            self._writing = DeliveryReport()

    async def stop(self) -> None:
        """Stop every sender and the settling, write what was delivered, close connections."""
        tasks = [s.task for s in self.senders.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.senders.clear()
        settling, self._settling = self._settling, None
        if settling is not None:  # not cancelled: a write in progress must finish
            self._closing = True
            self._settle_now.set()
            await settling
        await self.settle()
        await self.http.close()
        await self.mqtt.close()


def notification_body(reg: Registered, batch: list[PendingNotification], notified_at: str
                      ) -> bytes:
    """Clause 5.3.1 Notification: id, type, subscriptionId, notifiedAt, data (and, for
    application/ld+json, the @context), as JSON. Several notifications (throttling) become
    one, each entity once, in its latest state."""
    last = batch[-1]
    if len(batch) == 1:
        data = last.data
    else:
        latest: dict[str, object] = {}
        for note in batch:
            for entity in orjson.loads(note.data):
                latest[entity.get("id", "")] = entity
        data = orjson.dumps(list(latest.values()))
    head = {"id": last.notification_id, "type": "Notification",
            "subscriptionId": reg.sub.id, "notifiedAt": notified_at,
            "triggerReason": last.reason}
    body = orjson.dumps(head)[:-1] + b',"data":' + data
    if reg.sub.endpoint.accept == LD_JSON:
        body += b',"@context":' + reg.context_json
    return body + b"}"
