"""Every role x operation x entity-type cell, through the public HTTP API on both stores:
the cells a role must not have are refused (403, or 401 for anonymous callers) with
ProblemDetails and change nothing; the others are not refused.

The expected matrix is written out here, independently of the policy code: it is the
specification of the built-in roles (docs/security.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.support import assert_problem

from .support import ROLES, SecuredHub, entity

OPEN, SAFETY, ORDINARY, WELFARE = "AirQualityObserved", "Alert", "ParkingSpot", "Device"
TYPES = (OPEN, SAFETY, ORDINARY, WELFARE)
EVERY = frozenset(TYPES)
ANONYMOUS = "anonymous"

#: role -> operation -> the types it may do it on
MATRIX: dict[str, dict[str, frozenset[str]]] = {
    "admin": {"read": EVERY, "write": EVERY, "subscribe": EVERY},
    "operator": {"read": EVERY, "write": EVERY, "subscribe": EVERY},
    "police": {"read": EVERY, "write": frozenset({SAFETY}), "subscribe": EVERY},
    "fire": {"read": EVERY, "write": frozenset({SAFETY}), "subscribe": EVERY},
    "guardian": {"read": frozenset({OPEN, SAFETY, WELFARE}), "write": frozenset(),
                 "subscribe": frozenset({SAFETY, WELFARE})},
    "partner": {"read": EVERY, "write": frozenset(), "subscribe": EVERY},
    "public": {"read": frozenset({OPEN}), "write": frozenset(), "subscribe": frozenset()},
    ANONYMOUS: {"read": frozenset({OPEN}), "write": frozenset(), "subscribe": frozenset()},
}
CELLS = [(role, op, kind) for role in MATRIX for op in ("read", "write", "subscribe")
         for kind in TYPES]


def existing(kind: str) -> str:
    return f"urn:ngsi-ld:{kind}:seed"


@pytest.fixture(scope="module")
def seeded(secured: SecuredHub) -> SecuredHub:
    with secured.client("operator") as client:
        for kind in TYPES:
            response = client.post("/entities", json=entity(kind, "seed", status="ok"))
            assert response.status_code == 201, response.text
    return secured


@pytest.fixture
def caller(seeded: SecuredHub, request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    role = request.node.callspec.params["role"]
    with seeded.client(None if role == ANONYMOUS else role) as client:
        yield client


def subscription(kind: str) -> dict[str, Any]:
    return {"type": "Subscription", "entities": [{"type": kind}],
            "notification": {"attributes": ["status"],
                             "endpoint": {"uri": "http://127.0.0.1:1/notify",
                                          "accept": "application/json"}}}


def attempts(client: httpx.Client, role: str, op: str, kind: str) -> list[httpx.Response]:
    if op == "read":
        return [client.get("/entities", params={"type": kind}),
                client.get(f"/entities/{existing(kind)}"),
                client.get(f"/temporal/entities/{existing(kind)}"),
                client.post("/entityOperations/query",
                            json={"type": "Query", "entities": [{"type": kind}]})]
    if op == "write":
        return [client.post("/entities", json=entity(kind, f"new-{role}", status="new")),
                client.patch(f"/entities/{existing(kind)}/attrs",
                             json={"status": {"type": "Property", "value": role}}),
                client.post("/entityOperations/upsert",
                            json=[entity(kind, f"batch-{role}", status="new")])]
    return [client.post("/subscriptions", json=subscription(kind))]


@pytest.mark.parametrize(("role", "op", "kind"), CELLS)
def test_cell(seeded: SecuredHub, caller: httpx.Client, role: str, op: str, kind: str) -> None:
    allowed = kind in MATRIX[role][op]
    with seeded.client("operator") as operator:
        before = operator.get(f"/entities/{existing(kind)}").json()
    for response in attempts(caller, role, op, kind):
        if allowed:
            assert response.status_code < 400, (response.request.url, response.text)
        else:
            assert_problem(response, 401 if role == ANONYMOUS else 403)
    if not allowed:
        with seeded.client("operator") as operator:
            assert operator.get(f"/entities/{existing(kind)}").json() == before
            new = operator.get(f"/entities/urn:ngsi-ld:{kind}:new-{role}")
            assert new.status_code == 404


def test_the_matrix_covers_every_role() -> None:
    assert set(MATRIX) == {*ROLES, ANONYMOUS}


@pytest.mark.parametrize("role", [r for r in MATRIX if r not in ("admin", "operator",
                                                                    "partner", "police",
                                                                    "fire")])
def test_roles_without_every_type_cannot_query_or_discover_every_type(
        seeded: SecuredHub, role: str) -> None:
    with seeded.client(None if role == ANONYMOUS else role) as client:
        status = 401 if role == ANONYMOUS else 403
        for response in (client.get("/entities", params={"q": "status==ok"}),
                         client.get("/types"), client.get("/attributes"),
                         client.get("/entities", params={"type": f"{OPEN},{ORDINARY}"}),
                         client.post("/entityOperations/query",
                                     json={"type": "Query", "q": "status==ok"})):
            assert_problem(response, status)


def test_anonymous_reads_open_data_and_nothing_else(seeded: SecuredHub) -> None:
    with seeded.client(None) as client:
        found = client.get("/entities", params={"type": OPEN})
        assert found.status_code == 200 and existing(OPEN) in [e["id"] for e in found.json()]
        assert_problem(client.get("/subscriptions"), 401)
        assert_problem(client.delete(f"/entities/{existing(OPEN)}"), 401)
    with httpx.Client(base_url=seeded.url) as root:
        assert root.get("/version").status_code == 200
        assert_problem(root.get("/cityhub/v1/devices"), 401)
        assert_problem(root.get("/cityhub/v1/audit"), 401)
