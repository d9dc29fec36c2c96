"""Rate limits per key (429 with Retry-After), body and query-size limits, CORS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.support import assert_problem

from .support import TENANT_A, SecuredHub, secured_hub

ORIGIN = "https://dashboard.example.city"


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredHub]:
    with secured_hub(tmp_path_factory.mktemp("tight"), max_body_bytes=1024,
                     max_query_bytes=512, cors_origins=(ORIGIN,)) as hub:
        yield hub


def test_a_key_over_its_rate_gets_429_with_retry_after(tight: SecuredHub) -> None:
    with tight.client("slow") as client:
        statuses = [client.get("/entities", params={"type": "X"}) for _ in range(4)]
    assert [r.status_code for r in statuses[:2]] != [429, 429]
    limited = statuses[-1]
    assert_problem(limited, 429)
    assert int(limited.headers["retry-after"]) >= 1
    with tight.client("operator") as other:  # buckets are per key
        assert other.get("/entities", params={"type": "X"}).status_code != 429


def test_bodies_over_the_limit_are_413(tight: SecuredHub) -> None:
    with tight.client("operator") as client:
        big = b'{"id": "urn:x:1", "type": "T", "pad": "' + b"x" * 2000 + b'"}'
        response = client.post("/entities", content=big,
                               headers={"Content-Type": "application/json"})
        assert_problem(response, 413)

        def chunks() -> Iterator[bytes]:
            yield big[:600]
            yield big[600:]

        response = client.post("/entityOperations/upsert", content=chunks(),
                               headers={"Content-Type": "application/json"})
        assert_problem(response, 413)


def test_query_strings_over_the_limit_are_414(tight: SecuredHub) -> None:
    with tight.client("operator") as client:
        assert_problem(client.get("/entities", params={"type": "T", "q": "a==" + "1" * 600}),
                       414)


def test_cors_pre_flight_and_answers_for_allowed_origins_only(tight: SecuredHub) -> None:
    url = tight.url + "/ngsi-ld/v1/entities"
    asked = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "X-API-Key, Content-Type"}
    response = httpx.options(url, headers=asked)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "X-API-Key" in response.headers["access-control-allow-headers"]
    answer = httpx.get(url, params={"type": "T"}, headers={
        "Origin": ORIGIN, "X-API-Key": tight.keys["operator"], "NGSILD-Tenant": TENANT_A})
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    other = httpx.options(url, headers={**asked, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    denied = httpx.get(url, params={"type": "T"}, headers={"Origin": ORIGIN})
    assert denied.status_code == 401
    assert denied.headers["access-control-allow-origin"] == ORIGIN  # browsers can read why


def test_guessing_keys_is_rate_limited_per_address(tmp_path: Path) -> None:
    with secured_hub(tmp_path, anonymous_rate=0.5) as guarded:
        url = guarded.url + "/ngsi-ld/v1/entities"
        statuses = [httpx.get(url, params={"type": "T"},
                              headers={"X-API-Key": f"chk_guess{i}"}) for i in range(4)]
    assert statuses[0].status_code == 401
    assert_problem(statuses[-1], 429)
    assert statuses[-1].headers["retry-after"]
