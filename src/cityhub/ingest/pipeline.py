"""The ingest pipeline: records in, Smart Data Model entities out through the broker core.

Every channel (MQTT gateway, HTTP bulk ingest, file import) hands records here. A record goes
through, in order: mapping (a device's measurements to attribute names, by the registry),
de-identification (`privacy`: personal values become keyed pseudonyms, people's positions are
rounded), the device's checks (units, expected ranges), validation against the Smart Data
Models rules (`validate`), and duplicate suppression. A record that fails is rejected whole,
with its reasons, into the dead-letter store; the others are written in batches with
`BatchBroker.upsert(options=update)`, so each measurement updates (or first creates) its
entity, leaves history and triggers subscriptions like any write. A batch holds each entity at
most once per round (two readings of one sensor are two writes), so no reading is merged away.

The MQTT path is windowed (`submit`: a writer task collects records for `window_s` or
`max_batch` records, then writes); HTTP and files write their own batches (`write_now`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cityhub.broker import Hub
from cityhub.broker.batch import BatchResult
from cityhub.ingest.counters import Counts, SourceCounters
from cityhub.ingest.deadletter import DeadLetters, rejection_entity
from cityhub.ingest.payloads import BadPayload, Measurement, parse_payload
from cityhub.ingest.privacy import (
    GENERALISE,
    PERSONAL_NAMES,
    PSEUDONYMISE,
    Pseudonymiser,
    generalise_geometry,
    parse_keys,
)
from cityhub.ingest.quality import DuplicateFilter, StaleWatch, stale_alert, stale_alert_id
from cityhub.ingest.registry import DeviceRegistry, DeviceSpec
from cityhub.ingest.sdm_rules import load_rules
from cityhub.ingest.validate import record_errors
from cityhub.ngsild.context import core_term_map
from cityhub.ngsild.entity import check_name, check_uri, normalise_datetime, now_iso
from cityhub.ngsild.errors import BadRequestData, NgsiLdError
from cityhub.settings import Settings

log = logging.getLogger("cityhub.ingest")
TERMS = core_term_map()
#: rejections an IngestReport lists (all are counted, and all are in the dead letters)
MAX_REPORTED = 1000
_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")


@dataclass(slots=True)
class Record:
    """One observation or entity to store, with plain attribute values."""

    source: str
    tenant: str
    entity_id: str
    entity_type: str
    values: dict[str, Any]
    observed_at: str | None = None
    #: attribute -> NGSI-LD kind, when not "Property"
    kinds: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    #: attribute -> privacy treatment (privacy.PSEUDONYMISE / GENERALISE)
    privacy: dict[str, str] = field(default_factory=dict)
    #: a whole entity (a file row, a bulk entity): the model's required attributes are checked
    complete: bool = False
    device_id: str | None = None
    #: when it arrived (time.monotonic), for latency figures
    arrived: float = 0.0

    def fragment(self, default_time: str) -> dict[str, Any]:
        """The NGSI-LD entity fragment (normalized) of the record, in the shapes the broker's
        parser takes on its short path (a scalar or Point value, observedAt, unitCode)."""
        out: dict[str, Any] = {"id": self.entity_id, "type": self.entity_type}
        observed = self.observed_at or default_time
        stamped = not self.complete or self.observed_at is not None
        kinds, units = self.kinds, self.units
        for name, value in self.values.items():
            kind = kinds.get(name, "Property") if kinds else "Property"
            if kind == "Relationship":
                out[name] = {"type": kind, "object": value}
                continue
            attr: dict[str, Any] = {"type": kind, "value": value}
            if stamped:
                attr["observedAt"] = observed
            if units and kind == "Property":
                unit = units.get(name)
                if unit is not None:
                    attr["unitCode"] = unit
            out[name] = attr
        return out

    def safe_view(self) -> dict[str, Any]:
        """What a rejection may keep of the record (after de-identification)."""
        view: dict[str, Any] = {"entityId": self.entity_id, "entityType": self.entity_type,
                                "values": self.values}
        if self.observed_at is not None:
            view["observedAt"] = self.observed_at
        return view


@dataclass(slots=True)
class IngestReport(Counts):
    """The outcome of one call (a bulk request, a file)."""

    #: (index of the record in what was handed in, reason) for each rejection
    errors: list[tuple[int, str]] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {"received": self.received, "accepted": self.accepted,
                "rejected": self.rejected, "duplicates": self.duplicates,
                "errors": [{"index": i, "reason": r} for i, r in self.errors]}


def infer_kinds(entity_type: str, values: dict[str, Any]) -> dict[str, str]:
    """NGSI-LD kinds of key-value attributes: by the model's rules, else by name."""
    rules = load_rules().get(entity_type, {})
    kinds = {}
    for name, value in values.items():
        kind = rules.get(name, {}).get("kind")
        if kind == "geo" or (kind is None and name == "location"):
            kinds[name] = "GeoProperty"
        elif kind == "relationship" or (kind is None and name.startswith("ref")
                                        and isinstance(value, str) and ":" in value):
            kinds[name] = "Relationship"
    return kinds


def entity_record(source: str, tenant: str, item: Any) -> Record:
    """A whole entity in key-values form (`{"id", "type", attr: value, ...}`) as a record."""
    if not isinstance(item, dict):
        raise BadRequestData("an entity must be a JSON object")
    entity_id = check_uri(item.get("id"), "entity id")
    entity_type = item.get("type")
    if not isinstance(entity_type, str) or not _TYPE.match(entity_type):
        raise BadRequestData("an entity needs a plain type name such as AirQualityObserved")
    values = {k: v for k, v in item.items() if k not in ("id", "type", "observedAt")}
    for name in values:
        check_name(name)
    observed = item.get("observedAt")
    record = Record(source, tenant, entity_id, entity_type, values,
                    None if observed is None else normalise_datetime(observed, "observedAt"),
                    kinds=infer_kinds(entity_type, values), complete=True)
    return record


class IngestPipeline:
    @classmethod
    def from_settings(cls, hub: Hub, settings: Settings) -> IngestPipeline:
        """The pipeline `cityhub serve` and `cityhub import` run, as configured."""
        keys = parse_keys(settings.pseudonym_keys) if settings.pseudonym_keys else None
        return cls(hub, pseudonymiser=Pseudonymiser(keys), window_s=settings.ingest_window_s,
                   location_decimals=settings.location_decimals,
                   stale=StaleWatch(settings.stale_default_interval_s, settings.stale_intervals))

    def __init__(
        self,
        hub: Hub,
        *,
        pseudonymiser: Pseudonymiser | None = None,
        window_s: float = 0.05,
        max_batch: int = 2000,
        location_decimals: int = 3,
        stale: StaleWatch | None = None,
        housekeeping_s: float = 1.0,
        queue_size: int = 50_000,
        writers: int = 2,
    ) -> None:
        self.hub = hub
        self.registry = DeviceRegistry(hub)
        self.pseudonymiser = pseudonymiser or Pseudonymiser()
        self.window_s = window_s
        self.max_batch = max_batch
        self.location_decimals = location_decimals
        self.stale = stale or StaleWatch()
        self.housekeeping_s = housekeeping_s
        self.counters = SourceCounters()
        self.dead_letters = DeadLetters(hub)
        self.duplicates = DuplicateFilter()
        #: one queue per writer; an entity always goes to the same writer, so its readings
        #: are written in order and two writers never race on one entity
        self.queues: list[asyncio.Queue[Record]] = [asyncio.Queue(queue_size)
                                                    for _ in range(max(1, writers))]
        #: called with each record once it is stored (bench/ingest.py measures latency)
        self.on_stored: Callable[[Record], None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._busy = 0

    # -- life cycle --------------------------------------------------------------------------
    async def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._writer(queue),
                                               name=f"cityhub-ingest-writer-{n}")
                           for n, queue in enumerate(self.queues)]
            self._tasks.append(asyncio.create_task(self._housekeeping(),
                                                   name="cityhub-ingest-housekeeping"))

    async def stop(self) -> None:
        await self.drain()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.flush_side_effects()

    async def drain(self) -> None:
        """Wait until every submitted record is written."""
        while self._busy or any(not queue.empty() for queue in self.queues):
            await asyncio.sleep(0.005)

    # -- devices -----------------------------------------------------------------------------
    async def device_payload(self, source: str, tenant: str, device_id: str, payload: bytes,
                             kind: str | None = None) -> None:
        """A device message (MQTT): parse, check and queue it; count a failure, never raise."""
        arrived = time.monotonic()
        try:
            measurements = parse_payload(payload, kind)
        except BadPayload as exc:
            self.counters.received(source)
            self.reject(source, tenant, exc.detail, device_id=device_id,
                        payload_bytes=len(payload),
                        payload_digest=self.pseudonymiser.digest(payload))
            return
        records = await self.device_records(source, tenant, device_id, measurements)
        queues = self.queues
        for record in records:
            record.arrived = arrived
            queue = queues[hash(record.entity_id) % len(queues)]
            if queue.full():
                await queue.put(record)  # the writers are behind: wait for room
            else:
                queue.put_nowait(record)

    async def device_records(self, source: str, tenant: str, device_id: str,
                             measurements: Sequence[Measurement],
                             report: IngestReport | None = None, index: int = 0
                             ) -> list[Record]:
        """The checked records of a device's measurements (rejections already handled)."""
        self.counters.received(source, len(measurements))
        if report is not None:
            report.received += len(measurements)
        spec = await self.registry.get(tenant, device_id)
        if spec is None:
            for m in measurements:
                self.reject(source, tenant, f"device {device_id!r} is not provisioned",
                            device_id=device_id, record={"measurements": sorted(m.values)},
                            report=report, index=index)
            return []
        if self.stale.seen(spec):
            await self._close_stale_alert(spec)
        out = []
        for m in measurements:
            record, errors = self.map_measurement(source, spec, m)
            errors = errors or self.check(record)
            if errors:
                self.reject(source, tenant, "; ".join(errors), device_id=device_id,
                            record=record.safe_view(), report=report, index=index)
            elif self.duplicates.seen(record.entity_id, record.observed_at, record.values):
                self.counters.add(source, duplicates=1)
                if report is not None:
                    report.duplicates += 1
            else:
                out.append(record)
        return out

    def map_measurement(self, source: str, spec: DeviceSpec, m: Measurement
                        ) -> tuple[Record, list[str]]:
        """The record of one measurement by the device's mapping, and what is wrong with it
        (measurements not provisioned, units, personal values, the device's ranges)."""
        entity_id = spec.entity_id
        if spec.personal:
            token = self.pseudonymiser.pseudonym(spec.device_id).replace(":", "-")
            entity_id = f"urn:ngsi-ld:{spec.entity_type}:{token}"
        values: dict[str, Any] = {}
        kinds: dict[str, str] = {}
        units: dict[str, str] = {}
        privacy: dict[str, str] = {}
        errors: list[str] = []
        ranged: list[tuple[str, Any, Any]] = []
        attributes = spec.attributes
        stated_units = m.units
        for key, value in m.values.items():
            mapping = attributes.get(key)
            if mapping is None:
                errors.append(f"measurement {key!r} is not provisioned for this device")
                continue
            name = mapping.name
            values[name] = value
            if mapping.kind != "Property":
                kinds[name] = mapping.kind
            if mapping.privacy is not None:
                privacy[name] = mapping.privacy
            unit = mapping.unit_code
            if stated_units:
                stated = stated_units.get(key)
                if stated is not None:
                    if unit is None:
                        unit = stated
                    elif stated != unit:
                        errors.append(f"{key} is in unit {stated[:16]!r}; the device is "
                                      f"provisioned with {unit!r}")
            if unit is not None:
                units[name] = unit
            if mapping.min is not None or mapping.max is not None:
                ranged.append((name, mapping.min, mapping.max))
        record = Record(source, spec.tenant, entity_id, spec.entity_type, values,
                        m.observed_at, kinds, units, privacy, device_id=spec.device_id)
        errors.extend(self.deidentify(record))
        for name, low, high in ranged:
            value = values.get(name)
            if not isinstance(value, int | float) or isinstance(value, bool):
                continue
            if low is not None and value < low:
                errors.append(f"{name}={value!r} is below the device's range ({low})")
            if high is not None and value > high:
                errors.append(f"{name}={value!r} is above the device's range ({high})")
        return record, errors

    # -- the common checks -------------------------------------------------------------------
    def deidentify(self, record: Record) -> list[str]:
        """Pseudonymise and generalise in place; errors name attributes, never values."""
        if not record.privacy and PERSONAL_NAMES.isdisjoint(record.values):
            return []  # nothing personal (most records): no need to look at each value
        errors = []
        for name in list(record.values):
            treatment = record.privacy.get(name)
            if treatment is None and name in PERSONAL_NAMES:
                treatment = PSEUDONYMISE
            if treatment == PSEUDONYMISE:
                value = record.values[name]
                record.values[name] = ([self.pseudonymiser.pseudonym(v) for v in value]
                                       if isinstance(value, list)
                                       else self.pseudonymiser.pseudonym(value))
                record.kinds.pop(name, None)
                record.units.pop(name, None)
            elif treatment == GENERALISE:
                value = record.values[name]
                try:
                    if not isinstance(value, dict):
                        raise TypeError
                    record.values[name] = generalise_geometry(value, self.location_decimals)
                except (NgsiLdError, TypeError, ValueError, IndexError):
                    record.values[name] = None
                    errors.append(f"{name} must be a GeoJSON geometry (it is personal and "
                                  "was not kept)")
        return errors

    def check(self, record: Record) -> list[str]:
        return record_errors(record.entity_type, record.values, complete=record.complete)

    def reject(self, source: str, tenant: str, reason: str, *, device_id: str | None = None,
               record: dict[str, Any] | None = None, payload_bytes: int | None = None,
               payload_digest: str | None = None, report: IngestReport | None = None,
               index: int = 0) -> None:
        self.counters.add(source, rejected=1)
        if report is not None:
            report.rejected += 1
            if len(report.errors) < MAX_REPORTED:
                report.errors.append((index, reason))
        self.dead_letters.add(tenant, rejection_entity(
            source, reason, device_id=device_id, record=record, payload_bytes=payload_bytes,
            payload_digest=payload_digest))

    def prepare(self, record: Record, report: IngestReport, index: int) -> bool:
        """De-identify, validate and de-duplicate a record that needs no device mapping."""
        self.counters.received(record.source)
        report.received += 1
        errors = self.deidentify(record) + self.check(record)
        if errors:
            self.reject(record.source, record.tenant, "; ".join(errors),
                        record=record.safe_view(), report=report, index=index)
            return False
        if self.duplicates.seen(record.entity_id, record.observed_at, record.values):
            self.counters.add(record.source, duplicates=1)
            report.duplicates += 1
            return False
        return True

    # -- writing -----------------------------------------------------------------------------
    async def write_now(self, records: Sequence[Record], report: IngestReport | None = None,
                        indexes: Sequence[int] | None = None) -> IngestReport:
        """Write checked records at once (HTTP, files); rejections go to the dead letters."""
        report = report or IngestReport()
        by_tenant: dict[str, list[tuple[int, Record]]] = {}
        for n, record in enumerate(records):
            by_tenant.setdefault(record.tenant, []).append((indexes[n] if indexes else n,
                                                            record))
        for tenant, items in by_tenant.items():
            await self._write(tenant, items, report)
        return report

    async def write_parallel(self, records: Sequence[Record], report: IngestReport,
                             indexes: Sequence[int]) -> None:
        """`write_now` split over as many concurrent writes as the pipeline has writers, each
        entity in one of them (so its records stay in order): the broker prepares one write
        while the store commits another."""
        ways = len(self.queues)
        parts: list[tuple[list[Record], list[int]]] = [([], []) for _ in range(ways)]
        for record, index in zip(records, indexes, strict=True):
            part = parts[hash(record.entity_id) % ways]
            part[0].append(record)
            part[1].append(index)
        await asyncio.gather(*(self.write_now(r, report, i) for r, i in parts if r))

    async def _write(self, tenant: str, items: list[tuple[int, Record]],
                     report: IngestReport | None) -> None:
        rounds: list[list[tuple[int, Record]]] = []
        depth: dict[str, int] = {}
        for item in items:  # each entity at most once per round, in arrival order
            n = depth.get(item[1].entity_id, 0)
            depth[item[1].entity_id] = n + 1
            if n == len(rounds):
                rounds.append([])
            rounds[n].append(item)
        now = now_iso()
        for group in rounds:
            try:
                result = await self.hub.batch.upsert(
                    tenant, [r.fragment(now) for _, r in group], TERMS, replace=False)
            except NgsiLdError as exc:  # the whole batch failed (store unavailable)
                result = BatchResult(errors=[(r.entity_id, exc) for _, r in group])
            failed = {entity_id: error for entity_id, error in result.errors}
            accepted: dict[str, int] = {}  # source -> records stored, counted once a write
            on_stored = self.on_stored
            for index, record in group:
                error = failed.get(record.entity_id) if failed else None
                if error is None:
                    accepted[record.source] = accepted.get(record.source, 0) + 1
                    if on_stored is not None:
                        on_stored(record)
                else:
                    self.reject(record.source, tenant, error.detail, device_id=record.device_id,
                                record=record.safe_view(), report=report, index=index)
            for source, n in accepted.items():
                self.counters.add(source, accepted=n)
                if report is not None:
                    report.accepted += n

    async def _writer(self, queue: asyncio.Queue[Record]) -> None:
        while True:
            first = await queue.get()
            self._busy += 1
            try:
                if queue.qsize() < self.max_batch and self.window_s > 0:
                    await asyncio.sleep(self.window_s)
                batch = [first]
                while len(batch) < self.max_batch and not queue.empty():
                    batch.append(queue.get_nowait())
                await self.write_now(batch)
            except Exception:  # keep the gateway alive whatever one batch does
                log.exception("an ingest batch failed")
            finally:
                self._busy -= 1

    # -- side effects: counters, dead letters, stale sensors ---------------------------------
    async def flush_side_effects(self) -> None:
        await self.dead_letters.flush()
        changed = self.counters.take_changed()
        if changed:
            await self.hub.batch.upsert("", changed, TERMS, replace=True)
        for spec, silent in self.stale.due():
            await self.hub.batch.upsert(spec.tenant, [stale_alert(spec, silent)], TERMS,
                                        replace=True)

    async def _close_stale_alert(self, spec: DeviceSpec) -> None:
        fragment = {"id": stale_alert_id(spec.device_id), "type": "Alert",
                    "validTo": {"type": "Property", "value": now_iso()}}
        await self.hub.batch.upsert(spec.tenant, [fragment], TERMS, replace=False)

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(self.housekeeping_s)
            try:
                await self.flush_side_effects()
            except Exception:
                log.exception("ingest housekeeping failed")
