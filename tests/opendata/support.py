"""Helpers of the open-data tests: a hub over a store that records the page sizes of its
queries (on SQLite or PostgreSQL), and entity payloads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from cityhub.broker import Hub
from cityhub.store.base import EntityQuery, QueryResult

#: the store backends every open-data test runs on
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def recording(store_class: type, *args: Any, **kwargs: Any) -> Any:
    """An instance of `store_class` whose `query` notes each query's limit in `.limits`."""

    class Recording(store_class):  # type: ignore[misc,valid-type]
        async def query(self, tenant: str, query: EntityQuery) -> QueryResult:
            self.limits.append(query.limit)
            return await super().query(tenant, query)

    store = Recording(*args, **kwargs)
    store.limits = []
    return store


@contextmanager
def store_hub(backend: str, directory: Path) -> Iterator[tuple[str, Hub]]:
    """(DSN, Hub over a recording store) on `backend`, in a fresh file or schema."""
    if backend == "sqlite":
        from cityhub.store.sqlite import SqliteStore

        path = directory / "hub.db"
        yield f"sqlite:///{path}", Hub(recording(SqliteStore, str(path)))
        return
    from broker.support import postgres_schema
    from cityhub.store.postgres import PostgresStore

    with postgres_schema() as (dsn, name):
        yield dsn, Hub(recording(PostgresStore, dsn, schema=name, max_size=4))


def air_quality(i: int, lon: float, lat: float, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": f"urn:ngsi-ld:AirQualityObserved:aq-{i}", "type": "AirQualityObserved",
        "no2": {"type": "Property", "value": i % 97},
        "location": {"type": "GeoProperty", "value": {"type": "Point",
                                                      "coordinates": [lon, lat]}}}
    for key, value in extra.items():
        doc[key] = {"type": "Property", "value": value}
    return doc
