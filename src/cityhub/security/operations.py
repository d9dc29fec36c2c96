"""What a request does, from its method and path alone: the operation it needs (read, write,
subscribe, admin, or none), where the entity types it touches are found, and whether its answer
holds entities (whose personal attributes some roles must not see). Pure: no I/O.

Routes under /ngsi-ld/ and /cityhub/ that are not listed here need read (GET) or write
(other methods) on every type: a new route is closed until it is classified. Other paths (the
dashboard's static files, /version) are open to GET.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from cityhub.security.policy import Operation

#: where the entity types of a request are: the `type` query parameter, the body (one entity,
#: a list of entities, a list of ids, a query, a subscription), the entity of the path, one
#: type of the path, some type (any grant), or any type (a grant on `*`)
TypeSource = Literal["query", "entity", "entities", "ids", "batch_query", "subscription",
                     "path_entity", "path_type", "some", "any"]


@dataclass(frozen=True, slots=True)
class Action:
    operation: Operation | None  # None: open to anyone
    types: TypeSource = "any"
    entity_id: str | None = None
    type_name: str | None = None
    #: the answer holds entities (normal form, concise, keyValues, GeoJSON or temporal)
    entity_answer: bool = False
    #: the request changes data or a subscription: audited
    audited: bool = False
    #: the body is also checked for a `type` (PUT /entities/{id}, PATCH merge)
    body_type: bool = False
    #: a stream of changes the hub cannot filter: roles that may not see personal attributes
    #: must list the attributes they want (`attrs`)
    needs_attrs: bool = False
    #: the tenant the path names, as in the auth file (`@default`), instead of the header's
    tenant: str | None = None


OPEN = Action(None)
_NGSI = "/ngsi-ld/v1"
_ENTITY = re.compile(r"^/(temporal/)?entities/(.+?)(/attrs(/[^/]+(/[^/]+)?)?)?$")
_GET = ("GET", "HEAD")
_EXPORT = re.compile(r"^/cityhub/v1/catalogue/([^/]+)/([^/]+)/export\.[^/]+$")


def _data(method: str, **kwargs: object) -> Action:
    if method in _GET:
        return Action("read", **kwargs)  # type: ignore[arg-type]
    return Action("write", audited=True, **kwargs)  # type: ignore[arg-type]


def classify(method: str, path: str) -> Action:
    if path.startswith(_NGSI + "/"):
        return _ngsi_ld(method, path[len(_NGSI):])
    if path.startswith("/cityhub/"):
        if path.startswith("/cityhub/v1/public/") and method in _GET:
            return OPEN
        if path == "/cityhub/v1/audit":
            return Action("admin")
        if path.startswith("/cityhub/v1/catalogue") and method in _GET:
            return _catalogue(path)
        if path == "/cityhub/v1/live" and method in _GET:  # the dashboard's change stream
            return Action("read", "query", needs_attrs=True)
        if path.startswith("/cityhub/v1/live/") and method == "POST":
            return OPEN  # the hub's own receiver: it accepts only open streams' random ids
        return _data(method)
    if path.startswith("/ngsi-ld/") or method not in _GET:
        return _data(method)
    return OPEN


def _catalogue(path: str) -> Action:
    """The open-data catalogue (api.opendata): public metadata; an export reads its type in
    the tenant of its path; the usage counters are for admins."""
    if path == "/cityhub/v1/catalogue/usage":
        return Action("admin")
    match = _EXPORT.match(path)
    if match:
        return Action("read", "path_type", type_name=match.group(2), tenant=match.group(1))
    return OPEN


def _ngsi_ld(method: str, path: str) -> Action:
    read = method in _GET
    if path in ("/entities", "/temporal/entities"):
        if method == "POST":
            return Action("write", "entity", audited=True)
        return _data(method, types="query", entity_answer=read)
    match = _ENTITY.match(path)
    if match:
        whole = match.group(3) is None and match.group(1) is None
        return _data(method, types="path_entity", entity_id=match.group(2),
                     entity_answer=read and match.group(3) is None,
                     body_type=whole and method in ("PUT", "PATCH"))
    if path.startswith("/entityOperations/") or path.startswith("/temporal/entityOperations/"):
        name = path.rsplit("/", 1)[-1]
        if name == "query":
            return Action("read", "batch_query", entity_answer=True)
        if name == "delete":
            return Action("write", "ids", audited=True)
        return Action("write", "entities", audited=True)
    if path == "/subscriptions":
        if method == "POST":
            return Action("subscribe", "subscription", audited=True)
        return Action("subscribe", "some")
    if path.startswith("/subscriptions/"):
        if method == "PATCH":
            return Action("subscribe", "subscription", audited=True)
        return Action("subscribe", "some", audited=not read)
    if path.startswith("/types/"):
        return _data(method, types="path_type", type_name=path[len("/types/"):])
    if path in ("/types", "/attributes") or path.startswith("/attributes/"):
        return _data(method)
    if path.startswith("/jsonldContexts") and read:
        return OPEN
    return _data(method)
