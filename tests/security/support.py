"""The secured hub of the security tests: an auth file with one API key per role in tenant
`city-a`, an operator in `city-b`, an admin of every tenant, a slow key, and two JWT signing
keys (a PEM public key and a JWKS file); helpers to make tokens and clients."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cityhub.security.config import add_key

NGSI_LD = "/ngsi-ld/v1"
TENANT_A = "city-a"
TENANT_B = "city-b"
ROLES = ("admin", "operator", "police", "fire", "guardian", "partner", "public")
ISSUER = "https://id.example.city"
AUDIENCE = "cityhub"
PEM_KID = "pem-1"
JWKS_KID = "jwks-1"


@dataclass
class SecuredHub:
    url: str
    auth_file: Path
    audit_file: Path
    #: key id -> API key
    keys: dict[str, str]
    #: kid -> private key
    signers: dict[str, Any] = field(default_factory=dict)

    def client(self, key: str | None = None, tenant: str | None = TENANT_A,
               **headers: str) -> httpx.Client:
        sent = dict(headers)
        if key is not None:
            sent["X-API-Key"] = self.keys[key]
        if tenant is not None:
            sent["NGSILD-Tenant"] = tenant
        return httpx.Client(base_url=self.url + NGSI_LD, headers=sent, timeout=30)

    def token(self, *, role: str = "operator", tenant: Any = TENANT_A, kid: str = PEM_KID,
              expires_in: float = 300, **claims: Any) -> str:
        body = {"sub": "user-1", "role": role, "tenant": tenant, "iss": ISSUER,
                "aud": AUDIENCE, "exp": int(time.time() + expires_in), **claims}
        return jwt.encode(body, self.signers[kid], algorithm="ES256", headers={"kid": kid})


def _public_pem(key: Any) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def write_auth_file(directory: Path, anonymous_rate: float = 1000
                    ) -> tuple[Path, dict[str, str], dict[str, Any]]:
    pem_key = ec.generate_private_key(ec.SECP256R1())
    jwks_key = ec.generate_private_key(ec.SECP256R1())
    (directory / "jwt.pem").write_bytes(_public_pem(pem_key))
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(jwks_key.public_key()))
    jwk.update(kid=JWKS_KID, use="sig", alg="ES256")
    (directory / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    doc: dict[str, Any] = {
        "tenants": {TENANT_A: {"open_data": ["AirQualityObserved"]},
                    TENANT_B: {"open_data": ["AirQualityObserved"]}},
        "keys": [],
        "rate": {"per_second": 1000, "burst": 1000, "anonymous_per_second": anonymous_rate},
        "jwt": {"public_keys": ["jwt.pem"], "jwks_file": "jwks.json", "issuer": ISSUER,
                "audience": AUDIENCE, "algorithms": ["ES256"]},
    }
    keys = {role: add_key(doc, role, role, [TENANT_A]) for role in ROLES}
    keys["operator-b"] = add_key(doc, "operator-b", "operator", [TENANT_B])
    keys["root"] = add_key(doc, "root", "admin", ["*"])
    keys["slow"] = add_key(doc, "slow", "operator", [TENANT_A], rate=0.2)
    doc["keys"][-1]["burst"] = 2
    path = directory / "auth.json"
    path.write_text(json.dumps(doc))
    return path, keys, {PEM_KID: pem_key, JWKS_KID: jwks_key}


@contextmanager
def secured_hub(directory: Path, dsn: str | None = None, hub: Any = None,
                anonymous_rate: float = 1000, **settings: Any) -> Iterator[SecuredHub]:
    from cityhub.settings import Settings
    from conftest import serve_hub

    auth, keys, signers = write_auth_file(directory, anonymous_rate)
    audit = directory / "audit.jsonl"
    options = Settings(db=dsn or f"sqlite:///{directory / 'hub.db'}", auth_file=str(auth),
                       audit_file=str(audit), **settings)
    with serve_hub(options, hub) as url:
        yield SecuredHub(url, auth, audit, keys, signers)


def entity(kind: str, name: str, **attrs: Any) -> dict[str, Any]:
    document: dict[str, Any] = {"id": f"urn:ngsi-ld:{kind}:{name}", "type": kind}
    for key, value in attrs.items():
        document[key] = {"type": "Property", "value": value}
    return document
