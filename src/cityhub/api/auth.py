"""Access control as one plain ASGI layer, and the admin route of the audit log.

`AccessControl` sits inside `CatchAll`. For each HTTP request it answers CORS pre-flights,
refuses oversized query strings (414) and bodies (413), and, when an auth file is configured,
authenticates the caller (`security.identity`), takes a token from its rate-limit bucket (429
with Retry-After), classifies the request (`security.operations`), finds the entity types it
touches (from the query, the body, or the stored entity through the hub), decides
(`security.policy.authorise`: 401 / 403), hides personal attributes from the answer of roles
that may not see them, and appends the audit record. With no auth file (open mode) only the
limits and CORS apply. Errors are ProblemDetails; credentials are never logged.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityhub.api.errors import problem_response
from cityhub.api.http import check_params, json_response, route
from cityhub.broker.entities import check_tenant
from cityhub.ngsild.errors import BadRequestData, InvalidRequest, NgsiLdError, PayloadTooLarge
from cityhub.security.audit import AuditLog, AuditQuery
from cityhub.security.config import AuthConfig, tenant_key, tenant_of_key
from cityhub.security.errors import Forbidden, TooManyRequests, Unauthenticated, UriTooLong
from cityhub.security.identity import Authenticator
from cityhub.security.limits import RateLimiter, retry_after
from cityhub.security.operations import Action, classify
from cityhub.security.policy import ALL, DEFAULT_ROLES, Principal, Role, authorise, short_name
from cityhub.settings import Settings

log = logging.getLogger("cityhub.security")

_TYPE_SPLIT = re.compile(r"[,;|()\s]+")
_NAME_SPLIT = re.compile(r"[^A-Za-z0-9_:/#.\-]+")
#: headers a request may carry once only (a second one could be read differently by layers)
_SINGLE = (b"x-api-key", b"authorization", b"ngsild-tenant", b"content-length", b"link")
_CORS_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
_CORS_HEADERS = ("Accept, Authorization, Content-Type, Link, NGSILD-Tenant, X-API-Key, "
                 "If-Match")
_CORS_EXPOSE = "Link, Location, NGSILD-Tenant, NGSILD-Results-Count, Retry-After"
RELOAD_CHECK_S = 1.0
#: type sources found in the body, and those whose body may name personal attributes
_BODY_TYPES = frozenset({"entity", "entities", "ids", "batch_query", "subscription"})
_BODY_NAMES = frozenset({"batch_query", "subscription"})


class AccessState:
    """What the access layer knows: the auth configuration (reloaded when its file changes),
    the audit log and the rate-limit buckets. One per app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config: AuthConfig | None = None
        self.authenticator: Authenticator | None = None
        self.limiter = RateLimiter()
        #: the open-data usage counters (opendata.usage.UsageMeter), set by api.opendata
        self.usage: Any = None
        self._mtime = 0.0
        self._checked = 0.0
        if settings.auth_file:
            self._load()
        audit = settings.audit_file
        if audit is None and settings.auth_file:
            audit = os.path.join(os.path.dirname(os.path.abspath(settings.auth_file)),
                                 "cityhub-audit.jsonl")
        try:
            self.audit = AuditLog(audit) if audit else None
        except OSError as exc:
            raise BadRequestData(f"cannot open the audit log {audit}: {exc.strerror}") from None

    @property
    def enforced(self) -> bool:
        return self.config is not None

    def _load(self) -> None:
        path = self.settings.auth_file
        assert path is not None
        config = AuthConfig.load(path)
        self.authenticator = Authenticator(config)
        self.config = config
        self._mtime = os.stat(path).st_mtime

    def refresh(self) -> None:
        """Reload the auth file when it changed (`cityhub admin` edits it); a file that no
        longer loads keeps the previous configuration, and says so."""
        now = time.monotonic()
        if self.settings.auth_file is None or now - self._checked < RELOAD_CHECK_S:
            return
        self._checked = now
        try:
            if os.stat(self.settings.auth_file).st_mtime != self._mtime:
                self._load()
                log.info("auth file reloaded")
        except (OSError, NgsiLdError) as exc:
            log.error("auth file not reloaded, keeping the previous one: %s",
                      getattr(exc, "detail", exc))


def _headers(scope: Scope) -> dict[bytes, bytes]:
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in found and name in _SINGLE:
            raise InvalidRequest(f"the {name.decode()} header may be given once only")
        found[name] = value
    return found


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def type_names(text: str | None) -> frozenset[str] | None:
    if text is None:
        return None
    return frozenset(short_name(n) for n in _TYPE_SPLIT.split(text) if n)


def _types_of(item: Any) -> set[str]:
    if not isinstance(item, dict):
        return set()
    value = item.get("type")
    values = value if isinstance(value, list) else [value]
    return {short_name(v) for v in values if isinstance(v, str)}


def _entity_types(stored: Iterable[Any]) -> set[str]:
    names: set[str] = set()
    for found in stored:
        names |= _types_of(found.entity)
    return names


def names_in(text: str | None) -> set[str]:
    """The attribute-like names of a q, attrs or pick expression."""
    if not text:
        return set()
    return {short_name(n) for n in _NAME_SPLIT.split(text) if n}


class AccessControl:
    def __init__(self, app: ASGIApp, state: AccessState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = self.state.settings
        try:
            headers = _headers(scope)
        except NgsiLdError as exc:
            await problem_response(exc)(scope, receive, send)
            return
        origin = _text(headers.get(b"origin"))
        cors = self._cors(origin)
        if cors and scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            await Response(status_code=204, headers={
                **cors, "Access-Control-Allow-Methods": _CORS_METHODS,
                "Access-Control-Allow-Headers": _CORS_HEADERS,
                "Access-Control-Max-Age": "600"})(scope, receive, send)
            return
        if cors:
            send = _with_headers(send, cors)
        try:
            if len(scope["query_string"]) > settings.max_query_bytes:
                raise UriTooLong(f"the query string is longer than {settings.max_query_bytes} "
                                 "bytes")
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and (
                    int(declared) > settings.max_body_bytes):
                raise PayloadTooLarge(f"the body is larger than {settings.max_body_bytes} bytes")
            if not self.state.enforced:
                if self.state.usage is not None:  # counts reads of published types
                    send = self.state.usage.metered(
                        scope, send, _text(headers.get(b"ngsild-tenant")) or "", None)
                await self.app(scope, receive, send)
                return
            await self._enforced(scope, receive, send, headers)
        except TooManyRequests as exc:
            await problem_response(exc, {"Retry-After": str(exc.retry_after)})(
                scope, receive, send)
        except Unauthenticated as exc:
            await problem_response(exc, {"WWW-Authenticate": 'Bearer, ApiKey'})(
                scope, receive, send)
        except NgsiLdError as exc:
            await problem_response(exc)(scope, receive, send)

    def _cors(self, origin: str | None) -> dict[str, str]:
        allowed = self.state.settings.cors_origins
        if origin is None or not allowed:
            return {}
        if ALL in allowed:
            return {"Access-Control-Allow-Origin": "*",
                    "Access-Control-Expose-Headers": _CORS_EXPOSE}
        if origin in allowed:
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
                    "Access-Control-Expose-Headers": _CORS_EXPOSE}
        return {}

    async def _enforced(self, scope: Scope, receive: Receive, send: Send,
                        headers: dict[bytes, bytes]) -> None:
        state = self.state
        state.refresh()
        config, authenticator = state.config, state.authenticator
        assert config is not None and authenticator is not None
        client = scope.get("client")
        address = client[0] if client else "unknown"
        try:
            principal = authenticator.principal(_text(headers.get(b"x-api-key")),
                                                _text(headers.get(b"authorization")))
        except Unauthenticated:  # failed attempts count against the address: no brute force
            wait = state.limiter.take("anon:" + address, config.anonymous_rate_per_s,
                                      config.anonymous_rate_per_s * 2)
            if wait > 0:
                raise TooManyRequests("too many requests from this address",
                                      retry_after(wait)) from None
            raise
        if principal is None:
            who, rate, burst = "anon:" + address, config.anonymous_rate_per_s, \
                config.anonymous_rate_per_s * 2
        else:
            who = "key:" + principal.subject
            rate = principal.rate if principal.rate is not None else config.rate_per_s
            burst = principal.burst if principal.burst is not None else max(config.burst, rate)
        action = classify(scope["method"], scope["path"])
        if action.operation is None:  # open routes (static files, /version) are not limited
            await self.app(scope, receive, send)
            return
        wait = state.limiter.take(who, rate, burst)
        if wait > 0:
            raise TooManyRequests("the rate limit of these credentials is used up",
                                  retry_after(wait))
        tenant = check_tenant(tenant_of_key(action.tenant) if action.tenant is not None
                              else _text(headers.get(b"ngsild-tenant")))
        public = config.roles.get("public", DEFAULT_ROLES["public"])
        role = principal.role if principal is not None else public
        scope["cityhub.principal"] = principal
        if action.operation == "admin":  # the audit log: any admin, filtered to its tenants
            if principal is None:
                raise Unauthenticated("the audit log needs an admin's credentials")
            if not principal.role.admin:
                raise Forbidden(f"role {principal.role.name!r} may not read the audit log")
            await self.app(scope, receive, send)
            return
        body: Any = None
        every = role.grant(action.operation).every
        if (action.types in _BODY_TYPES or action.body_type) and (
                not every or (not role.personal and action.types in _BODY_NAMES)):
            raw = await _read_all(receive, state.settings.max_body_bytes)
            receive = _replay(raw)
            try:
                body = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                body = None  # the route answers the syntax error
        request = Request(scope, receive)
        if every:
            types = None  # allowed on every type: nothing to look up
        else:
            types = await self._types(action, request, tenant, body)
        try:
            authorise(principal, tenant, action.operation, types, config.open_types(tenant),
                      public)
            if not role.personal:
                await self._refuse_personal_names(action, request, body, config.personal)
        except Forbidden:  # a known caller's refused change is audited too
            if action.audited and state.audit is not None and principal is not None:
                state.audit.record(subject=principal.subject, role=role.name,
                                   tenant=tenant_key(tenant), action=str(action.operation),
                                   method=scope["method"], what=scope["path"], status=403,
                                   client=address)
            raise
        if state.audit is not None and (action.audited or (
                action.entity_answer and role.personal)):
            audit, query = state.audit, scope["query_string"].decode("latin-1")

            def record(status: int, personal: bool) -> None:
                scope["cityhub.recorded"] = True
                if action.audited or personal:
                    audit.record(
                        subject=principal.subject if principal else "anonymous",
                        role=role.name, tenant=tenant_key(tenant),
                        action="personal-read" if not action.audited else str(
                            action.operation),
                        method=scope["method"],
                        what=scope["path"] + ("?" + query if query else ""),
                        status=status, client=address)

            send = _recording(send, record)
        else:
            record = None
        if state.usage is not None and action.entity_answer:  # counts reads of open types
            send = state.usage.metered(scope, send, tenant,
                                       principal.subject if principal else None)
        if action.entity_answer and scope["method"] != "HEAD":
            send = _FilteredAnswer(send, role, config.personal, request).send
        try:
            await self.app(scope, receive, send)
        except Exception:
            if record is not None and not scope.get("cityhub.recorded"):
                record(500, False)
            raise

    async def _types(self, action: Action, request: Request, tenant: str, body: Any
                     ) -> frozenset[str] | None:
        kind = action.types
        if kind == "any":
            return None
        if kind == "some":
            return frozenset()
        if kind == "query":
            return type_names(request.query_params.get("type"))
        if kind == "path_type":
            return frozenset({short_name(action.type_name or "")})
        if kind == "batch_query" or kind == "subscription":
            entities = body.get("entities") if isinstance(body, dict) else None
            if not isinstance(entities, list) or not entities:
                return frozenset() if request.method == "PATCH" else None
            return frozenset(set().union(*(_types_of(e) for e in entities)))
        if kind == "entity":
            return frozenset(_types_of(body))
        hub = request.app.state.hub
        ids: list[str] = []
        names: set[str] = set()
        if kind == "path_entity":
            ids = [action.entity_id or ""]
            if action.body_type:
                names |= _types_of(body)
        elif kind == "ids":
            ids = [i for i in body if isinstance(i, str)] if isinstance(body, list) else []
        elif kind == "entities":
            items = body if isinstance(body, list) else []
            for item in items:  # the types given, and those of the entities stored
                names |= _types_of(item)
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    ids.append(item["id"])
        if ids:
            stored = await hub.store.get(tenant, ids[:10_000])
            names |= _entity_types(stored.values())
        return frozenset(names)

    async def _refuse_personal_names(self, action: Action, request: Request, body: Any,
                                     personal: frozenset[str]) -> None:
        """A role that may not see personal attributes may not filter, pick or subscribe to
        them either (a query on a hidden attribute would reveal its values)."""
        used: set[str] = set()
        params = request.query_params
        if action.needs_attrs and not params.get("attrs"):
            raise Forbidden("this role must list the attributes it wants (attrs): personal "
                            "ones are hidden")
        for name in ("q", "attrs", "pick", "watchedAttributes"):
            used |= names_in(params.get(name))
        if isinstance(body, dict):
            for name in ("q", "attrs", "pick", "watchedAttributes"):
                value = body.get(name)
                used |= names_in(",".join(value) if isinstance(value, list) else
                                 value if isinstance(value, str) else None)
            notification = body.get("notification")
            if action.types == "subscription":
                listed = notification.get("attributes") if isinstance(notification, dict) \
                    else None
                if (request.method == "POST" or notification is not None) and not listed:
                    raise Forbidden("this role must list the notified attributes "
                                    "(notification.attributes): personal ones are hidden")
                if isinstance(listed, list):
                    used |= {short_name(a) for a in listed if isinstance(a, str)}
        if not used:
            return
        terms = await _terms_of(request, body)
        hidden = {name for name in used if _is_personal(name, personal, terms)}
        if hidden:
            raise Forbidden("this role may not use the personal attributes "
                            f"{', '.join(sorted(hidden))[:200]}")


class _FilteredAnswer:
    """Buffers an entity answer and removes the personal attributes a role may not see;
    for roles that may, notes whether the answer held any (a personal-data read)."""

    def __init__(self, send: Send, role: Role, personal: frozenset[str],
                 request: Request) -> None:
        self._send = send
        self._role = role
        self._personal = personal
        self._request = request
        self._start: Message | None = None
        self._chunks = bytearray()
        self.saw_personal = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            if message["status"] != 200:
                await self._send(message)
                return
            self._start = message
            return
        if self._start is None:
            await self._send(message)
            return
        self._chunks.extend(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = bytes(self._chunks)
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            document = None
        if document is not None:
            terms = await self._terms()
            found = strip_personal(document, self._personal, terms, remove=not self._role.personal)
            if found:
                self.saw_personal = True
                if not self._role.personal:
                    body = orjson.dumps(document)
        start = dict(self._start)
        start["headers"] = [(k, v) for k, v in start.get("headers", [])
                            if k.lower() != b"content-length"]
        start["headers"].append((b"content-length", str(len(body)).encode()))
        if self.saw_personal:
            start["cityhub.personal"] = True
        await self._send(start)
        await self._send({"type": "http.response.body", "body": body})

    async def _terms(self) -> Any:
        return await _terms_of(self._request, None)


async def _terms_of(request: Request, body: Any) -> Any:
    """The term map of the request's @context (Link header or, for a JSON-LD body, inline);
    None when it cannot be had (the route answers that error)."""
    from cityhub.api.http import request_context

    hub = request.app.state.hub
    try:
        if isinstance(body, dict) and "@context" in body:
            return await hub.contexts.for_inline(body["@context"])
        return (await request_context(request)).terms
    except NgsiLdError:
        return None


def _is_personal(key: str, personal: frozenset[str], terms: Any) -> bool:
    if short_name(key) in personal:
        return True
    if terms is None:
        return False
    try:
        return short_name(terms.expand(key)) in personal
    except Exception:  # a key no term maps: only its own name counts
        return False


def strip_personal(document: Any, personal: frozenset[str], terms: Any, *, remove: bool) -> bool:
    """Remove (or only find) personal attributes in entities, lists of them and GeoJSON."""
    found = False
    if isinstance(document, list):
        for item in document:
            found |= strip_personal(item, personal, terms, remove=remove)
        return found
    if not isinstance(document, dict):
        return False
    if document.get("type") == "FeatureCollection":
        return strip_personal(document.get("features"), personal, terms, remove=remove)
    if document.get("type") == "Feature":
        return strip_personal(document.get("properties"), personal, terms, remove=remove)
    for key in [k for k in document if k not in ("id", "type", "@context")]:
        if _is_personal(key, personal, terms):
            found = True
            if remove:
                del document[key]
    return found


def _recording(send: Send, record: Any) -> Send:
    """A `send` that writes the audit record as the answer starts (before the client can
    see it), with its status and whether it held personal data."""

    async def recording(message: Message) -> None:
        if message["type"] == "http.response.start":
            personal = bool(message.pop("cityhub.personal", False))
            record(message["status"], personal)
        await send(message)

    return recording


def _with_headers(send: Send, extra: dict[str, str]) -> Send:
    encoded = [(k.lower().encode(), v.encode()) for k, v in extra.items()]

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *encoded]}
        await send(message)

    return sending


async def _read_all(receive: Receive, limit: int) -> bytes:
    chunks = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.extend(message.get("body", b""))
        if len(chunks) > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        if not message.get("more_body", False):
            break
    return bytes(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


# -- GET /cityhub/v1/audit --------------------------------------------------------------------
async def list_audit(request: Request) -> Response:
    """The audit log, oldest first: admins of every tenant (`*`) see every record, other
    admins their tenants' records."""
    access: AccessState = request.app.state.access
    params = check_params(request, ("tenant", "subject", "action", "since", "until", "limit",
                                    "offset"))
    if access.audit is None:
        raise BadRequestData("this hub keeps no audit log (configure an auth file)")
    principal: Principal | None = request.scope.get("cityhub.principal")
    tenants: frozenset[str] | None = None
    if principal is not None and ALL not in principal.tenants:
        tenants = frozenset(tenant_key(t) for t in principal.tenants)
    if "tenant" in params:
        asked = frozenset({params["tenant"]})
        tenants = asked if tenants is None else asked & tenants
    try:
        limit = int(params.get("limit", "100"))
        offset = int(params.get("offset", "0"))
    except ValueError:
        raise BadRequestData("limit and offset must be integers") from None
    if not 0 < limit <= 1000 or offset < 0:
        raise BadRequestData("limit must be 1-1000 and offset not negative")
    records, count = access.audit.query(AuditQuery(
        tenants, params.get("subject"), params.get("action"), params.get("since"),
        params.get("until"), limit, offset))
    return json_response(records, headers={"NGSILD-Results-Count": str(count)})


routes = [route("/audit", get=list_audit)]
