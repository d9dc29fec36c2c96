"""Fixtures of the reliability tests: store DSNs for hub processes (a SQLite file; a fresh
PostgreSQL schema whose connections carry an application_name of their own, so that a test can
terminate exactly its hub's connections and nobody else's)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .faults import postgres_hub_dsn as fresh_postgres_hub_dsn


@pytest.fixture
def postgres_hub_dsn() -> Iterator[tuple[str, str]]:
    """(DSN of a fresh schema for hub processes, the application_name its connections use)."""
    with fresh_postgres_hub_dsn() as found:
        yield found


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hub_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The DSN of an empty store for hub processes: a SQLite file, or a PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    yield request.getfixturevalue("postgres_hub_dsn")[0]
