"""Bad, expired and forged credentials, and hostile headers: 401 (or 400) with ProblemDetails,
a WWW-Authenticate challenge, and never the credential in the answer."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from api.support import assert_problem

from .support import AUDIENCE, ISSUER, TENANT_A, SecuredHub

PATH = "/entities?type=ParkingSpot"


def get(hub: SecuredHub, headers: list[tuple[str, str]]) -> httpx.Response:
    return httpx.get(hub.url + "/ngsi-ld/v1" + PATH,
                     headers=[("NGSILD-Tenant", TENANT_A), *headers], timeout=30)


def refused(hub: SecuredHub, headers: list[tuple[str, str]], status: int = 401) -> None:
    response = get(hub, headers)
    assert_problem(response, status)
    for _, value in headers:
        assert not isinstance(value, str) or len(value) < 8 or value not in response.text
    if status == 401:
        assert "Bearer" in response.headers["www-authenticate"]


def test_good_credentials_pass(secured: SecuredHub) -> None:
    assert passes(get(secured, [("X-API-Key", secured.keys["operator"])]))
    key = secured.keys["operator"]
    assert passes(get(secured, [("Authorization", f"ApiKey {key}")]))
    for kid in ("pem-1", "jwks-1"):
        token = secured.token(kid=kid)
        assert passes(get(secured, [("Authorization", f"Bearer {token}")]))
    token = secured.token(tenant=[TENANT_A, "other"])
    assert passes(get(secured, [("Authorization", f"Bearer {token}")]))


@pytest.mark.parametrize("key", ["chk_wrong", "x" * 9000, "", "\u00e9t\u00e9", "null"])
def test_unknown_api_keys_are_401(secured: SecuredHub, key: str) -> None:
    refused(secured, [("X-API-Key", key.encode("utf-8"))])  # type: ignore[list-item]


def test_a_revoked_looking_key_with_a_valid_prefix_is_401(secured: SecuredHub) -> None:
    refused(secured, [("X-API-Key", secured.keys["operator"][:-1] + "A")])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hmac_token(claims: dict[str, Any], secret: bytes) -> str:
    """The algorithm-confusion attack: HS256 keyed with the hub's public key."""
    signing = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "pem-1"}).encode()) + "." \
        + _b64(json.dumps(claims).encode())
    mac = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{_b64(mac)}"


def passes(response: httpx.Response) -> bool:
    """Authenticated and allowed (the tenant may hold nothing yet: 404 NonexistentTenant)."""
    return response.status_code in (200, 404) and "Forbidden" not in response.text


def _forged_tokens(hub: SecuredHub) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": "mallory", "role": "admin", "tenant": "*", "iss": ISSUER,
              "aud": AUDIENCE, "exp": now + 300}
    stranger = ec.generate_private_key(ec.SECP256R1())
    good = hub.token()
    head, body, signature = good.split(".")
    other_body = jwt.encode(claims, stranger, algorithm="ES256").split(".")[1]
    pem = hub.signers["pem-1"].public_key()
    public_pem = pem.public_bytes(serialization.Encoding.PEM,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "expired": hub.token(expires_in=-3600),
        "other key": jwt.encode(claims, stranger, algorithm="ES256",
                                headers={"kid": "pem-1"}),
        "unknown kid": jwt.encode(claims, stranger, algorithm="ES256",
                                  headers={"kid": "nope"}),
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "hmac with the public key": _hmac_token(claims, public_pem),
        "tampered signature": f"{head}.{body}.{signature[::-1]}",
        "swapped payload": f"{head}.{other_body}.{signature}",
        "wrong issuer": hub.token(iss="https://evil.example"),
        "wrong audience": hub.token(aud="someone-else"),
        "no expiry": jwt.encode({k: v for k, v in claims.items() if k != "exp"},
                                hub.signers["pem-1"], algorithm="ES256",
                                headers={"kid": "pem-1"}),
        "unknown role": hub.token(role="superuser"),
        "tenant not a string": hub.token(tenant=7),
        "garbage": "not.a.jwt",
    }


def test_bad_expired_and_forged_tokens_are_401(secured: SecuredHub) -> None:
    for name, token in _forged_tokens(secured).items():
        response = get(secured, [("Authorization", f"Bearer {token}")])
        assert response.status_code == 401, (name, response.text)
        assert_problem(response, 401)


def test_a_token_for_another_role_gets_only_that_role(secured: SecuredHub) -> None:
    token = secured.token(role="public")
    response = get(secured, [("Authorization", f"Bearer {token}")])
    assert_problem(response, 403)


@pytest.mark.parametrize("headers", [
    [("Authorization", "Basic dXNlcjpwYXNz")],
    [("Authorization", "Bearer")],
    [("Authorization", "ApiKey")],
    [("Authorization", "x" * 7000)],
])
def test_other_schemes_and_empty_credentials_are_401(secured: SecuredHub,
                                                     headers: list[tuple[str, str]]) -> None:
    refused(secured, headers)


def test_two_credentials_are_refused(secured: SecuredHub) -> None:
    key = secured.keys["operator"]
    refused(secured, [("X-API-Key", key), ("Authorization", f"Bearer {secured.token()}")])
    refused(secured, [("X-API-Key", key), ("X-API-Key", secured.keys["public"])], 400)
    refused(secured, [("Authorization", f"ApiKey {key}"), ("Authorization", "ApiKey x")], 400)


def test_an_invalid_tenant_header_is_400(secured: SecuredHub) -> None:
    response = httpx.get(secured.url + "/ngsi-ld/v1" + PATH, headers={
        "X-API-Key": secured.keys["operator"], "NGSILD-Tenant": "../city-b"})
    assert_problem(response, 400, "BadRequestData")
