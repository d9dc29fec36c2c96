"""Which file a SQLite DSN names: relative after three slashes, absolute after four."""

from __future__ import annotations

import pytest

from cityhub.store.base import open_store
from cityhub.store.sqlite import SqliteStore


@pytest.mark.parametrize(("dsn", "path"), [
    ("sqlite:///cityhub.db", "cityhub.db"),
    ("sqlite:///data/hub.db", "data/hub.db"),
    ("sqlite:////var/lib/cityhub/hub.db", "/var/lib/cityhub/hub.db"),
])
def test_the_dsn_names_the_file(dsn: str, path: str) -> None:
    store = open_store(dsn)
    assert isinstance(store, SqliteStore)
    assert store.path == path


@pytest.mark.parametrize("dsn", ["sqlite://:memory:", "sqlite://", "sqlite:///:memory:"])
def test_memory_dsns(dsn: str) -> None:
    store = open_store(dsn)
    assert isinstance(store, SqliteStore) and store.memory


def test_a_dsn_without_a_file_is_refused() -> None:
    with pytest.raises(ValueError, match="names no file"):
        open_store("sqlite:///")
