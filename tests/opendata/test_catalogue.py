"""The open-data catalogue in open mode, on SQLite and PostgreSQL: DCAT-AP JSON-LD that
expands (pyld, shipped context) to DCAT IRIs with the datasets' bounding boxes; exports
streamed in pages as valid CSV, GeoJSON and NGSI-LD; usage counters that survive a restart;
bad requests answered with ProblemDetails."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pyld import jsonld

from api.support import assert_problem
from cityhub.api import opendata
from cityhub.settings import Settings
from conftest import serve_hub

from .support import BACKENDS, air_quality, store_hub

N = 2400
TENANT = "od-city"
DCAT = "http://www.w3.org/ns/dcat#"
DCT = "http://purl.org/dc/terms/"
CATALOGUE = "/cityhub/v1/catalogue"
EXPORT = f"{CATALOGUE}/{TENANT}/AirQualityObserved/export"


class OpenHub:
    def __init__(self, url: str, hub: Any, dsn: str) -> None:
        self.url, self.hub, self.dsn = url, hub, dsn
        self.client = httpx.Client(base_url=url, timeout=60)


@pytest.fixture(scope="module", params=BACKENDS)
def open_hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[OpenHub]:
    directory = tmp_path_factory.mktemp("opendata")
    with store_hub(request.param, directory) as (dsn, hub), serve_hub(
            Settings(db=dsn), hub) as url:
        found = OpenHub(url, hub, dsn)
        entities = [air_quality(i, 126.9 + (i % 60) / 100, 37.4 + (i // 60) / 100)
                    for i in range(N)]
        for start in range(0, N, 600):
            response = found.client.post("/ngsi-ld/v1/entityOperations/upsert",
                                         json=entities[start:start + 600],
                                         headers={"NGSILD-Tenant": TENANT})
            assert response.status_code in (201, 204), response.text
        yield found
        found.client.close()


def _values(node: dict[str, Any], iri: str) -> list[Any]:
    return [v.get("@value", v.get("@id")) for v in node.get(iri, [])]


def test_catalogue_expands_to_dcat(open_hub: OpenHub) -> None:
    response = open_hub.client.get(CATALOGUE, params={"tenant": TENANT})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/ld+json")
    [catalog] = jsonld.expand(response.json())
    assert catalog["@type"] == [DCAT + "Catalog"]
    [dataset] = catalog[DCAT + "dataset"]
    assert dataset["@type"] == [DCAT + "Dataset"]
    assert _values(dataset, DCT + "license") == ["https://creativecommons.org/licenses/by/4.0/"]
    assert _values(dataset, DCT + "accrualPeriodicity")[0].endswith("/UPDATE_CONT")
    [spatial] = dataset[DCT + "spatial"]
    [bbox] = spatial[DCAT + "bbox"]
    assert bbox["@type"] == "http://www.opengis.net/ont/geosparql#wktLiteral"
    assert bbox["@value"] == "POLYGON((126.9 37.4,127.49 37.4,127.49 37.79,126.9 37.79," \
                             "126.9 37.4))"
    assert _values(dataset, DCT + "modified")
    distributions = dataset[DCAT + "distribution"]
    media = {_values(d, DCAT + "mediaType")[0].rsplit("/", 2)[-2:][1] for d in distributions}
    assert media == {"csv", "geo+json", "ld+json"}
    for distribution in distributions:
        [download] = _values(distribution, DCAT + "downloadURL")
        assert download.startswith(open_hub.url + EXPORT + ".")
    entity_count = dataset["https://cityhub.example.org/ns/opendata#entityCount"]
    assert entity_count[0]["@value"] == N


def test_csv_export_streams_in_pages(open_hub: OpenHub,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(opendata, "EXPORT_PAGE", 300)
    store = open_hub.hub.store
    store.limits.clear()
    chunks = []
    with open_hub.client.stream("GET", EXPORT + ".csv") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        chunks = list(response.iter_raw())
    assert store.limits and max(store.limits) == 300 and len(store.limits) >= N // 300
    assert len(chunks) > 1
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode())))
    assert rows[0] == ["id", "type", "location", "no2"]
    assert len(rows) == N + 1 and all(len(r) == 4 for r in rows)
    assert len({r[0] for r in rows[1:]}) == N
    assert json.loads(rows[1][2])["type"] == "Point"


def test_geojson_and_ngsi_ld_exports_are_valid(open_hub: OpenHub) -> None:
    collection = open_hub.client.get(EXPORT + ".geojson").json()
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == N
    feature = collection["features"][0]
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Point"
    assert feature["properties"]["type"] == "AirQualityObserved"
    entities = open_hub.client.get(EXPORT + ".jsonld").json()
    assert len(entities) == N and all("@context" in e for e in entities)
    assert entities[0]["no2"]["type"] == "Property"


@pytest.mark.parametrize("path,status", [
    (EXPORT + ".xml", 400),
    (f"{CATALOGUE}/{TENANT}/Bad$Type/export.csv", 400),
    (f"{CATALOGUE}/{TENANT}/Streetlight/export.csv", 404),
    (f"{CATALOGUE}/no-such-city/AirQualityObserved/export.csv", 404),
    (f"{CATALOGUE}/bad!tenant/AirQualityObserved/export.csv", 400),
    (CATALOGUE + "?tenant=no-such-city", 404),
    (CATALOGUE + "?colour=red", 400),
])
def test_bad_requests_are_problems(open_hub: OpenHub, path: str, status: int) -> None:
    assert_problem(open_hub.client.get(path), status)


def test_reads_and_exports_are_counted(open_hub: OpenHub) -> None:
    def counted() -> dict[str, int]:
        usage = open_hub.client.get(CATALOGUE + "/usage", params={"tenant": TENANT}).json()
        [row] = [d for d in usage["datasets"] if d["type"] == "AirQualityObserved"]
        return row

    before = counted()
    headers = {"NGSILD-Tenant": TENANT}
    listed = open_hub.client.get("/ngsi-ld/v1/entities",
                                 params={"type": "AirQualityObserved", "limit": "7"},
                                 headers=headers)
    assert listed.status_code == 200 and len(listed.json()) == 7
    one = open_hub.client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:aq-1",
                              headers=headers)
    assert one.status_code == 200
    missing = open_hub.client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:none",
                                  headers=headers)
    assert missing.status_code == 404
    open_hub.client.get(EXPORT + ".geojson").raise_for_status()
    after = counted()
    assert after["requests"] - before["requests"] == 3
    assert after["entities"] - before["entities"] == 7 + 1 + N
    catalogue = open_hub.client.get(CATALOGUE, params={"tenant": TENANT}).json()
    assert catalogue["dataset"][0]["downloads"] == after["requests"]


def test_counters_survive_a_restart(tmp_path: Path) -> None:
    settings = Settings(db=f"sqlite:///{tmp_path / 'hub.db'}")
    with serve_hub(settings) as url, httpx.Client(base_url=url) as client:
        client.post("/ngsi-ld/v1/entities", json=air_quality(1, 127.0, 37.5)).raise_for_status()
        for _ in range(3):
            client.get("/ngsi-ld/v1/entities", params={"type": "AirQualityObserved"}
                       ).raise_for_status()
    with serve_hub(settings) as url:  # the first hub flushed its counters as it stopped
        usage = httpx.get(url + CATALOGUE + "/usage").json()
    assert usage["keys"] == [{"tenant": "@default", "type": "AirQualityObserved",
                              "key": "anonymous", "requests": 3, "entities": 3}]


def test_catalogue_file_declares_what_open_mode_publishes(tmp_path: Path) -> None:
    (tmp_path / "catalogue.toml").write_text(
        'title = "Sejong open data"\npublisher = "Sejong City"\n'
        '[defaults]\nlicense = "KOGL-1"\n'
        '[[datasets]]\ntype = "AirQualityObserved"\ntitle = "Air quality"\n'
        'accrualPeriodicity = "hourly"\nkeywords = ["air", "no2"]\n')
    settings = Settings(db=f"sqlite:///{tmp_path / 'hub.db'}",
                        catalogue_file=str(tmp_path / "catalogue.toml"))
    with serve_hub(settings) as url, httpx.Client(base_url=url) as client:
        client.post("/ngsi-ld/v1/entities", json=air_quality(1, 127.0, 37.5)).raise_for_status()
        client.post("/ngsi-ld/v1/entities", json={
            "id": "urn:ngsi-ld:Streetlight:1", "type": "Streetlight",
            "status": {"type": "Property", "value": "on"}}).raise_for_status()
        catalogue = client.get(CATALOGUE).json()
        assert catalogue["title"] == "Sejong open data"
        assert [d["title"] for d in catalogue["dataset"]] == ["Air quality"]
        dataset = catalogue["dataset"][0]
        assert dataset["license"] == "https://www.kogl.or.kr/info/licenseType1.do"
        assert dataset["accrualPeriodicity"].endswith("/HOURLY")
        assert dataset["keyword"] == ["air", "no2"]
        assert_problem(client.get(f"{CATALOGUE}/@default/Streetlight/export.csv"), 404)


def test_a_bad_catalogue_file_stops_start_up(tmp_path: Path) -> None:
    from cityhub.cli import main

    (tmp_path / "catalogue.yaml").write_text("datasets: [{title: no type}]\n")
    assert main(["serve", "--db", f"sqlite:///{tmp_path / 'hub.db'}", "--no-city",
                 "--catalogue", str(tmp_path / "catalogue.yaml")]) == 2
