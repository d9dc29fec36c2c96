"""The OpenAPI 3.1 description of the hub's routes, served at GET /openapi.json.

One table (`OPERATIONS`) names each operation: path, method, summary, query parameters,
request body and success statuses. `tests/api/test_openapi.py` checks that every route of the
app is in the table and every described path is a route, so the description cannot rot.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cityhub import __version__
from cityhub.api.http import json_response
from cityhub.ngsild.context import CORE_CONTEXT_URL

NGSI = "/ngsi-ld/v1"
HUB = "/cityhub/v1"
CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"

STRING = {"type": "string"}
FLAG = {"type": "string", "enum": ["true", "false"]}
INTEGER_TEXT = {"type": "string", "pattern": "^[0-9]{1,6}$"}

#: query parameters, by name (each route lists the ones it takes)
PARAMETERS: dict[str, dict[str, Any]] = {
    "id": STRING, "idPattern": STRING, "type": STRING, "q": STRING, "georel": STRING,
    "geometry": STRING, "coordinates": STRING, "geoproperty": STRING, "scopeQ": STRING,
    "limit": INTEGER_TEXT, "offset": INTEGER_TEXT, "count": FLAG, "attrs": STRING,
    "pick": STRING, "omit": STRING, "lang": STRING, "options": STRING, "format": STRING,
    "geometryProperty": STRING, "datasetId": STRING, "deleteAll": FLAG, "details": FLAG,
    "kind": {"type": "string", "enum": ["Hosted", "Cached", "ImplicitlyCreated"]},
    "reload": FLAG, "timerel": {"type": "string", "enum": ["before", "after", "between"]},
    "timeAt": STRING, "endTimeAt": STRING, "timeproperty": STRING, "lastN": INTEGER_TEXT,
    "aggrMethods": STRING, "aggrPeriodDuration": STRING, "cellDegrees": STRING,
    "attr": STRING, "tenant": STRING, "subject": STRING, "action": STRING, "since": STRING,
    "until": STRING,
}
QUERY = ("id", "idPattern", "type", "q", "georel", "geometry", "coordinates", "geoproperty",
         "scopeQ", "limit", "offset", "count")
PROJECTION = ("attrs", "pick", "omit", "lang", "options", "format", "geometryProperty")
TEMPORAL = ("timerel", "timeAt", "endTimeAt", "timeproperty", "lastN", "aggrMethods",
            "aggrPeriodDuration")

SCHEMAS: dict[str, Any] = {
    "ProblemDetails": {
        "type": "object", "required": ["type", "title", "detail"],
        "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                       "detail": {"type": "string"}},
    },
    "Attribute": {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": ["Property", "GeoProperty", "Relationship",
                                                "LanguageProperty", "ListProperty",
                                                "ListRelationship", "JsonProperty",
                                                "VocabProperty"]},
            "observedAt": {"type": "string", "format": "date-time"},
            "unitCode": {"type": "string", "maxLength": 16},
            "datasetId": {"type": "string", "pattern": "^urn:[a-z0-9]+:[^\\s]+$"},
        },
    },
    "Entity": {
        "type": "object", "required": ["id", "type"],
        "properties": {
            "id": {"type": "string", "pattern": "^urn:ngsi-ld:[A-Za-z0-9]+:[A-Za-z0-9:_-]+$"},
            "type": {"oneOf": [{"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]{0,63}$"},
                               {"type": "array", "minItems": 1, "items": {
                                   "type": "string",
                                   "pattern": "^[A-Za-z][A-Za-z0-9_]{0,63}$"}}]},
            "scope": {"type": "array", "items": {"type": "string",
                                                 "pattern": "^(/[A-Za-z0-9_-]+)+$"}},
        },
        "additionalProperties": {"$ref": "#/components/schemas/Attribute"},
    },
    "EntityFragment": {"type": "object",
                       "additionalProperties": {"$ref": "#/components/schemas/Attribute"}},
    "Entities": {"type": "array", "items": {"$ref": "#/components/schemas/Entity"}},
    "EntityIds": {"type": "array", "items": {"type": "string"}},
    "Subscription": {
        "type": "object", "required": ["type", "notification"],
        "properties": {
            "type": {"const": "Subscription"},
            "entities": {"type": "array", "items": {"type": "object"}},
            "watchedAttributes": {"type": "array", "items": {"type": "string"}},
            "q": {"type": "string"},
            "notification": {"type": "object", "required": ["endpoint"], "properties": {
                "endpoint": {"type": "object", "required": ["uri"], "properties": {
                    "uri": {"type": "string"}, "accept": {"type": "string"}}}}},
        },
    },
    "Query": {"type": "object", "required": ["type"],
              "properties": {"type": {"const": "Query"},
                             "entities": {"type": "array", "items": {"type": "object"}},
                             "q": {"type": "string"}, "attrs": {"type": "array"}}},
    "Object": {"type": "object"},
    "Any": {},
}


def op(summary: str, *, query: tuple[str, ...] = (), body: str | None = None,
       success: tuple[int, ...] = (200,)) -> dict[str, Any]:
    return {"summary": summary, "query": query, "body": body, "success": success}


OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {
    "/openapi.json": {"get": op("This description")},
    "/version": {"get": op("The hub's name, version and store")},
    NGSI + "/entities": {
        "post": op("6.4.3.1 Create Entity", body="Entity", success=(201,)),
        "get": op("6.4.3.2 Query Entities", query=(*QUERY, *PROJECTION)),
        "delete": op("Purge entities by type, id or idPattern", query=QUERY, success=(204,)),
    },
    NGSI + "/entities/{entity_id}/attrs/{attr}": {
        "patch": op("6.7.3.1 Partial Attribute Update", body="Attribute", success=(204,)),
        "delete": op("6.7.3.2 Delete Entity Attribute", query=("datasetId", "deleteAll"),
                     success=(204,)),
    },
    NGSI + "/entities/{entity_id}/attrs": {
        "post": op("6.6.3.1 Append Entity Attributes", query=("options",),
                   body="EntityFragment", success=(204, 207)),
        "patch": op("6.6.3.2 Update Entity Attributes", body="EntityFragment",
                    success=(204, 207)),
    },
    NGSI + "/entities/{entity_id}": {
        "get": op("6.5.3.1 Retrieve Entity", query=(*PROJECTION, "type")),
        "delete": op("6.5.3.2 Delete Entity", query=("type",), success=(204,)),
        "put": op("6.5.3.3 Replace Entity", body="EntityFragment", success=(204,)),
        "patch": op("6.5.3.4 Merge Entity", body="EntityFragment", success=(204,)),
    },
    NGSI + "/entityOperations/create": {
        "post": op("6.14 Batch Create", body="Entities", success=(201, 207))},
    NGSI + "/entityOperations/upsert": {
        "post": op("6.15 Batch Upsert", query=("options",), body="Entities",
                   success=(201, 204, 207))},
    NGSI + "/entityOperations/update": {
        "post": op("6.16 Batch Update", query=("options",), body="Entities",
                   success=(204, 207))},
    NGSI + "/entityOperations/delete": {
        "post": op("6.17 Batch Delete", body="EntityIds", success=(204, 207))},
    NGSI + "/entityOperations/query": {
        "post": op("6.23 Query Entities (body)",
                   query=("limit", "offset", "count", "options", "format", "lang",
                          "geometryProperty"), body="Query")},
    NGSI + "/types": {"get": op("6.25 Retrieve Available Entity Types", query=("details",))},
    NGSI + "/types/{type}": {"get": op("6.26 Details of an Entity Type")},
    NGSI + "/attributes": {"get": op("6.27 Retrieve Available Attributes",
                                     query=("details",))},
    NGSI + "/attributes/{attr}": {"get": op("6.28 Details of an Attribute")},
    NGSI + "/jsonldContexts": {
        "get": op("6.29.3.1 List @contexts", query=("details", "kind")),
        "post": op("6.29.3.2 Add an @context", body="Object", success=(201,)),
    },
    NGSI + "/jsonldContexts/{context_id}": {
        "get": op("6.30.3.1 Serve an @context", query=("details",)),
        "delete": op("6.30.3.2 Delete an @context", query=("reload",), success=(204,)),
    },
    NGSI + "/subscriptions": {
        "post": op("6.10.3.1 Create Subscription", body="Subscription", success=(201,)),
        "get": op("6.10.3.2 Query Subscriptions", query=("limit", "offset", "count", "options")),
    },
    NGSI + "/subscriptions/{subscription_id}": {
        "get": op("6.11.3.1 Retrieve Subscription", query=("options",)),
        "patch": op("6.11.3.2 Update Subscription", body="Object", success=(204,)),
        "delete": op("6.11.3.3 Delete Subscription", success=(204,)),
    },
    NGSI + "/temporal/entities": {
        "get": op("6.18.3.2 Query Temporal Evolution of Entities",
                  query=(*QUERY, "attrs", "options", "lang", *TEMPORAL)),
        "post": op("6.18.3.1 Create or Update Temporal Representation", body="Entity",
                   success=(201, 204)),
    },
    NGSI + "/temporal/entities/{entity_id}/attrs/{attr}/{instance_id}": {
        "patch": op("6.22.3.1 Modify Attribute Instance", body="Attribute", success=(204,)),
        "delete": op("6.22.3.2 Delete Attribute Instance", success=(204,)),
    },
    NGSI + "/temporal/entities/{entity_id}/attrs/{attr}": {
        "delete": op("6.21.3.1 Delete Temporal Attribute", query=("datasetId", "deleteAll"),
                     success=(204,))},
    NGSI + "/temporal/entities/{entity_id}/attrs": {
        "post": op("6.20.3.1 Add Temporal Attributes", body="EntityFragment", success=(204,))},
    NGSI + "/temporal/entities/{entity_id}": {
        "get": op("6.19.3.1 Retrieve Temporal Evolution of an Entity",
                  query=("attrs", "options", "lang", *TEMPORAL, "type")),
        "delete": op("6.19.3.2 Delete Temporal Representation", query=("type",),
                     success=(204,)),
    },
    NGSI + "/temporal/entityOperations/query": {
        "post": op("6.24.3.1 Query Temporal Evolution (body)",
                   query=("limit", "offset", "count", "options", "lang", "lastN",
                          "aggrMethods", "aggrPeriodDuration"), body="Query")},
    HUB + "/devices": {
        "post": op("Provision devices", body="Any", success=(201,)),
        "get": op("List devices", query=("limit", "offset")),
    },
    HUB + "/devices/{device_id}": {
        "get": op("Read a device"),
        "delete": op("Remove a device", success=(204,)),
    },
    HUB + "/ingest": {"post": op("Bulk ingest", body="Any", success=(200, 207))},
    HUB + "/ingest/rejections": {"get": op("Rejected records", query=("limit", "offset"))},
    HUB + "/ingest/sources": {"get": op("Per-source ingest counters")},
    HUB + "/public/entities": {"get": op("Public view of entities",
                                         query=("type", "limit", "offset", "cellDegrees"))},
    HUB + "/public/counts": {"get": op("k-anonymous counts per cell",
                                       query=("type", "attr", "cellDegrees"))},
    HUB + "/live": {"get": op("Live entity changes (text/event-stream)",
                              query=("type", "attrs", "q"))},
    HUB + "/live/{stream}": {"post": op("A live stream's notification receiver",
                                        body="Object", success=(204,))},
    HUB + "/audit": {"get": op("The audit log (admins)",
                               query=("tenant", "subject", "action", "since", "until",
                                      "limit", "offset"))},
    HUB + "/catalogue": {"get": op("The DCAT-AP catalogue of published datasets")},
    HUB + "/catalogue/usage": {"get": op("Usage counters (admins)", query=("tenant",))},
    HUB + "/catalogue/{tenant}/{type}/export.{fmt}": {"get": op("Bulk export of a dataset")},
}
#: routes that are not part of the API: the dashboard's files
NOT_API = ("/", "/app", "/vendor/maplibre-gl")

HEADERS = [
    {"name": "NGSILD-Tenant", "in": "header", "required": False,
     "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"}},
]
LINK = {"name": "Link", "in": "header", "required": False,
        "description": "the request's JSON-LD @context; any http(s) URL the operator allows "
                       "works, this description lists the core context the hub ships",
        "schema": {"type": "string", "enum": [
            f'<{CORE_CONTEXT_URL}>; rel="{CONTEXT_REL}"; type="application/ld+json"']}}
PROBLEM = {"content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/ProblemDetails"}}}}
ERROR_STATUSES = ("400", "401", "403", "404", "405", "406", "409", "413", "414", "415", "422",
                  "429", "501", "503")


def _operation(path: str, method: str, spec: dict[str, Any]) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string",
                                                                  "minLength": 1}}
        for name in _path_names(path)]
    parameters += [{"name": name, "in": "query", "required": False,
                    "schema": PARAMETERS[name]} for name in spec["query"]]
    if path.startswith(NGSI):
        parameters += [*HEADERS, LINK]
    elif path.startswith(HUB):
        parameters += HEADERS
    responses: dict[str, Any] = {}
    for status in spec["success"]:
        responses[str(status)] = {"description": "success"}
    for status in ERROR_STATUSES:
        responses[status] = {"description": "ProblemDetails", **PROBLEM}
    operation: dict[str, Any] = {"summary": spec["summary"],
                                 "operationId": f"{method} {path}",
                                 "parameters": parameters, "responses": responses}
    if spec["body"] is not None:
        schema = {"$ref": f"#/components/schemas/{spec['body']}"}
        operation["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": schema}}}
    return operation


def _path_names(path: str) -> list[str]:
    return [part.split("}")[0] for part in path.split("{")[1:]]


def document() -> dict[str, Any]:
    """The OpenAPI document of the hub."""
    paths = {path: {method: _operation(path, method, spec) for method, spec in methods.items()}
             for path, methods in OPERATIONS.items()}
    return {
        "openapi": "3.1.0",
        "info": {"title": "CityHub", "version": __version__,
                 "description": "NGSI-LD (ETSI GS CIM 009) under /ngsi-ld/v1 and the hub's "
                                "service routes under /cityhub/v1; errors are ProblemDetails."},
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }


_DOCUMENT = document()


async def serve(request: Request) -> Response:
    return json_response(_DOCUMENT)
