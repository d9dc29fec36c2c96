"""Roles, principals and the access decision: may this caller do this operation on these
entity types of this tenant? Pure: no I/O, no HTTP.

A role grants three operations (read, write, subscribe), each on every entity type (`*`), on
the tenant's open-data types (`open`), or on a set of types named by their short name (the
last segment of the type IRI). A role also says whether it sees personal attributes and
whether it administers its tenants (audit log). Anonymous callers have the `public` role:
they read the open-data types of a tenant and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from cityhub.security.errors import Forbidden, Unauthenticated

Operation = Literal["read", "write", "subscribe", "admin"]
OPERATIONS: tuple[Operation, ...] = ("read", "write", "subscribe")
ALL = "*"
OPEN = "open"
#: how the default tenant (no NGSILD-Tenant header) is written in the auth file
DEFAULT_TENANT_NAME = "@default"


def short_name(type_name: str) -> str:
    """The short name of a type term or IRI: the part after the last '/', '#' or ':'."""
    for separator in ("/", "#", ":"):
        type_name = type_name.rsplit(separator, 1)[-1]
    return type_name


@dataclass(frozen=True, slots=True)
class Grant:
    """The entity types one operation is allowed on."""

    every: bool = False
    open_data: bool = False
    types: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, spec: str | Iterable[str]) -> Grant:
        items = [spec] if isinstance(spec, str) else list(spec)
        every = ALL in items
        open_data = OPEN in items
        return cls(every, open_data, frozenset(short_name(i) for i in items
                                               if i not in (ALL, OPEN)))

    def allows(self, types: frozenset[str] | None, open_types: frozenset[str]) -> bool:
        """`types` None means "any type" (a query naming none, discovery): needs `*`; an
        empty set means "some type" (an entity not found, a subscription by id): needs a
        grant on any type."""
        if self.every:
            return True
        if types is None:
            return False
        if not types:
            return self.open_data or bool(self.types)
        allowed = self.types | (open_types if self.open_data else frozenset())
        return {short_name(t) for t in types} <= allowed

    def names(self) -> list[str]:
        return ([ALL] if self.every else []) + ([OPEN] if self.open_data else []) + sorted(
            self.types)


NOTHING = Grant()


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    read: Grant = NOTHING
    write: Grant = NOTHING
    subscribe: Grant = NOTHING
    #: sees personal attributes (their reads are audited); others get them hidden
    personal: bool = False
    #: reads the audit log of its tenants
    admin: bool = False

    def grant(self, operation: Operation) -> Grant:
        if operation == "admin":
            return Grant(every=self.admin)
        return getattr(self, operation)  # type: ignore[no-any-return]


def _role(name: str, read: object = (), write: object = (), subscribe: object = (),
          personal: bool = False, admin: bool = False) -> Role:
    return Role(name, Grant.parse(read), Grant.parse(write),  # type: ignore[arg-type]
                Grant.parse(subscribe), personal, admin)  # type: ignore[arg-type]


_SAFETY = ("Alert", "Incident", "EmergencyIncident", "Dispatch", "Evacuation")
#: the built-in roles; an auth file may redefine them or add its own
DEFAULT_ROLES: dict[str, Role] = {role.name: role for role in (
    _role("admin", ALL, ALL, ALL, personal=True, admin=True),
    _role("operator", ALL, ALL, ALL, personal=True),
    _role("police", ALL, _SAFETY, ALL, personal=True),
    _role("fire", ALL, _SAFETY, ALL, personal=True),
    _role("guardian", ("Alert", "Device", "DeviceMeasurement", OPEN), (),
          ("Alert", "Device", "DeviceMeasurement"), personal=True),
    _role("partner", ALL, (), ALL),
    _role("public", OPEN),
)}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request is: `subject` (key id or JWT subject; what the audit log names), the
    tenants it belongs to (`*`: every tenant) and its role."""

    subject: str
    role: Role
    tenants: frozenset[str] = field(default_factory=frozenset)
    #: the rate limit of this caller: requests per second and burst (None: the default)
    rate: float | None = None
    burst: float | None = None

    def in_tenant(self, tenant: str) -> bool:
        return ALL in self.tenants or tenant in self.tenants


def authorise(principal: Principal | None, tenant: str, operation: Operation,
              types: frozenset[str] | None, open_types: frozenset[str],
              public: Role = DEFAULT_ROLES["public"]) -> Principal | None:
    """Raise Unauthenticated (anonymous caller, not allowed) or Forbidden (known caller, not
    allowed) unless `principal` may do `operation` on `types` (None: any) of `tenant`."""
    if principal is None:
        if operation != "admin" and public.grant(operation).allows(types, open_types):
            return None
        raise Unauthenticated("this request needs credentials (X-API-Key or a bearer token)")
    if not principal.in_tenant(tenant):
        raise Forbidden("these credentials are not valid for this tenant")
    if not principal.role.grant(operation).allows(types, open_types):
        what = "any type" if types is None else ", ".join(sorted(types))[:200]
        raise Forbidden(f"role {principal.role.name!r} may not {operation} {what}")
    return principal
