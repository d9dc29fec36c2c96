"""A database an earlier CityHub wrote opens in this one, upgraded in place.

`data/schema-v1.db` was written by schema version 1 (every geometry in the R*Tree): 20 sensors
on a line of Points 0.001 degrees apart (Sensor:1 updated once), one Point with an altitude,
one District polygon around them, and Sensor:0 again in the tenant "other".
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cityhub.store.base import EntityQuery, Put
from cityhub.store.sqlite import SqliteStore
from contract.support import NOW, found, geo, iri, point, q, square

pytestmark = pytest.mark.anyio

V1 = Path(__file__).parent / "data" / "schema-v1.db"


@pytest.fixture
async def upgraded(tmp_path: Path) -> Any:
    path = tmp_path / "hub.db"
    shutil.copy(V1, path)
    store = SqliteStore(str(path))
    await store.open()
    yield store
    await store.close()


def ids(found_ids: list[str]) -> list[str]:
    return [i.removeprefix("urn:ngsi-ld:Sensor:").removeprefix("urn:ngsi-ld:District:")
            for i in found_ids]


async def test_geo_queries_find_what_version_1_stored(upgraded: SqliteStore) -> None:
    near = await found(upgraded, "", geoq=geo("near;maxDistance==200", point(127.005, 36.5)))
    assert ids(near) == ["3", "4", "5", "6", "7", "3d", "a"]
    inside = await found(upgraded, "", geoq=geo("within",
                                                 square(127.0095, 36.49, 127.0205, 36.51)))
    assert ids(inside) == [str(i) for i in range(10, 20)]
    assert ids(await found(upgraded, "other", geoq=geo("near;maxDistance==1",
                                                        point(127.0, 36.5)))) == ["0"]
    summaries = {s.type: s for s in await upgraded.dataset_summaries("", iri("location"))}
    assert summaries[iri("Sensor")].bbox == pytest.approx((127.0, 36.5, 127.019, 36.5),
                                                          abs=1e-6)
    assert summaries[iri("District")].bbox == pytest.approx((126.99, 36.49, 127.011, 36.51),
                                                            abs=1e-5)


async def test_queries_and_writes_go_on(upgraded: SqliteStore) -> None:
    assert ids(await found(upgraded, "", q=q("pm25==99"))) == ["1"]
    stored = (await upgraded.get("", ["urn:ngsi-ld:Sensor:1"]))["urn:ngsi-ld:Sensor:1"]
    moved = dict(stored.entity)
    moved["attrs"] = dict(moved["attrs"])
    moved["attrs"][iri("location")] = [{**stored.entity["attrs"][iri("location")][0],
                                        "value": point(127.1, 36.6)}]
    [outcome] = await upgraded.write("", [Put(moved, NOW, "replace",
                                              expected_version=stored.version,
                                              previous=stored.entity)])
    assert outcome.error is None
    assert ids(await found(upgraded, "", geoq=geo("near;maxDistance==10",
                                                   point(127.1, 36.6)))) == ["1"]
    assert "1" not in ids(await found(upgraded, "", geoq=geo("near;maxDistance==10",
                                                              point(127.001, 36.5))))
    result = await upgraded.query("", EntityQuery(count=True, limit=0))
    assert result.count == 22


async def test_a_newer_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    shutil.copy(V1, path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="schema version 99"):
        await SqliteStore(str(path)).open()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM geo_rtree").fetchone()[0] == 23
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
        "99",)
    conn.close()
    assert path.stat().st_size == len(before)
