"""Who a request is: an API key (`X-API-Key: KEY` or `Authorization: ApiKey KEY`) or an OAuth2
bearer JWT (`Authorization: Bearer TOKEN`) verified offline against the configured public keys
or JWKS file. No credentials: anonymous (None). Bad credentials: Unauthenticated, never a
detail that tells which part was wrong, and never the credential itself."""

from __future__ import annotations

from typing import Any

import jwt

from cityhub.security.config import AuthConfig, hash_key, tenant_of_key
from cityhub.security.errors import Unauthenticated
from cityhub.security.policy import ALL, Principal

MAX_CREDENTIAL = 8192


class Authenticator:
    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self._jwks: dict[str | None, Any] = {}
        if config.jwt is not None and config.jwt.jwks_file:
            try:
                with open(config.jwt.jwks_file, encoding="utf-8") as source:
                    keyset = jwt.PyJWKSet.from_json(source.read())
            except (OSError, jwt.PyJWKSetError, ValueError) as exc:
                from cityhub.ngsild.errors import BadRequestData

                raise BadRequestData(f"cannot load the JWKS file: {exc}"[:300]) from None
            self._jwks = {k.key_id: k for k in keyset.keys}

    def principal(self, api_key: str | None, authorization: str | None) -> Principal | None:
        if api_key is None and authorization is None:
            return None
        if api_key is not None and authorization is not None:
            raise Unauthenticated("give one credential: X-API-Key or Authorization")
        if authorization is not None:
            scheme, _, value = authorization.strip().partition(" ")
            value = value.strip()
            if scheme.lower() == "apikey":
                api_key = value
            elif scheme.lower() == "bearer":
                return self._bearer(value)
            else:
                raise Unauthenticated("the Authorization scheme must be Bearer or ApiKey")
        assert api_key is not None
        return self._api_key(api_key.strip())

    def _api_key(self, key: str) -> Principal:
        if not key or len(key) > MAX_CREDENTIAL:
            raise Unauthenticated("the API key is not valid")
        found = self.config.keys.get(hash_key(key))
        if found is None:
            raise Unauthenticated("the API key is not valid")
        return Principal(found.id, self.config.roles[found.role], found.tenants,
                         found.rate, found.burst)

    def _bearer(self, token: str) -> Principal:
        settings = self.config.jwt
        if settings is None or not token or len(token) > MAX_CREDENTIAL:
            raise Unauthenticated("bearer tokens are not accepted here")
        try:
            header = jwt.get_unverified_header(token)
            candidates = self._keys_for(header.get("kid"))
            claims = None
            for key in candidates:
                try:
                    claims = jwt.decode(
                        token, key, algorithms=list(settings.algorithms),
                        audience=settings.audience, issuer=settings.issuer,
                        leeway=settings.leeway_s,
                        options={"require": ["exp", "sub"], "verify_aud": bool(
                            settings.audience)})
                    break
                except (jwt.InvalidSignatureError, jwt.InvalidKeyError, ValueError,
                        TypeError):
                    continue  # not this key (or not a key of this algorithm's kind)
        except jwt.PyJWTError:
            raise Unauthenticated("the bearer token is not valid") from None
        if claims is None:
            raise Unauthenticated("the bearer token is not valid")
        role = self.config.roles.get(str(claims.get(settings.role_claim, "")))
        tenants = claims.get(settings.tenant_claim)
        if isinstance(tenants, str):
            tenants = [tenants]
        if role is None or not isinstance(tenants, list) or not all(
                isinstance(t, str) for t in tenants):
            raise Unauthenticated("the bearer token names no known role and tenants")
        return Principal("jwt:" + str(claims["sub"])[:200], role,
                         frozenset(t if t == ALL else tenant_of_key(t) for t in tenants))

    def _keys_for(self, kid: Any) -> list[Any]:
        if self._jwks:
            if kid in self._jwks:
                return [self._jwks[kid].key]
            if kid is not None:
                return list(self.config.jwt.keys) if self.config.jwt else []
            return [k.key for k in self._jwks.values()] + list(
                self.config.jwt.keys if self.config.jwt else ())
        return list(self.config.jwt.keys) if self.config.jwt else []
