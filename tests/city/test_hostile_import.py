"""Hostile input to `cityhub city import`: a clear error, a non-zero exit, nothing written."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cityhub.city.virtual import default_extract
from cityhub.cli import main

from .conftest import PAYLOADS


def _import(file: Path, db: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["city", "import", str(file), "--db", f"sqlite:///{db}"])
    return code, capsys.readouterr().err


def _nothing_written(db: Path) -> bool:
    if not db.exists():
        return True

    async def count() -> int:
        from cityhub.store.base import EntityQuery
        from cityhub.store.sqlite import SqliteStore

        store = SqliteStore(str(db))
        await store.open()
        try:
            return (await store.query("", EntityQuery(limit=1, count=True))).count or 0
        finally:
            await store.close()

    return asyncio.run(count()) == 0


def test_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _import(tmp_path / "nowhere.osm.pbf", tmp_path / "hub.db", capsys)
    assert code != 0 and "does not exist" in err
    assert _nothing_written(tmp_path / "hub.db")


def test_a_truncated_pbf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truncated = tmp_path / "truncated.osm.pbf"
    truncated.write_bytes(default_extract().read_bytes()[:200_000])
    code, err = _import(truncated, tmp_path / "hub.db", capsys)
    assert code != 0 and "not a readable OpenStreetMap extract" in err
    assert "Traceback" not in err
    assert _nothing_written(tmp_path / "hub.db")


def test_a_corrupt_pbf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corrupt = tmp_path / "corrupt.osm.pbf"
    data = bytearray(default_extract().read_bytes()[:50_000])
    data[100:4000] = bytes((i * 37) % 256 for i in range(3900))
    corrupt.write_bytes(bytes(data))
    code, err = _import(corrupt, tmp_path / "hub.db", capsys)
    assert code != 0 and "not a readable OpenStreetMap extract" in err
    assert _nothing_written(tmp_path / "hub.db")


def test_an_xml_bomb(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _import(PAYLOADS / "bomb.osm", tmp_path / "hub.db", capsys)
    assert code != 0 and "DTD or entities" in err
    assert _nothing_written(tmp_path / "hub.db")


@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty.osm.pbf", b"", "is empty"),
    ("notes.txt", b"hello", "expected an .osm.pbf or .osm file"),
    ("page.osm", b"<html><body>not a map</body></html>", "not OSM XML"),
    ("broken.osm", b"<?xml version='1.0'?><osm version='0.6'><node id='1' lat=", "not a readable"),
    ("noroads.osm", b"<?xml version='1.0'?><osm version='0.6'>"
                    b"<node id='1' lat='36.48' lon='127.29'/></osm>", "no drivable road network"),
])
def test_files_that_are_no_city(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
                                content: bytes, message: str) -> None:
    file = tmp_path / name
    file.write_bytes(content)
    code, err = _import(file, tmp_path / "hub.db", capsys)
    assert code != 0 and message in err, err
    assert _nothing_written(tmp_path / "hub.db")


def test_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _import(tmp_path, tmp_path / "hub.db", capsys)
    assert code != 0 and "is not a file" in err


def test_a_good_file_imports_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    import json

    db = tmp_path / "hub.db"
    code = main(["city", "import", str(PAYLOADS / "crossroads.osm"), "--db", f"sqlite:///{db}",
                 "--tenant", "sejong", "--name", "Crossroads"])
    out = capsys.readouterr().out
    assert code == 0
    report = json.loads(out)
    assert report["city"] == "urn:ngsi-ld:City:crossroads"
    assert report["counts"]["RoadSegment"] == 4 and report["counts"]["RoadJunction"] == 5
    # no fire station in the file: one is derived, with units at it
    assert report["counts"]["EmergencyUnit"] == 4
