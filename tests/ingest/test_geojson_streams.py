"""GeoJSON imports, streamed: FeatureCollections and GeoJSON Text Sequences (RFC 8142,
`.geojsons`) / newline-delimited GeoJSON (`.geojsonl`), with malformed, oversized and hostile
input counted as dead letters while every good feature is stored."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from cityhub.broker import Hub
from cityhub.ingest import files
from cityhub.ingest.files import geojson_rows, import_file
from cityhub.ingest.mapping import load_mapping
from cityhub.ingest.pipeline import IngestPipeline

from .conftest import DATA

pytestmark = pytest.mark.anyio
RS = "\x1e"


def feature(code: str, fill: float = 0.5, coordinates: list | None = None) -> str:
    geometry = ({"type": "Point", "coordinates": [127.29, 36.48]} if coordinates is None
                else {"type": "MultiPoint", "coordinates": coordinates})
    return json.dumps({"type": "Feature", "properties": {"code": code, "fill": fill},
                       "geometry": geometry})


HUGE = [[127.0 + i * 1e-6, 36.0] for i in range(files.MAX_POSITIONS + 1)]


async def stored_codes(hub: Hub, tenant: str, codes: list[str]) -> set[str]:
    ids = [f"urn:ngsi-ld:WasteContainer:{c}" for c in codes]
    found = await hub.batch.store.get(tenant, ids)
    return {entity_id.rsplit(":", 1)[1] for entity_id in found}


async def test_a_text_sequence_keeps_the_good_features(pipeline: IngestPipeline, hub: Hub,
                                                       tmp_path: Path) -> None:
    lines = [
        RS + feature("g1"),
        RS + "[1, 2, 3]",                                   # a feature that is not an object
        RS + feature("g2"),
        RS + feature("x1")[:20] + RS + feature("x2")[20:],  # an RS inside a feature
        "",                                                  # blank: skipped
        RS + feature("huge", coordinates=HUGE),              # too many positions
        RS + '{"type": "Feature", "properties": 7}',        # properties not an object
        RS + feature("g3"),
        RS + feature("cut")[:-9],                            # truncated at the end
    ]
    path = tmp_path / "containers.geojsons"
    path.write_text("\n".join(lines))
    report = await import_file(pipeline, path, load_mapping(DATA / "containers.yaml"),
                               tenant="seq")
    assert (report.received, report.accepted, report.rejected) == (8, 3, 5)
    reasons = dict(report.errors)
    assert "must be an object" in reasons[2] and "record separator" in reasons[4]
    assert "positions" in reasons[5] and "properties" in reasons[6]
    assert "not valid JSON" in reasons[8]
    assert await stored_codes(hub, "seq", ["g1", "g2", "g3", "x1", "x2", "huge", "cut"]) \
        == {"g1", "g2", "g3"}
    _, count = await pipeline.dead_letters.list("seq")
    assert count == 5


async def test_newline_delimited_geojson_and_an_oversized_line(
        pipeline: IngestPipeline, hub: Hub, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "MAX_FEATURE_BYTES", 2000)
    big = feature("big", coordinates=[[127.0, 36.0]] * 200)  # ~3 KB: over the limit
    path = tmp_path / "containers.geojsonl"
    path.write_text("\n".join([feature("n1"), big, feature("n2"), "not json", ""]) + "\n")
    report = await import_file(pipeline, path, load_mapping(DATA / "containers.yaml"),
                               tenant="ndj")
    assert (report.received, report.accepted, report.rejected) == (4, 2, 2)
    reasons = dict(report.errors)
    assert "longer than 2000 bytes" in reasons[2] and "not valid JSON" in reasons[4]
    assert await stored_codes(hub, "ndj", ["n1", "n2", "big"]) == {"n1", "n2"}


async def test_a_feature_collection_with_hostile_features(pipeline: IngestPipeline, hub: Hub,
                                                          tmp_path: Path) -> None:
    body = ",".join([feature("f1"), '"a string"', feature("huge", coordinates=HUGE),
                     "null", feature("f2")])
    path = tmp_path / "containers.geojson"
    path.write_text(f'{{"type": "FeatureCollection", "features": [{body}]}}')
    report = await import_file(pipeline, path, load_mapping(DATA / "containers.yaml"),
                               tenant="fc")
    assert (report.received, report.accepted, report.rejected) == (5, 2, 3)
    assert await stored_codes(hub, "fc", ["f1", "f2", "huge"]) == {"f1", "f2"}


def test_a_large_feature_collection_is_streamed(tmp_path: Path) -> None:
    path = tmp_path / "many.geojson"
    count = 40_000
    with path.open("w") as handle:
        handle.write('{"type": "FeatureCollection", "features": [')
        handle.write(",".join(feature(f"c{i}") for i in range(count)))
        handle.write("]}")
    assert path.stat().st_size > 5_000_000
    tracemalloc.start()
    try:
        seen = sum(1 for row, _, problem in geojson_rows(path) if row and not problem)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == count
    assert peak < 1_000_000  # the file is > 5 MB: it was never held whole
