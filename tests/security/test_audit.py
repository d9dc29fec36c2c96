"""The audit log: every write, every subscription change and every read of personal data is
recorded (who, when, what), append-only, never with a credential; admins query it through
GET /cityhub/v1/audit, each seeing only its tenants."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from api.support import assert_problem

from .support import TENANT_A, TENANT_B, SecuredHub, entity

VEHICLE = "urn:ngsi-ld:Vehicle:audit-1"
NOTIFY = {"uri": "http://127.0.0.1:1/notify", "accept": "application/json"}


def audit(hub: SecuredHub, key: str | None, **params: str) -> httpx.Response:
    headers = {} if key is None else {"X-API-Key": hub.keys[key]}
    return httpx.get(hub.url + "/cityhub/v1/audit", params=params, headers=headers)


def records(hub: SecuredHub, **params: str) -> list[dict[str, Any]]:
    response = audit(hub, "root", **{"limit": "1000", **params})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def activity(secured: SecuredHub) -> SecuredHub:
    with secured.client("operator") as operator:
        assert operator.post("/entities", json=entity(
            "Vehicle", "audit-1", licensePlate="12-AB-34", speed=30)).status_code == 201
        assert operator.post("/entities", json=entity("ParkingSpot", "audit-2", status="free")
                             ).status_code == 201
        created = operator.post("/subscriptions", json={
            "type": "Subscription", "entities": [{"type": "Vehicle"}],
            "notification": {"endpoint": NOTIFY}})
        assert created.status_code == 201
        assert operator.delete(created.headers["location"].removeprefix("/ngsi-ld/v1")
                               ).status_code == 204
    with secured.client("police") as police:
        assert police.get(f"/entities/{VEHICLE}").json()["licensePlate"]["value"] == "12-AB-34"
        assert police.get("/entities/urn:ngsi-ld:ParkingSpot:audit-2").status_code == 200
    with secured.client("operator-b", TENANT_B) as other:
        assert other.post("/entities", json=entity("ParkingSpot", "audit-b")).status_code == 201
    return secured


def test_writes_subscription_changes_and_personal_reads_are_recorded(
        activity: SecuredHub) -> None:
    found = records(activity, tenant=TENANT_A)
    writes = [r for r in found if r["action"] == "write" and r["subject"] == "operator"]
    assert {(r["method"], r["what"], r["status"]) for r in writes} >= {
        ("POST", "/ngsi-ld/v1/entities", 201)}
    changes = [r for r in found if r["action"] == "subscribe"]
    assert [r["method"] for r in changes][-2:] == ["POST", "DELETE"]
    reads = [r for r in found if r["action"] == "personal-read"]
    assert [(r["subject"], r["role"], r["what"]) for r in reads] == [
        ("police", "police", f"/ngsi-ld/v1/entities/{VEHICLE}")]  # not the ParkingSpot
    for record in found:
        assert record["at"].endswith("Z") and record["tenant"] == TENANT_A


def test_no_credential_is_ever_written(activity: SecuredHub) -> None:
    text = activity.audit_file.read_text()
    assert text
    for key in activity.keys.values():
        assert key not in text


def test_the_log_only_grows(activity: SecuredHub) -> None:
    before = activity.audit_file.read_bytes()
    with activity.client("operator") as operator:
        operator.patch("/entities/urn:ngsi-ld:ParkingSpot:audit-2/attrs",
                       json={"status": {"type": "Property", "value": "busy"}})
    after = activity.audit_file.read_bytes()
    assert after.startswith(before) and len(after) > len(before)


def test_admins_see_their_tenants_only(activity: SecuredHub) -> None:
    mine = audit(activity, "admin", limit="1000")
    assert mine.status_code == 200
    assert {r["tenant"] for r in mine.json()} == {TENANT_A}
    assert audit(activity, "admin", tenant=TENANT_B).json() == []
    assert {r["tenant"] for r in records(activity)} >= {TENANT_A, TENANT_B}
    assert int(mine.headers["ngsild-results-count"]) == len(mine.json())


def test_filters(activity: SecuredHub) -> None:
    assert {r["subject"] for r in records(activity, subject="police")} == {"police"}
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 3600))
    assert records(activity, since=since) == []
    assert len(records(activity, limit="1")) == 1
    assert_problem(audit(activity, "root", limit="0"), 400)
    assert_problem(audit(activity, "root", colour="red"), 400)


@pytest.mark.parametrize("role", ["operator", "police", "partner", "public"])
def test_only_admins_read_the_log(activity: SecuredHub, role: str) -> None:
    assert_problem(audit(activity, role), 403)


def test_anonymous_callers_cannot_read_the_log(activity: SecuredHub) -> None:
    assert_problem(audit(activity, None), 401)


def test_refused_changes_of_known_callers_are_recorded(activity: SecuredHub) -> None:
    with activity.client("partner") as partner:
        assert_problem(partner.post("/entities", json=entity("ParkingSpot", "nope")), 403)
    refused = [r for r in records(activity, subject="partner") if r["status"] == 403]
    assert refused and refused[-1]["what"] == "/ngsi-ld/v1/entities"
