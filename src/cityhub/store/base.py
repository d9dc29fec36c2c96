"""The Store contract: what the broker needs from a database, and nothing about HTTP.

Adapters (`store.sqlite`, `store.postgres`) implement `Store`; `open_store(dsn)` picks one by the
DSN scheme. Entities are kept in the normal form of `ngsild.entity`; each entity carries a
`version` for optimistic concurrency (read, change in Python, write back if unchanged).

Writes come as a list of operations applied in one transaction; each operation succeeds or fails
on its own (a batch with one bad entity stores all the others) and the outcome list says which.
Queries are compiled to SQL with bound parameters (`store.sql`) and run in the database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from cityhub.ngsild.errors import NgsiLdError
from cityhub.ngsild.geo import GeoQuery
from cityhub.ngsild.temporal import MAX_INSTANCES, AggregatedPeriod, HistoryInstance, TemporalQuery


@dataclass(frozen=True, slots=True)
class EntitySelector:
    """One entity selector (clause 5.2.33): id list, idPattern and type expression, AND-ed."""

    ids: tuple[str, ...] = ()
    id_pattern: str | None = None
    types: Any = None  # typeexpr tree, expanded


@dataclass(frozen=True, slots=True)
class EntityQuery:
    """A query over one tenant's entities; every name in it is an expanded IRI.

    An entity matches when it matches any of `selectors` (none: every entity) and all the
    other filters.
    """

    selectors: tuple[EntitySelector, ...] = ()
    attrs: tuple[str, ...] = ()  # the entity must have at least one of these
    q: Any = None  # q tree
    geoq: GeoQuery | None = None
    scopeq: Any = None  # scopeQ tree
    limit: int = 20
    offset: int = 0
    count: bool = False
    #: only entities after this position (`QueryResult.last` of the page before): paging that
    #: neither skips nor repeats an entity when others are deleted or created meanwhile
    after: int | None = None


@dataclass(slots=True)
class StoredEntity:
    entity: dict[str, Any]
    created_at: str
    modified_at: str
    version: int


@dataclass(slots=True)
class QueryResult:
    entities: list[StoredEntity]
    count: int | None = None
    #: the position of the last entity of `entities`, for `EntityQuery.after` (None: none)
    last: int | None = None


WriteMode = Literal["create", "replace", "upsert"]


@dataclass(slots=True)
class Put:
    """Write a whole entity.

    mode "create": fails with AlreadyExists if the id exists; "replace": fails with
    ResourceNotFound if it does not; "upsert": either. `expected_version`, when given, must match
    the stored version (else Conflict). An existing entity keeps its createdAt.
    """

    entity: dict[str, Any]
    now: str
    mode: WriteMode = "upsert"
    expected_version: int | None = None
    #: attribute IRI -> more instances (stamped `now`) to record in the history with this
    #: write, beside those it changes: the older readings a temporal POST carries
    history: dict[str, list[dict[str, Any]]] | None = None
    #: the stored entity this one was made from, at `expected_version` (read, changed, written
    #: back): a store may use it to change only the index rows that differ. Only with
    #: `expected_version`, and never changed after it was read.
    previous: dict[str, Any] | None = None


@dataclass(slots=True)
class Delete:
    entity_id: str
    expected_version: int | None = None


WriteOp = Put | Delete


@dataclass(slots=True)
class WriteOutcome:
    entity_id: str
    created: bool = False
    error: NgsiLdError | None = None
    #: the entity as it was before this write (None if it did not exist); filled when the
    #: caller asked for it (change events need it)
    previous: StoredEntity | None = None


@dataclass(slots=True)
class TypeSummary:
    type: str
    count: int
    #: attribute IRI -> NGSI-LD attribute kinds seen ("Property", "Relationship", ...)
    attributes: dict[str, set[str]] = field(default_factory=dict)


@dataclass(slots=True)
class AttributeSummary:
    attribute: str
    count: int
    kinds: set[str] = field(default_factory=set)
    types: set[str] = field(default_factory=set)


@dataclass(slots=True)
class ContextRecord:
    """A JSON-LD @context the hub keeps: hosted (posted to it) or cached (fetched)."""

    id: str
    url: str
    kind: Literal["Hosted", "Cached"]
    document: Any
    created_at: str


class Store(Protocol):
    """What every storage adapter provides. All methods are coroutines."""

    #: name of the adapter ("sqlite", "postgres")
    name: str

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def tenant_exists(self, tenant: str) -> bool: ...

    async def get(self, tenant: str, ids: Sequence[str]) -> dict[str, StoredEntity]: ...

    async def write(
        self,
        tenant: str,
        ops: Sequence[WriteOp],
        *,
        want_previous: bool = False,
        record_changes: bool = False,
    ) -> list[WriteOutcome]:
        """Apply `ops` in one transaction (each succeeds or fails alone). Every successful Put
        also records the attribute instances it changed in the history; with
        `record_changes`, every successful operation appends a change record to the outbox
        (see `store.changes`), in the same transaction."""
        ...

    async def query(self, tenant: str, query: EntityQuery) -> QueryResult: ...

    async def delete_matching(
        self, tenant: str, query: EntityQuery, *, record_changes: bool = False
    ) -> int: ...

    async def type_summaries(self, tenant: str, types: Sequence[str] | None = None) -> list[
        TypeSummary
    ]: ...

    async def attribute_summaries(
        self, tenant: str, attributes: Sequence[str] | None = None
    ) -> list[AttributeSummary]: ...

    async def list_contexts(self) -> list[ContextRecord]: ...
    async def put_context(self, record: ContextRecord) -> None: ...
    async def delete_context(self, context_id: str) -> bool: ...

    # -- subscriptions and notifications (store/*/subscriptions.py; see the section at the
    # -- end of this module) ------------------------------------------------------------------
    async def create_subscription(self, record: SubscriptionRecord) -> None:
        """Store a new subscription (AlreadyExists if the tenant has its id); creates the
        tenant."""
        ...

    async def replace_subscription(self, record: SubscriptionRecord) -> bool:
        """Replace a subscription's document (its delivery figures stay); False if absent."""
        ...

    async def delete_subscription(self, tenant: str, subscription_id: str) -> bool:
        """Delete a subscription and its pending notifications; False if absent."""
        ...

    async def get_subscription(self, tenant: str, subscription_id: str
                               ) -> SubscriptionRecord | None: ...

    async def list_subscriptions(
        self, tenant: str | None, *, limit: int | None = None, offset: int = 0
    ) -> tuple[list[SubscriptionRecord], int]:
        """A tenant's subscriptions (None: every tenant's) in creation order, and how many
        there are in all."""
        ...

    async def subscriptions_generation(self) -> int:
        """A number that changes whenever any subscription is created, changed or deleted."""
        ...

    async def dispatch_changes(
        self, limit: int, route: Callable[[list[ChangeRecord]], list[PendingNotification]]
    ) -> tuple[int, list[PendingNotification]]:
        """Claim up to `limit` change records (oldest first), and in one transaction store the
        notifications `route` makes of them and delete them. Returns how many were claimed and
        the notifications stored (their `nid` set, increasing in commit order)."""
        ...

    async def pending_subscriptions(self) -> list[tuple[str, str]]:
        """(tenant, subscription id) of every subscription with pending notifications."""
        ...

    async def pending_notifications(
        self, tenant: str, subscription_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[PendingNotification]:
        """A subscription's pending notifications with nid > `after`, oldest first."""
        ...

    async def settle_notifications(self, report: DeliveryReport) -> None:
        """Delete the notifications delivered or given up, add the delivery figures."""
        ...

    async def acquire_delivery(self) -> bool:
        """Try to become the one process that delivers notifications (PostgreSQL: a session
        advisory lock, so a standby worker takes over when the holder dies)."""
        ...

    async def holds_delivery(self) -> bool:
        """Whether this process still holds the delivery role."""
        ...

    async def release_delivery(self) -> None: ...

    # -- temporal: the attribute history (store/*/temporal.py; records at the end) ----------
    async def history(self, tenant: str, query: HistoryQuery) -> list[HistoryInstance]:
        """The instances `query` selects, by entity, attribute and time (at most limit + 1)."""
        ...

    async def aggregate_history(self, tenant: str, query: HistoryQuery
                                ) -> list[AggregatedPeriod]:
        """`query.temporal.aggregation` computed in the database, by series and period (at
        most limit + 1)."""
        ...

    async def history_instance(self, tenant: str, entity_id: str, attr: str, hid: int
                               ) -> HistoryInstance | None: ...

    async def append_history(self, tenant: str, entity_id: str, attrs: dict[str, list[dict]],
                             now: str) -> int:
        """Record instances (attribute IRI -> instances stamped `now`) in the history, rows
        derived as a write's (`store.changes.history_rows`); how many."""
        ...

    async def modify_history(self, tenant: str, entity_id: str, attr: str, hid: int,
                             instance: dict, expected_modified_at: str) -> bool:
        """Replace one recorded instance, its times derived as a write's (observedAt, else its
        new modifiedAt); False when it is gone or changed since `expected_modified_at`."""
        ...

    async def delete_history(self, tenant: str, selector: HistorySelector) -> int: ...

    async def expire_history(self, cut: RetentionCut, limit: int) -> int:
        """Delete at most `limit` instances `cut` selects; how many."""
        ...

    async def tenants(self) -> list[str]:
        """Every tenant the store holds (the default tenant is '')."""
        ...

    # -- open data (records below) ---------------------------------------------------------
    async def dataset_summaries(self, tenant: str, geoproperty: str) -> list[DatasetSummary]:
        ...

    async def add_usage(self, counts: Sequence[UsageCount]) -> None: ...

    async def usage_counts(self, tenants: Sequence[str] | None = None) -> list[UsageCount]: ...


def open_store(dsn: str) -> Store:
    """The adapter a DSN names: `sqlite:///path`, `sqlite://:memory:`, `postgresql://...`."""
    if dsn.startswith("sqlite:"):
        from cityhub.store.sqlite import SqliteStore

        return SqliteStore.from_dsn(dsn)
    if dsn.startswith(("postgresql:", "postgres:")):
        from cityhub.store.postgres import PostgresStore

        return PostgresStore(dsn)
    raise ValueError(f"unsupported store DSN {dsn!r} (use sqlite:///PATH or postgresql://...)")


# ================================================= subscriptions and notifications (records)
# Owned by broker/subscriptions.py and broker/notifications.py; stored by
# store/sqlite/subscriptions.py and store/postgres/subscriptions.py.


@dataclass(slots=True)
class DeliveryStatus:
    """A subscription's delivery figures (clause 5.2.14 NotificationParams). In a
    `DeliveryReport` the counts are increments and the times the latest to record."""

    times_sent: int = 0
    times_failed: int = 0
    last_notification: str | None = None
    last_success: str | None = None
    last_failure: str | None = None
    #: "ok" or "failed": how the last attempt went
    last_status: str | None = None


@dataclass(slots=True)
class SubscriptionRecord:
    tenant: str
    id: str
    #: `ngsild.subscription.Subscription.to_doc()`
    doc: dict[str, Any]
    created_at: str
    modified_at: str
    status: DeliveryStatus = field(default_factory=DeliveryStatus)


@dataclass(slots=True)
class ChangeRecord:
    """One change_outbox row: an entity before and after one write (None: absent)."""

    seq: int
    tenant: str
    entity_id: str
    at: str
    previous: dict[str, Any] | None
    current: dict[str, Any] | None


@dataclass(slots=True)
class PendingNotification:
    """A notification due to a subscription, durable until delivered."""

    tenant: str
    subscription_id: str
    #: the Notification's id (stable across retries, so receivers can spot duplicates)
    notification_id: str
    #: when the change happened
    at: str
    reason: str
    #: the Notification's data: a JSON array of entities, already rendered
    data: bytes
    #: the store's sequence number (0 until stored)
    nid: int = 0


@dataclass(slots=True)
class DeliveryReport:
    #: nids of notifications delivered or given up
    settled: list[int] = field(default_factory=list)
    #: (tenant, subscription id) -> figures to add
    status: dict[tuple[str, str], DeliveryStatus] = field(default_factory=dict)


# ============================================================= temporal: the attribute history
# Owned by broker/temporal.py and broker/retention.py; stored by store/sqlite/temporal.py and
# store/postgres/temporal.py (SQL shared in store/history.py). Rows come from store.changes.


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """History of some entities: every name an expanded IRI."""

    entity_ids: tuple[str, ...]
    #: attribute IRIs (empty: every attribute)
    attrs: tuple[str, ...] = ()
    temporal: TemporalQuery = field(default_factory=TemporalQuery)
    #: most instances (or periods) wanted; the store returns up to one more, to tell
    limit: int = MAX_INSTANCES


@dataclass(frozen=True, slots=True)
class HistorySelector:
    """The recorded instances of one entity a delete removes: all of them; of one attribute
    (one datasetId, None being the default instance, or all with `all_datasets`); or one."""

    entity_id: str
    attr: str | None = None
    dataset_id: str | None = None
    all_datasets: bool = True
    hid: int | None = None


@dataclass(frozen=True, slots=True)
class RetentionCut:
    """What one retention rule deletes in one tenant: instances observed before `before` of
    the entities of `types` (None: of every entity, deleted ones included), never of those of
    `except_types` (the types other rules cover)."""

    tenant: str
    before: str
    types: tuple[str, ...] | None = None
    except_types: tuple[str, ...] = ()


# ====================================================== open data: dataset extents and usage
# Read and kept by broker.datasets for cityhub.opendata; stored by store/sqlite/datasets.py and
# store/postgres/datasets.py.


@dataclass(slots=True)
class DatasetSummary:
    """One entity type of a tenant as a dataset: how many entities, their earliest createdAt
    and latest modifiedAt, and the bounding box (min lon, min lat, max lon, max lat) of their
    geometries of one GeoProperty (None: none has one)."""

    type: str
    count: int
    created: str
    modified: str
    bbox: tuple[float, float, float, float] | None = None


@dataclass(slots=True)
class UsageCount:
    """Requests and entities served of one dataset (tenant, type short name) to one caller
    (API key id, JWT subject or "anonymous"). In `add_usage`, increments."""

    tenant: str
    type: str
    key: str
    requests: int = 0
    entities: int = 0
