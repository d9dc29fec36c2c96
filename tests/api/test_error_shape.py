"""One ProblemDetails shape for every error path, and the one table from error type to status.

Each case names a request that fails in a known way; the test pins the status, the error type
URI, the `title` and `detail` members, the content type, and that no stack trace leaks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from .support import assert_problem, closed_port_url, ld_json, link_header

ETSI = "https://uri.etsi.org/ngsi-ld/errors/"
CITYHUB = "https://cityhub.dev/errors/"
X1 = "urn:ngsi-ld:X:1"
BOMB = "urn:ngsi-ld:Bomb:" + "a" * 2000 + "!"
UNREACHABLE = closed_port_url()


@dataclass(frozen=True)
class Case:
    status: int
    type: str
    method: str
    path: str
    request: dict[str, Any] = field(default_factory=dict)
    #: write X1 (and a regex bomb) first, so the tenant exists
    seed: bool = True
    #: send to the hub with the small body limit
    small_hub: bool = False


def raw(body: bytes, content_type: str = "application/json") -> dict[str, Any]:
    return {"content": body, "headers": {"Content-Type": content_type}}


CASES: dict[str, Case] = {
    # 400
    "malformed JSON": Case(400, ETSI + "InvalidRequest", "POST", "/entities", raw(b"{nope")),
    "empty body": Case(400, ETSI + "InvalidRequest", "POST", "/entities", raw(b"")),
    "too deeply nested JSON": Case(400, ETSI + "InvalidRequest", "POST", "/entities",
                                   raw(b"[" * 5000 + b"]" * 5000)),
    "entity not an object": Case(400, ETSI + "BadRequestData", "POST", "/entities",
                                 {"json": [1, 2]}),
    "invalid entity id": Case(400, ETSI + "BadRequestData", "POST", "/entities",
                              {"json": {"id": "not a uri", "type": "X"}}),
    "unknown attribute type": Case(400, ETSI + "BadRequestData", "POST", "/entities",
                                   {"json": {"id": "urn:ngsi-ld:X:2", "type": "X",
                                             "a": {"type": "Number", "value": 1}}}),
    "invalid geometry": Case(400, ETSI + "BadRequestData", "POST", "/entities", {"json": {
        "id": "urn:ngsi-ld:X:2", "type": "X",
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [0, 200]}}}}),
    "unknown query parameter": Case(400, ETSI + "BadRequestData", "GET", "/entities?type=X&x=1"),
    "repeated query parameter": Case(400, ETSI + "BadRequestData", "GET",
                                     "/entities?type=X&type=Y"),
    "query without filter": Case(400, ETSI + "BadRequestData", "GET", "/entities"),
    "bad q": Case(400, ETSI + "BadRequestData", "GET", "/entities?q=a>>1"),
    "bad type expression": Case(400, ETSI + "BadRequestData", "GET", "/entities?type=(X"),
    "bad geo-query": Case(400, ETSI + "BadRequestData", "GET",
                          "/entities?type=X&georel=near&geometry=Point&coordinates=[0,0]"),
    "bad scopeQ": Case(400, ETSI + "BadRequestData", "GET", "/entities?scopeQ=nope"),
    "bad idPattern": Case(400, ETSI + "BadRequestData", "GET", "/entities?idPattern=["),
    "invalid attrs name": Case(400, ETSI + "BadRequestData", "GET", "/entities?attrs=a'b"),
    "bad limit": Case(400, ETSI + "BadRequestData", "GET", "/entities?type=X&limit=x"),
    "conflicting options": Case(400, ETSI + "BadRequestData", "GET",
                                f"/entities/{X1}?options=keyValues,concise"),
    "id in body differs": Case(400, ETSI + "BadRequestData", "PUT", f"/entities/{X1}",
                               {"json": {"id": "urn:ngsi-ld:X:2", "type": "X"}}),
    "ld+json without @context": Case(400, ETSI + "BadRequestData", "POST", "/entities",
                                     ld_json({"id": "urn:ngsi-ld:X:2", "type": "X"})),
    "@context in a JSON body": Case(400, ETSI + "BadRequestData", "POST", "/entities", {
        "json": {"@context": "https://x.org/c", "id": "urn:ngsi-ld:X:2", "type": "X"}}),
    "Link header without the context rel": Case(400, ETSI + "BadRequestData", "GET",
                                                 "/entities?type=X",
                                                 {"headers": {"Link": "<https://x.org/c>"}}),
    "malformed tenant": Case(400, ETSI + "BadRequestData", "GET", "/types",
                             {"headers": {"NGSILD-Tenant": "no spaces allowed"}}),
    "batch not an array": Case(400, ETSI + "BadRequestData", "POST",
                               "/entityOperations/upsert", {"json": {"id": X1}}),
    "bad Query": Case(400, ETSI + "BadRequestData", "POST", "/entityOperations/query",
                      {"json": {"type": "Query"}}),
    "not a context to host": Case(400, ETSI + "BadRequestData", "POST", "/jsonldContexts",
                                  {"json": {"x": 1}}),
    "deleting the core context": Case(
        400, ETSI + "BadRequestData", "DELETE",
        "/jsonldContexts/https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"),
    # 403
    "limit over 1000": Case(403, ETSI + "TooManyResults", "GET", "/entities?type=X&limit=1001"),
    "regular-expression bomb": Case(403, ETSI + "TooComplexQuery", "GET",
                                    "/entities?idPattern=(a%2B)%2B$"),
    # 404
    "no such entity": Case(404, ETSI + "ResourceNotFound", "GET", "/entities/urn:ngsi-ld:X:404"),
    "no such attribute": Case(404, ETSI + "ResourceNotFound", "DELETE",
                              f"/entities/{X1}/attrs/nothing"),
    "no such type": Case(404, ETSI + "ResourceNotFound", "GET", "/types/Nothing"),
    "no such attribute name": Case(404, ETSI + "ResourceNotFound", "GET", "/attributes/nothing"),
    "no such context": Case(404, ETSI + "ResourceNotFound", "GET", "/jsonldContexts/nothing"),
    "no such route": Case(404, ETSI + "ResourceNotFound", "GET", "/subscriptionz"),
    "unknown tenant": Case(404, ETSI + "NonexistentTenant", "GET", "/entities?type=X",
                           seed=False),
    # 405
    "method not allowed": Case(405, CITYHUB + "MethodNotAllowed", "PUT", "/entities"),
    "method not allowed on a batch": Case(405, CITYHUB + "MethodNotAllowed", "GET",
                                          "/entityOperations/upsert"),
    # 406
    "unsupported Accept": Case(406, CITYHUB + "NotAcceptable", "GET", f"/entities/{X1}",
                               {"headers": {"Accept": "text/html"}}),
    "geo+json for types": Case(406, CITYHUB + "NotAcceptable", "GET", "/types",
                               {"headers": {"Accept": "application/geo+json"}}),
    # 409
    "entity exists": Case(409, ETSI + "AlreadyExists", "POST", "/entities",
                          {"json": {"id": X1, "type": "X"}}),
    # 413
    "body over the limit": Case(413, CITYHUB + "PayloadTooLarge", "POST", "/entities", {
        "json": {"id": "urn:ngsi-ld:X:2", "type": "X", "a": "x" * 100_000}}, small_hub=True),
    # 415
    "wrong Content-Type": Case(415, CITYHUB + "UnsupportedMediaType", "POST", "/entities",
                               raw(b'{"id": "urn:ngsi-ld:X:2", "type": "X"}', "text/plain")),
    "no Content-Type": Case(415, CITYHUB + "UnsupportedMediaType", "PATCH",
                            f"/entities/{X1}/attrs", {"content": b'{"a": 1}'}),
    # 501
    "known but unsupported parameter": Case(501, CITYHUB + "NotImplemented", "GET",
                                            "/entities?type=X&csf=x"),
    # 503
    "unreachable Link context": Case(503, ETSI + "LdContextNotAvailable", "GET",
                                     "/entities?type=X",
                                     {"headers": {"Link": link_header(UNREACHABLE)}}),
    "unreachable inline context": Case(
        503, ETSI + "LdContextNotAvailable", "POST", "/entities",
        ld_json({"@context": UNREACHABLE, "id": "urn:ngsi-ld:X:2", "type": "X"})),
}

#: the one table from error type to HTTP status
STATUS_OF_TYPE = {
    ETSI + "InvalidRequest": 400,
    ETSI + "BadRequestData": 400,
    ETSI + "TooManyResults": 403,
    ETSI + "TooComplexQuery": 403,
    ETSI + "ResourceNotFound": 404,
    ETSI + "NonexistentTenant": 404,
    CITYHUB + "MethodNotAllowed": 405,
    CITYHUB + "NotAcceptable": 406,
    ETSI + "AlreadyExists": 409,
    CITYHUB + "PayloadTooLarge": 413,
    CITYHUB + "UnsupportedMediaType": 415,
    CITYHUB + "NotImplemented": 501,
    ETSI + "LdContextNotAvailable": 503,
}


def test_the_cases_cover_the_status_table() -> None:
    assert {case.status for case in CASES.values()} == {400, 403, 404, 405, 406, 409, 413, 415,
                                                        501, 503}
    for case in CASES.values():
        assert STATUS_OF_TYPE[case.type] == case.status


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_problem_details_shape(request: pytest.FixtureRequest, case: Case) -> None:
    client = request.getfixturevalue("small_api" if case.small_hub else "api")
    if case.seed:
        client.create({"id": X1, "type": "X", "a": 1})
        client.create({"id": BOMB, "type": "Bomb"})
    before = client.snapshot()
    response = client.request(case.method, case.path, **case.request)
    body = assert_problem(response, case.status)
    assert body["type"] == case.type, body
    assert set(body) <= {"type", "title", "detail", "status", "instance", "maxLimit"}, body
    assert len(body["detail"]) < 2000
    if case.status in (503,):
        assert int(response.headers["retry-after"]) > 0
    if case.status == 405:
        assert response.headers["allow"]
    assert json.loads(response.content) == body  # a plain JSON document, nothing around it
    assert client.snapshot() == before
