"""File import over each store: the worked AirKorea-style example, broken rows, GeoJSON, the
`cityhub import` command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cityhub.broker import Hub
from cityhub.cli import main
from cityhub.ingest.files import import_file
from cityhub.ingest.mapping import load_mapping
from cityhub.ingest.pipeline import IngestPipeline
from cityhub.ngsild.context import core_term_map
from cityhub.ngsild.render import KEY_VALUES, RenderOptions, render_entity
from cityhub.ngsild.temporal import TemporalQuery

from .conftest import DATA, EXAMPLES

pytestmark = pytest.mark.anyio
TERMS = core_term_map()
AIRKOREA = EXAMPLES / "airkorea"


async def key_values(hub: Hub, tenant: str, entity_id: str) -> dict[str, Any]:
    stored = await hub.entities.retrieve(tenant, entity_id)
    return render_entity(stored.entity, TERMS, RenderOptions(format=KEY_VALUES))


async def test_the_airkorea_example_imports(pipeline: IngestPipeline, hub: Hub) -> None:
    mapping = load_mapping(AIRKOREA / "mapping.yaml")
    report = await import_file(pipeline, AIRKOREA / "sejong-air-quality.csv", mapping,
                               tenant="air")
    assert (report.received, report.accepted, report.rejected) == (30, 30, 0)
    station = "urn:ngsi-ld:AirQualityObserved:airkorea-SJ131433"
    values = await key_values(hub, "air", station)
    assert values["name"] == "신흥동" and values["areaServed"] == "세종"
    assert values["dateObserved"] == "2026-05-01T05:00:00.000Z"  # 14:00 KST, the last row
    assert values["location"] == {"type": "Point", "coordinates": [127.2926, 36.5916]}
    stored = await hub.entities.retrieve("air", station)
    [pm25] = stored.entity["attrs"][TERMS.expand("pm25")]
    assert pm25["unitCode"] == "GQ" and pm25["observedAt"] == "2026-05-01T05:00:00.000Z"
    history = await hub.temporal.retrieve("air", station, (TERMS.expand("pm25"),),
                                          TemporalQuery())
    assert len(history.instances) == 6  # one reading an hour
    so2 = await hub.temporal.retrieve("air", station, (TERMS.expand("so2"),), TemporalQuery())
    assert len(so2.instances) == 5  # the 11:00 reading was "-": no value, not a zero


async def test_broken_rows_are_counted_and_the_good_ones_stored(pipeline: IngestPipeline,
                                                                hub: Hub) -> None:
    mapping = load_mapping(AIRKOREA / "mapping.yaml")
    report = await import_file(pipeline, DATA / "broken-readings.csv", mapping, tenant="air")
    assert (report.received, report.accepted, report.rejected) == (8, 2, 6)
    reasons = dict(report.errors)
    assert "has 9 fields" in reasons[2]
    assert "pm10Value" in reasons[3] and "not a number" in reasons[3]
    assert "stationCode" in reasons[4]
    assert "dataTime" in reasons[5]
    assert "pm25=-30" in reasons[6]
    assert "location" in reasons[7]
    values = await key_values(hub, "air", "urn:ngsi-ld:AirQualityObserved:airkorea-SJ8")
    assert "so2" not in values and values["pm10"] == 40
    rejections, count = await pipeline.dead_letters.list("air")
    assert count == 6 and all(r["source"] == "file:broken-readings.csv" for r in rejections)


async def test_geojson_features_import(pipeline: IngestPipeline, hub: Hub) -> None:
    report = await import_file(pipeline, DATA / "containers.geojson",
                               load_mapping(DATA / "containers.yaml"), tenant="waste")
    assert (report.received, report.accepted, report.rejected) == (4, 2, 2)
    values = await key_values(hub, "waste", "urn:ngsi-ld:WasteContainer:c1")
    assert values["fillingLevel"] == 0.25
    assert values["location"] == {"type": "Point", "coordinates": [127.29, 36.48]}


async def test_truncated_geojson_keeps_what_came_before(pipeline: IngestPipeline, hub: Hub,
                                                        tmp_path: Path) -> None:
    text = (DATA / "containers.geojson").read_text()
    cut = tmp_path / "cut.geojson"
    cut.write_text(text[:text.index('"c2"') + 30])
    report = await import_file(pipeline, cut, load_mapping(DATA / "containers.yaml"),
                               tenant="waste")
    assert (report.accepted, report.rejected) == (1, 1)
    assert "valid JSON" in report.errors[0][1]


def test_the_import_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    code = main(["import", str(AIRKOREA / "sejong-air-quality.csv"), "--mapping",
                 str(AIRKOREA / "mapping.yaml"), "--db", db])
    out = json.loads(capsys.readouterr().out)
    assert (code, out["accepted"], out["rejected"]) == (0, 30, 0)
    code = main(["import", str(DATA / "broken-readings.csv"), "--mapping",
                 str(AIRKOREA / "mapping.yaml"), "--db", db, "--show-errors", "2"])
    out = json.loads(capsys.readouterr().out)
    assert (code, out["rejected"], len(out["errors"])) == (1, 6, 2)


def test_the_import_command_refuses_a_bad_mapping(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text("!!python/object/apply:os.system ['touch owned']")
    code = main(["import", str(DATA / "containers.geojson"), "--mapping", str(mapping),
                 "--db", f"sqlite:///{tmp_path / 'hub.db'}"])
    assert code == 2 and "not valid YAML" in capsys.readouterr().err
    assert not (tmp_path / "owned").exists() and not Path("owned").exists()
