"""WAL checkpoints: the database file fills while the store is open (the WAL does not keep
everything), and close() leaves everything in the database file."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from cityhub.store.base import Put
from cityhub.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio

NOW = "2026-12-01T00:00:00Z"


def _entity(i: int) -> dict:
    """One entity in the store's normal form (as the parser leaves it), ~1 KB written."""
    return {
        "id": f"urn:ngsi-ld:Sensor:{i}",
        "type": ["https://uri.fiware.org/ns/data-models#Sensor"],
        "attrs": {
            "https://uri.fiware.org/ns/data-models#reading": [
                {"type": "Property", "value": float(i), "observedAt": NOW,
                 "createdAt": NOW, "modifiedAt": NOW}],
            "https://uri.fiware.org/ns/data-models#note": [
                {"type": "Property", "value": "x" * 400, "createdAt": NOW,
                 "modifiedAt": NOW}],
        },
    }


async def _write(store: SqliteStore, start: int, count: int) -> None:
    outcomes = await store.write("", [Put(_entity(i), NOW, "upsert")
                                      for i in range(start, start + count)])
    assert all(o.error is None for o in outcomes)


async def test_the_checkpointer_fills_the_database_file_while_the_store_is_open(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hub.db"
    store = SqliteStore(str(path))
    await store.open()
    try:
        empty = path.stat().st_size
        await _write(store, 0, 2000)
        # checkpoints copy the WAL's pages into the file while the store runs
        for _ in range(100):
            if path.stat().st_size > empty + 1_000_000:
                break
            await asyncio.sleep(0.05)
        assert path.stat().st_size > empty + 1_000_000
    finally:
        await store.close()


async def test_close_leaves_everything_in_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    store = SqliteStore(str(path))
    await store.open()
    await _write(store, 0, 1500)
    await store.close()
    wal = f"{path}-wal"
    assert not os.path.exists(wal) or os.path.getsize(wal) == 0
    # the file alone holds every entity: read it without its WAL
    if os.path.exists(wal):
        os.remove(wal)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*) FROM entities").fetchone()[0] == 1500
    finally:
        conn.close()
    reopened = SqliteStore(str(path))
    await reopened.open()
    try:
        found = await reopened.get("", ["urn:ngsi-ld:Sensor:1499"])
        assert found["urn:ngsi-ld:Sensor:1499"].entity["attrs"]
        await _write(reopened, 1500, 10)  # and the reopened store writes on
    finally:
        await reopened.close()
