"""The auth file: tenants (and their open-data types), roles, hashed API keys, JWT keys.

JSON, written by `cityhub admin` (docs/security.md). API keys are stored as SHA-256 hashes of
the key (keys are 256-bit random, so a plain hash is as strong as a slow one); the key itself
is shown once, when made. The default tenant (no NGSILD-Tenant header) is `@default`.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityhub.ngsild.errors import BadRequestData
from cityhub.security.policy import (
    DEFAULT_ROLES,
    DEFAULT_TENANT_NAME,
    OPERATIONS,
    Grant,
    Role,
    short_name,
)

KEY_PREFIX = "chk_"
#: personal attributes hidden from roles without `personal` (with ingest.privacy's names)
DEFAULT_PERSONAL = frozenset({
    "macAddress", "mac", "macAddresses", "bluetoothAddress", "wifiAddress", "vehiclePlate",
    "vehiclePlateIdentifier", "licensePlate", "licencePlate", "plate", "plateNumber", "imsi",
    "imei", "phoneNumber", "personId", "wearerId", "name", "email", "address", "birthDate",
})


def tenant_key(tenant: str) -> str:
    """The name of the request tenant `tenant` in the auth file."""
    return tenant or DEFAULT_TENANT_NAME


def tenant_of_key(name: str) -> str:
    return "" if name == DEFAULT_TENANT_NAME else name


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    sha256: str
    role: str
    tenants: frozenset[str]
    rate: float | None = None
    burst: float | None = None


@dataclass(frozen=True, slots=True)
class JwtConfig:
    keys: tuple[Any, ...] = ()
    jwks_file: str | None = None
    algorithms: tuple[str, ...] = ("RS256", "ES256", "PS256", "EdDSA")
    issuer: str | None = None
    audience: str | None = None
    tenant_claim: str = "tenant"
    role_claim: str = "role"
    leeway_s: float = 30.0


@dataclass(slots=True)
class AuthConfig:
    roles: dict[str, Role] = field(default_factory=lambda: dict(DEFAULT_ROLES))
    #: tenant -> its open-data entity types (short names)
    open_data: dict[str, frozenset[str]] = field(default_factory=dict)
    keys: dict[str, ApiKey] = field(default_factory=dict)  # by hash
    jwt: JwtConfig | None = None
    personal: frozenset[str] = DEFAULT_PERSONAL
    rate_per_s: float = 50.0
    burst: float = 100.0
    anonymous_rate_per_s: float = 10.0

    def open_types(self, tenant: str) -> frozenset[str]:
        return self.open_data.get(tenant, frozenset())

    @classmethod
    def from_document(cls, doc: Any, base: Path | None = None) -> AuthConfig:
        if not isinstance(doc, dict):
            raise BadRequestData("the auth file must hold a JSON object")
        config = cls()
        for name, spec in (doc.get("roles") or {}).items():
            config.roles[name] = parse_role(name, spec)
        for name, spec in (doc.get("tenants") or {}).items():
            types = (spec or {}).get("open_data", [])
            config.open_data[tenant_of_key(name)] = frozenset(short_name(t) for t in types)
        for spec in doc.get("keys") or []:
            key = ApiKey(str(spec["id"]), str(spec["sha256"]), str(spec["role"]),
                         frozenset(tenant_of_key(t) if t != "*" else t
                                   for t in spec.get("tenants", [])),
                         spec.get("rate"), spec.get("burst"))
            if key.role not in config.roles:
                raise BadRequestData(f"key {key.id!r} has the unknown role {key.role!r}")
            config.keys[key.sha256] = key
        if doc.get("personal_attributes") is not None:
            config.personal = frozenset(doc["personal_attributes"])
        rate = doc.get("rate") or {}
        config.rate_per_s = float(rate.get("per_second", config.rate_per_s))
        config.burst = float(rate.get("burst", config.burst))
        config.anonymous_rate_per_s = float(rate.get("anonymous_per_second",
                                                     config.anonymous_rate_per_s))
        if doc.get("jwt"):
            config.jwt = parse_jwt(doc["jwt"], base)
        return config

    @classmethod
    def load(cls, path: str) -> AuthConfig:
        try:
            doc = json.loads(Path(path).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise BadRequestData(f"cannot read the auth file {path}: {exc}") from None
        try:
            return cls.from_document(doc, Path(path).parent)
        except (KeyError, TypeError, ValueError) as exc:
            raise BadRequestData(f"the auth file {path} is not valid: {exc!r}"[:300]) from None


def parse_role(name: str, spec: Any) -> Role:
    if not isinstance(spec, dict):
        raise BadRequestData(f"role {name!r} must be an object")
    grants = {op: Grant.parse(spec.get(op, [])) for op in OPERATIONS}
    return Role(name, grants["read"], grants["write"], grants["subscribe"],
                bool(spec.get("personal", False)), bool(spec.get("admin", False)))


def parse_jwt(spec: dict[str, Any], base: Path | None) -> JwtConfig:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    keys = []
    for item in spec.get("public_keys", []):
        pem = Path(item) if not item.lstrip().startswith("-----") else None
        if pem is not None and base is not None and not pem.is_absolute():
            pem = base / pem
        keys.append(load_pem_public_key(pem.read_bytes() if pem else item.encode()))
    jwks = spec.get("jwks_file")
    if jwks and base is not None and not os.path.isabs(jwks):
        jwks = str(base / jwks)
    algorithms = tuple(spec.get("algorithms", JwtConfig.algorithms))
    if any(a.upper().startswith("HS") or a.lower() == "none" for a in algorithms):
        raise BadRequestData("JWTs must be signed with a public-key algorithm (RS, PS, ES, EdDSA)")
    return JwtConfig(tuple(keys), jwks, algorithms, spec.get("issuer"), spec.get("audience"),
                     spec.get("tenant_claim", "tenant"), spec.get("role_claim", "role"),
                     float(spec.get("leeway_s", 30.0)))


# -- the file as the admin CLI edits it ---------------------------------------------------------
def read_document(path: str) -> dict[str, Any]:
    if not os.path.exists(path):
        return {"tenants": {}, "roles": {}, "keys": []}
    return json.loads(Path(path).read_text("utf-8"))  # type: ignore[no-any-return]


def write_document(path: str, doc: dict[str, Any]) -> None:
    """Replace the file atomically, readable by its owner only (it holds key hashes)."""
    AuthConfig.from_document(doc, Path(path).parent)  # refuse to write what cannot be loaded
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(doc, out, indent=2, sort_keys=True)
        out.write("\n")
    os.replace(tmp, path)


def add_key(doc: dict[str, Any], key_id: str, role: str, tenants: Iterable[str],
            rate: float | None = None) -> str:
    """Add an API key to `doc`; return the key (shown once, never stored)."""
    if any(k["id"] == key_id for k in doc.setdefault("keys", [])):
        raise BadRequestData(f"there is already a key {key_id!r}")
    key = new_key()
    entry: dict[str, Any] = {"id": key_id, "sha256": hash_key(key), "role": role,
                             "tenants": sorted(tenants)}
    if rate is not None:
        entry["rate"] = rate
    doc["keys"].append(entry)
    return key
