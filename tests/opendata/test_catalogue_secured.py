"""The catalogue under access control, on SQLite and PostgreSQL: published = the tenant's
open-data types; anonymous callers export open types only; a key never exports another
tenant's data; personal attributes are stripped as on the NGSI-LD routes; usage is admin-only
and counted per key."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import httpx
import pytest

from api.support import assert_problem
from security.support import TENANT_A, TENANT_B, SecuredHub, entity, secured_hub

from .support import BACKENDS, air_quality, store_hub

CATALOGUE = "/cityhub/v1/catalogue"
AQ_A = f"{CATALOGUE}/{TENANT_A}/AirQualityObserved/export"


@pytest.fixture(scope="module", params=BACKENDS)
def secured(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[SecuredHub]:
    directory = tmp_path_factory.mktemp("opendata-secured")
    with store_hub(request.param, directory) as (dsn, hub), secured_hub(
            directory, dsn, hub) as secured_hub_:
        yield _filled(secured_hub_)


def _filled(hub: SecuredHub) -> SecuredHub:
    with hub.client("operator", TENANT_A) as a, hub.client("operator-b", TENANT_B) as b:
        batch = [air_quality(i, 127.0 + i / 100, 36.5, email=f"p{i}@example.org")
                 for i in range(30)]
        assert a.post("/entityOperations/upsert", json=batch).status_code == 201
        assert a.post("/entities", json=entity("ParkingSpot", "a-1", status="free")
                      ).status_code == 201
        assert b.post("/entities", json=air_quality(99, 128.0, 35.0)).status_code == 201
    return hub


def _client(hub: SecuredHub, key: str | None = None) -> httpx.Client:
    headers = {"X-API-Key": hub.keys[key]} if key else {}
    return httpx.Client(base_url=hub.url, headers=headers, timeout=30)


def test_catalogue_lists_the_open_types_only(secured: SecuredHub) -> None:
    with _client(secured) as anonymous:
        response = anonymous.get(CATALOGUE)
    assert response.status_code == 200
    names = sorted(d["identifier"] for d in response.json()["dataset"])
    assert names == [f"{TENANT_A}/AirQualityObserved", f"{TENANT_B}/AirQualityObserved"]


def test_anonymous_exports_open_data_without_personal_attributes(secured: SecuredHub) -> None:
    with _client(secured) as anonymous:
        response = anonymous.get(AQ_A + ".csv")
        assert response.status_code == 200, response.text
        rows = list(csv.reader(io.StringIO(response.text)))
        assert rows[0] == ["id", "type", "location", "no2"] and len(rows) == 31
        features = anonymous.get(AQ_A + ".geojson").json()["features"]
        assert len(features) == 30 and all("email" not in f["properties"] for f in features)
        assert_problem(anonymous.get(f"{CATALOGUE}/{TENANT_A}/ParkingSpot/export.csv"), 401)


def test_a_key_with_personal_rights_gets_them_and_is_audited(secured: SecuredHub) -> None:
    with _client(secured, "operator") as operator:
        entities = operator.get(AQ_A + ".jsonld").json()
    assert len(entities) == 30 and all("email" in e for e in entities)
    assert "personal-read" in secured.audit_file.read_text()
    with _client(secured, "partner") as partner:  # partner: every type, no personal data
        entities = partner.get(AQ_A + ".jsonld").json()
    assert len(entities) == 30 and not any("email" in e for e in entities)


def test_one_tenant_cannot_export_another(secured: SecuredHub) -> None:
    with _client(secured, "operator-b") as b:
        assert_problem(b.get(AQ_A + ".csv"), 403)
        assert_problem(b.get(f"{CATALOGUE}/{TENANT_A}/ParkingSpot/export.csv"), 403)
        assert b.get(f"{CATALOGUE}/{TENANT_B}/AirQualityObserved/export.csv").status_code == 200
    with _client(secured, "operator") as a:  # a published type only, even for an operator
        assert_problem(a.get(f"{CATALOGUE}/{TENANT_A}/ParkingSpot/export.csv"), 404)


def _partner_usage(secured: SecuredHub) -> dict[str, int]:
    with _client(secured, "admin") as admin:
        usage = admin.get(CATALOGUE + "/usage").json()
    rows = [k for k in usage["keys"] if k["key"] == "partner"]
    assert all(k["type"] == "AirQualityObserved" for k in rows)
    return rows[0] if rows else {"requests": 0, "entities": 0}


def test_usage_is_for_admins_and_counted_per_key(secured: SecuredHub) -> None:
    before = _partner_usage(secured)
    with _client(secured) as anonymous, _client(secured, "partner") as partner:
        assert_problem(anonymous.get(CATALOGUE + "/usage"), 401)
        assert_problem(partner.get(CATALOGUE + "/usage"), 403)
        partner.get(AQ_A + ".csv").raise_for_status()
        read = partner.get("/ngsi-ld/v1/entities", params={"type": "AirQualityObserved"},
                           headers={"NGSILD-Tenant": TENANT_A})
        assert read.status_code == 200
        partner.get("/ngsi-ld/v1/entities", params={"type": "ParkingSpot"},
                    headers={"NGSILD-Tenant": TENANT_A}).raise_for_status()
    with _client(secured, "admin") as admin, _client(secured, "root") as root:
        mine = admin.get(CATALOGUE + "/usage").json()
        everything = root.get(CATALOGUE + "/usage").json()
    assert {k["tenant"] for k in mine["keys"]} == {TENANT_A}
    after = _partner_usage(secured)
    assert after["requests"] - before["requests"] == 2
    assert after["entities"] - before["entities"] == 30 + len(read.json())
    assert all(k["type"] == "AirQualityObserved" for k in everything["keys"])
