"""The Store contract: what the broker needs from a database, and nothing about HTTP.

Adapters (`store.sqlite`, `store.postgres`) implement `Store`; `open_store(dsn)` picks one by the
DSN scheme. Entities are kept in the normal form of `ngsild.entity`; each entity carries a
`version` for optimistic concurrency (read, change in Python, write back if unchanged).

Writes come as a list of operations applied in one transaction; each operation succeeds or fails
on its own (a batch with one bad entity stores all the others) and the outcome list says which.
Queries are compiled to SQL with bound parameters (`store.sql`) and run in the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from cityhub.ngsild.errors import NgsiLdError
from cityhub.ngsild.geo import GeoQuery


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


def open_store(dsn: str) -> Store:
    """The adapter a DSN names: `sqlite:///path`, `sqlite://:memory:`, `postgresql://...`."""
    if dsn.startswith("sqlite:"):
        from cityhub.store.sqlite import SqliteStore

        return SqliteStore.from_dsn(dsn)
    if dsn.startswith(("postgresql:", "postgres:")):
        from cityhub.store.postgres import PostgresStore

        return PostgresStore(dsn)
    raise ValueError(f"unsupported store DSN {dsn!r} (use sqlite:///PATH or postgresql://...)")
