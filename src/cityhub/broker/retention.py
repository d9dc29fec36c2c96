"""History retention: keep N days of attribute history, per tenant and per entity type.

A policy is a list of rules `{tenant?, type?, days}`; a rule without a tenant applies to every
tenant, one without a type to every entity. For each entity the most specific rule decides:
tenant and type, then tenant alone... in the order

    (tenant, type)  >  (any tenant, type)  >  (tenant, any type)  >  (any tenant, any type)

An entity with several types some rule names keeps its history as long as the longest of those
rules says. No rule for an entity: its history is kept for ever. Instances observed more than
`days` days ago (by their observedAt, else the time they were written) are deleted.

The hub applies its policy at start-up and then every `interval` (default one hour);
`cityhub retention` applies one once. Deletes go in batches of `BATCH` rows, each its own
transaction, so writers are never held up for long. Applying a policy twice is harmless, so
several hub processes may share a database.

Policy files are JSON or TOML (by extension)::

    interval = "PT1H"          # optional, ISO 8601
    [[rules]]
    days = 30                  # every tenant, every type
    [[rules]]
    tenant = "sejong"          # "" is the default tenant
    type = "AirQualityObserved"
    days = 365

A type is an IRI, or a term the NGSI-LD core @context expands (an unknown term: the default
vocabulary, as in a request without a Link header).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cityhub.broker.subscriptions import stop_task
from cityhub.ngsild.context import core_term_map
from cityhub.ngsild.entity import check_name, format_datetime
from cityhub.ngsild.errors import BadRequestData, NgsiLdError
from cityhub.ngsild.temporal import parse_duration
from cityhub.store.base import RetentionCut, Store

log = logging.getLogger("cityhub.retention")

#: rows one delete statement removes at most
BATCH = 10_000
DEFAULT_INTERVAL_S = 3600.0


@dataclass(frozen=True, slots=True)
class RetentionRule:
    days: float
    #: None: every tenant ("" is the default tenant)
    tenant: str | None = None
    #: expanded entity type IRI; None: every entity
    type: str | None = None


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    rules: tuple[RetentionRule, ...]
    #: seconds between two runs in the hub
    interval_s: float = DEFAULT_INTERVAL_S

    @classmethod
    def from_document(cls, document: Any) -> RetentionPolicy:
        """A policy from its JSON / TOML document (every error a BadRequestData)."""
        if not isinstance(document, dict) or set(document) - {"rules", "interval"}:
            raise BadRequestData("a retention policy is an object with 'rules' and, "
                                 "optionally, 'interval'")
        raw_rules = document.get("rules", [])
        if not isinstance(raw_rules, list):
            raise BadRequestData("retention 'rules' must be a list")
        rules = tuple(_rule(raw) for raw in raw_rules)
        seen = set()
        for rule in rules:
            if (rule.tenant, rule.type) in seen:
                raise BadRequestData(f"two retention rules for tenant {rule.tenant!r} and "
                                     f"type {rule.type!r}")
            seen.add((rule.tenant, rule.type))
        interval = DEFAULT_INTERVAL_S
        if "interval" in document:
            interval = parse_duration(document["interval"]) / 1000
            if interval < 1:
                raise BadRequestData("the retention interval must be at least one second")
        return cls(rules, interval)

    @classmethod
    def from_file(cls, path: str | Path) -> RetentionPolicy:
        path = Path(path)
        try:
            text = path.read_text("utf-8")
            document = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise BadRequestData(f"cannot read the retention policy {path}: {exc}") from None
        return cls.from_document(document)

    @classmethod
    def configured(cls, path: str | None, days: float | None) -> RetentionPolicy | None:
        """The policy of the settings: a file's, with `days` as the rule of every tenant and
        type (replacing the file's); None when neither is given."""
        if path is None and days is None:
            return None
        policy = cls.from_file(path) if path is not None else cls(())
        if days is not None:
            policy = policy.with_rule(_rule({"days": days}))
        return policy

    def with_rule(self, rule: RetentionRule) -> RetentionPolicy:
        """This policy with `rule` in place of one for the same tenant and type."""
        kept = tuple(r for r in self.rules if (r.tenant, r.type) != (rule.tenant, rule.type))
        return RetentionPolicy((*kept, rule), self.interval_s)

    def cuts(self, tenant: str, now: datetime) -> list[RetentionCut]:
        """What the policy deletes in `tenant` at `now`, one cut per rule that applies."""
        typed: dict[str, float] = {}
        default: float | None = None
        for rule in sorted(self.rules, key=lambda r: r.tenant is not None):
            if rule.tenant not in (None, tenant):
                continue
            if rule.type is None:
                default = rule.days  # the tenant's own rule sorts last and wins
            else:
                typed[rule.type] = rule.days
        cuts = []
        for type_iri, days in typed.items():
            longer = tuple(t for t, d in typed.items() if d > days)
            cuts.append(RetentionCut(tenant, _before(now, days), (type_iri,), longer))
        if default is not None:
            cuts.append(RetentionCut(tenant, _before(now, default), None, tuple(typed)))
        return cuts


def _before(now: datetime, days: float) -> str:
    return format_datetime(now - timedelta(days=days))


def _rule(raw: Any) -> RetentionRule:
    if not isinstance(raw, dict) or set(raw) - {"tenant", "type", "days"}:
        raise BadRequestData("a retention rule is an object with 'days' and, optionally, "
                             "'tenant' and 'type'")
    days = raw.get("days")
    if isinstance(days, bool) or not isinstance(days, int | float) or not (
            math.isfinite(days) and 0 < days <= 100_000):
        raise BadRequestData("a retention rule's 'days' must be a positive number")
    tenant = raw.get("tenant")
    if tenant is not None and not isinstance(tenant, str):
        raise BadRequestData("a retention rule's 'tenant' must be a string")
    type_name = raw.get("type")
    if type_name is not None:
        type_name = core_term_map().expand(check_name(type_name, "entity type"))
    return RetentionRule(float(days), tenant, type_name)


@dataclass(slots=True)
class RetentionReport:
    #: tenant -> instances deleted
    deleted: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


class Retention:
    """Applies a policy to one store, once (`apply`) or periodically (`start`)."""

    def __init__(self, store: Store, policy: RetentionPolicy) -> None:
        self.store = store
        self.policy = policy
        self._task: asyncio.Task[None] | None = None

    async def apply(self, now: datetime | None = None) -> RetentionReport:
        now = now or datetime.now(UTC)
        report = RetentionReport()
        for tenant in await self.store.tenants():
            deleted = 0
            for cut in self.policy.cuts(tenant, now):
                while True:
                    removed = await self.store.expire_history(cut, BATCH)
                    deleted += removed
                    if removed < BATCH:
                        break
                    await asyncio.sleep(0)  # let other work in between batches
            if deleted:
                report.deleted[tenant] = deleted
        return report

    async def start(self) -> None:
        if self.policy.rules and self._task is None:
            self._task = asyncio.create_task(self._run(), name="cityhub-retention")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_task(task)

    async def _run(self) -> None:
        while True:
            try:
                report = await self.apply()
                if report.total:
                    log.info("retention deleted %d history instances", report.total)
            except NgsiLdError as exc:  # the store may be away for a while; try again later
                log.warning("retention failed: %s", exc.detail)
            await asyncio.sleep(self.policy.interval_s)


__all__ = ["Retention", "RetentionPolicy", "RetentionReport", "RetentionRule"]
