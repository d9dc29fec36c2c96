"""Hostile input: every bad request is a 4xx ProblemDetails without a stack trace, and leaves the
stored data exactly as it was (snapshots of the tenant before and after). Nothing is a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .support import assert_problem, closed_port_url, ld_json, link_header, payload

AQ = "urn:ngsi-ld:AirQualityObserved:Sejong-Hansol-001"
LONG_ID = "urn:ngsi-ld:Bomb:" + "a" * 2000 + "!"
JSON_HEADERS = {"Content-Type": "application/json"}

#: every route that takes a body: (method, path)
BODY_ROUTES = [
    ("POST", "/entities"),
    ("PUT", f"/entities/{AQ}"),
    ("PATCH", f"/entities/{AQ}"),
    ("POST", f"/entities/{AQ}/attrs"),
    ("PATCH", f"/entities/{AQ}/attrs"),
    ("PATCH", f"/entities/{AQ}/attrs/pm25"),
    ("POST", "/entityOperations/create"),
    ("POST", "/entityOperations/upsert"),
    ("POST", "/entityOperations/update"),
    ("POST", "/entityOperations/delete"),
    ("POST", "/entityOperations/query"),
    ("POST", "/jsonldContexts"),
]
ENTITY_ROUTES = [route for route in BODY_ROUTES if "entityOperations" not in route[1]
                 and "jsonldContexts" not in route[1]]
BAD_ENTITIES = payload("bad_entities.json")


@pytest.fixture(scope="module")
def seeded_tenant(module_api) -> Any:
    """One tenant of real data for the whole module (written once: the tests only read it)."""
    module_api.create(payload("air_quality.json"))
    module_api.create_many(payload("city.json"))
    module_api.create({"id": LONG_ID, "type": "Bomb", "name": "a" * 2000 + "!"})
    return module_api


@pytest.fixture
def seeded(seeded_tenant) -> Iterator[Any]:
    """The module's tenant of real data; the test must leave it exactly as it found it."""
    before = seeded_tenant.snapshot()
    contexts = seeded_tenant.get("/jsonldContexts").json()
    yield seeded_tenant
    assert seeded_tenant.snapshot() == before, "a refused request changed stored data"
    assert seeded_tenant.get("/jsonldContexts").json() == contexts


def nested(depth: int, leaf: str = "1") -> bytes:
    return ('{"a":' * depth + leaf + "}" * depth).encode()


MALFORMED = {
    "empty": b"",
    "truncated": b'{"id": "urn:ngsi-ld:X:1", "type": ',
    "not json": b"{id: urn:ngsi-ld:X:1}",
    "single quotes": b"{'id': 'urn:ngsi-ld:X:1'}",
    "trailing garbage": b'{"id": "urn:ngsi-ld:X:1", "type": "X"} trailing',
    "two documents": b'{"id": "urn:ngsi-ld:X:1", "type": "X"}{"id": "urn:ngsi-ld:X:2"}',
    "nan": b'{"id": "urn:ngsi-ld:X:1", "type": "X", "a": NaN}',
    "infinity": b'{"id": "urn:ngsi-ld:X:1", "type": "X", "a": 1e999}',
    "not utf-8": b'{"id": "urn:ngsi-ld:X:\xff\xfe", "type": "X"}',
    "lone surrogate": b'{"id": "urn:ngsi-ld:X:\\ud800", "type": "X"}',
    "byte order mark": b'\xef\xbb\xbf{"id": "urn:ngsi-ld:X:1", "type": "X"}',
    "5000 nested arrays": b"[" * 5000 + b"]" * 5000,
    "5000 nested objects": nested(5000),
    "nul bytes": b"\x00" * 64,
}


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_malformed_json_is_400(seeded, method: str, path: str) -> None:
    for name, body in MALFORMED.items():
        response = seeded.request(method, path, content=body, headers=JSON_HEADERS)
        assert response.status_code == 400, (name, response.text[:300])
        assert_problem(response, 400)


@pytest.mark.parametrize("entity", BAD_ENTITIES.values(), ids=BAD_ENTITIES.keys())
def test_a_bad_entity_is_400(seeded, entity: Any) -> None:
    response = seeded.post("/entities", content=json.dumps(entity), headers=JSON_HEADERS)
    assert_problem(response, 400)


@pytest.mark.parametrize("operation", ["create", "upsert", "upsert?options=update", "update"])
def test_bad_entities_do_not_block_the_batch(api, operation: str) -> None:
    api.create({"id": "urn:ngsi-ld:Good:1", "type": "Good", "n": 1})
    good_id = "urn:ngsi-ld:Good:1" if operation == "update" else "urn:ngsi-ld:Good:2"
    good = {"id": good_id, "type": "Good", "n": 2}
    bad = list(BAD_ENTITIES.values())
    batch = [*bad[: len(bad) // 2], good, *bad[len(bad) // 2 :]]
    response = api.post(f"/entityOperations/{operation}", json=batch)
    assert response.status_code == 207, response.text
    result = response.json()
    assert result["success"] == [good_id]
    assert len(result["errors"]) == len(bad)
    for error in result["errors"]:
        assert error["error"]["type"] == "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"
        assert error["error"]["title"] and error["error"]["detail"]
    assert api.get(f"/entities/{good_id}?options=keyValues").json() == good
    stored = sorted(e["id"] for e in api.get("/entities?idPattern=.*").json())
    assert stored == sorted({"urn:ngsi-ld:Good:1", good_id})


@pytest.mark.parametrize(("name", "fragment"), [
    ("list", [1, 2]),
    ("string", "value"),
    ("unknown type", {"pm25": {"type": "Number", "value": 1}}),
    ("type an array", {"pm25": {"type": ["Property"], "value": 1}}),
    ("object not a URI", {"refDevice": {"type": "Relationship", "object": "nope"}}),
    ("bad geometry", {"location": {"type": "GeoProperty",
                                   "value": {"type": "Point", "coordinates": [0, 91]}}}),
    ("location as Property", {"location": {"type": "Property", "value": 1}}),
    ("bad name", {"pm 2.5": 1}),
    ("other id", {"id": "urn:ngsi-ld:Other:1", "pm25": 1}),
    ("id a number", {"id": 5, "pm25": 1}),
    ("bad observedAt", {"pm25": {"type": "Property", "value": 1, "observedAt": "now"}}),
    ("bad languageMap", {"name": {"type": "LanguageProperty", "languageMap": {"en": [1]}}}),
])
@pytest.mark.parametrize(("method", "path"), ENTITY_ROUTES[1:5])
def test_a_bad_fragment_is_400(seeded, method: str, path: str, name: str, fragment: Any
                               ) -> None:
    response = seeded.request(method, path, content=json.dumps(fragment), headers=JSON_HEADERS)
    assert_problem(response, 400)


@pytest.mark.parametrize(("method", "path"), [("PUT", f"/entities/{AQ}"),
                                              ("POST", f"/entities/{AQ}/attrs")])
def test_null_is_not_a_value_outside_merge_and_update(seeded, method: str, path: str) -> None:
    assert_problem(seeded.request(method, path, json={"type": "AirQualityObserved",
                                                      "pm25": None}), 400, "BadRequestData")


@pytest.mark.parametrize("fragment", [
    [1], "x", 5, None, {"type": "Relationship", "object": 1}, {"type": ["x"]}, {"value": None},
    {"type": "Property", "value": 1, "datasetId": 5}, {"observedAt": 5},
])
def test_a_bad_attribute_fragment_is_400(seeded, fragment: Any) -> None:
    response = seeded.patch(f"/entities/{AQ}/attrs/pm25", content=json.dumps(fragment),
                            headers=JSON_HEADERS)
    assert_problem(response, 400)


def test_odd_but_valid_values_are_stored_as_they_are(api) -> None:
    entity = {"id": "urn:ngsi-ld:Odd:1", "type": "Odd",
              "shape": {"value": {"type": ["Point"], "coordinates": "none"}},
              "tags": {"value": {"0": "a", "1": "b"}},
              "1": {"type": "Property", "value": 1}}
    response = api.post("/entities", json=entity)
    assert response.status_code == 201, response.text
    stored = api.get("/entities/urn:ngsi-ld:Odd:1?options=keyValues").json()
    assert stored["shape"] == {"type": ["Point"], "coordinates": "none"}
    assert stored["tags"] == {"0": "a", "1": "b"} and stored["1"] == 1


def test_values_nested_too_deep_are_400(seeded) -> None:
    deep: Any = 1
    for _ in range(40):
        deep = {"a": deep}
    response = seeded.post("/entities", json={"id": "urn:ngsi-ld:X:1", "type": "X", "a": deep})
    assert_problem(response, 400, "BadRequestData")
    deep_list: Any = 1
    for _ in range(40):
        deep_list = [deep_list]
    response = seeded.post(f"/entities/{AQ}/attrs", json={"a": {"type": "ListProperty",
                                                                "valueList": deep_list}})
    assert_problem(response, 400, "BadRequestData")


# -- the size limit ---------------------------------------------------------------------------
def test_a_body_over_the_limit_is_413(small_api, small_hub_max_body: int) -> None:
    small_api.create({"id": "urn:ngsi-ld:X:1", "type": "X", "a": 1})
    before = small_api.snapshot()
    big = {"id": "urn:ngsi-ld:X:2", "type": "X", "a": "x" * small_hub_max_body}
    response = small_api.post("/entities", json=big)
    assert_problem(response, 413)
    response = small_api.post("/entityOperations/upsert", json=[big])
    assert_problem(response, 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
        body = json.dumps(big).encode()
        for start in range(0, len(body), 4096):
            yield body[start:start + 4096]

    response = small_api.post("/entities", content=chunks(), headers=JSON_HEADERS)
    assert_problem(response, 413)
    assert small_api.snapshot() == before
    small = {"id": "urn:ngsi-ld:X:3", "type": "X", "a": "x" * (small_hub_max_body // 2)}
    assert small_api.post("/entities", json=small).status_code == 201


# -- invalid ids in paths ---------------------------------------------------------------------
BAD_PATH_IDS = ["not-a-uri", "urn:ngsi-ld:X:1%00", "'%20OR%201=1%20--",
                "%27%3B%20DROP%20TABLE%20entities%3B%20--", "urn:" + "a" * 3000 + "%20x",
                "%2e%2e/%2e%2e/etc/passwd", "urn:ngsi-ld:X:%091", "urn:ngsi-ld:X:%E2%80%A81"]


@pytest.mark.parametrize("entity_id", BAD_PATH_IDS)
def test_an_invalid_id_in_the_path_is_400(seeded, entity_id: str) -> None:
    for method, suffix, body in [
        ("GET", "", None), ("DELETE", "", None), ("PUT", "", {"type": "X"}),
        ("PATCH", "", {"a": 1}), ("POST", "/attrs", {"a": 1}), ("PATCH", "/attrs", {"a": 1}),
        ("PATCH", "/attrs/a", {"value": 1}), ("DELETE", "/attrs/a", None),
    ]:
        response = seeded.request(method, f"/entities/{entity_id}{suffix}", json=body)
        assert response.status_code == 400, (method, suffix, response.text[:300])
        assert_problem(response, 400, "BadRequestData")


def test_a_newline_in_the_path_is_4xx(seeded) -> None:
    # "." in the route patterns does not match a newline: no route, so 404 rather than 400
    for method in ("GET", "DELETE", "PATCH"):
        response = seeded.request(method, "/entities/urn:ngsi-ld:X:%0A1", json={"a": 1})
        assert_problem(response, 404)


@pytest.mark.parametrize("attr", ["a'%20OR%20'1'='1", "%00", "pm25%3BDROP%20TABLE%20x",
                                  "pm25)", "%20"])
@pytest.mark.parametrize(("method", "body"), [("PATCH", {"value": 1}), ("DELETE", None)])
def test_an_invalid_attribute_name_in_the_path_is_400(seeded, attr: str, method: str,
                                                      body: Any) -> None:
    response = seeded.request(method, f"/entities/{AQ}/attrs/{attr}", json=body)
    assert_problem(response, 400, "BadRequestData")


@pytest.mark.parametrize("path", ["/types/'%20OR%201=1%20--", "/attributes/x';%20--",
                                  "/types/%00", "/jsonldContexts/'%20OR%201=1"])
def test_injection_in_discovery_and_context_paths_is_4xx(seeded, path: str) -> None:
    assert_problem(seeded.get(path), 404, "ResourceNotFound")
    if path.startswith("/jsonldContexts"):
        assert_problem(seeded.delete(path), 404, "ResourceNotFound")


# -- injection and regular-expression bombs in query parameters ----------------------------------
INJECTIONS = [
    ({"q": "' OR 1=1 --"}, 400),
    ({"q": 'name=="x"; DROP TABLE entities; --'}, 400),
    ({"q": "name==x) OR (1==1"}, 400),
    ({"q": "speed>1;((((((((("}, 400),
    ({"q": "name~=[unclosed"}, 400),
    ({"q": "name~=(a+)+$"}, 403),
    ({"idPattern": "(a+)+$"}, 403),
    ({"idPattern": "(a|a)*$"}, 403),
    ({"idPattern": "(.*a){12}$"}, 403),
    ({"idPattern": "["}, 400),
    ({"idPattern": "(?P<x>"}, 400),
    ({"idPattern": "x" * 5000}, 400),
    ({"attrs": "' OR 1=1 --"}, 400),
    ({"attrs": "name;DROP TABLE entities"}, 400),
    ({"type": "' OR 1=1 --"}, 400),
    ({"type": '"; DROP TABLE entities; --'}, 400),
    ({"type": "Road)--"}, 400),
    ({"type": "Road", "georel": "near;maxDistance==10", "geometry": "Point",
      "coordinates": "[126.97,37.56]", "geoproperty": "' OR 1=1"}, 400),
    ({"type": "Road", "georel": "near;maxDistance==10", "geometry": "Point",
      "coordinates": "[126.97,37.56]", "geoproperty": "location;DROP TABLE entities"}, 400),
    ({"type": "Road", "georel": "near;maxDistance==10' OR '1'='1", "geometry": "Point",
      "coordinates": "[126.97,37.56]"}, 400),
    ({"type": "Road", "georel": "within", "geometry": "Polygon",
      "coordinates": "[[[0,0],[1,0],[1,1],[0,0]]]); DROP TABLE entities; --"}, 400),
    ({"scopeQ": "/'; DROP TABLE entities; --"}, 400),
    ({"id": "' OR 1=1 --"}, 400),
    ({"id": "urn:ngsi-ld:X:1,' OR 1=1 --"}, 400),
    ({"type": "Road", "pick": "' OR 1=1"}, 400),
    ({"type": "Road", "omit": "name;--"}, 400),
    ({"type": "Road", "limit": "1;DROP TABLE entities"}, 400),
    ({"type": "Road", "offset": "0 OR 1=1"}, 400),
]


@pytest.mark.parametrize(("params", "status"), INJECTIONS)
def test_injection_in_a_query_is_refused(seeded, params: dict[str, str], status: int) -> None:
    assert_problem(seeded.get("/entities", params=params), status)


@pytest.mark.parametrize(("params", "status"), [
    (dict(p, **({} if {"type", "id", "idPattern"} & set(p) else {"type": "Bomb"})), s)
    for p, s in INJECTIONS if not {"pick", "omit"} & set(p)])
def test_injection_in_a_purge_deletes_nothing(seeded, params: dict[str, str], status: int
                                              ) -> None:
    if "limit" in params or "offset" in params:
        status = 400  # not parameters of the purge
    assert_problem(seeded.delete("/entities", params=params), status)


@pytest.mark.parametrize("q", ["name==\"' OR '1'='1\"", "name==\"x'; DROP TABLE entities; --\"",
                               "name~=\"'.*\""])
def test_sql_in_a_quoted_string_is_only_a_string(seeded, q: str) -> None:
    assert seeded.get("/entities", params={"q": q}).json() == []
    response = seeded.delete("/entities", params={"type": "Road", "q": q})
    assert response.status_code == 204
    assert response.headers["ngsild-results-count"] == "0"


@pytest.mark.parametrize("body", [
    {"type": "Query", "entities": [{"idPattern": "(a+)+$"}]},
    {"type": "Query", "q": "' OR 1=1 --"},
    {"type": "Query", "entities": [{"type": "' OR 1=1 --"}]},
    {"type": "Query", "attrs": ["' OR 1=1 --"]},
    {"type": "Query", "entities": [{"type": "Road"}], "geoQ": {
        "georel": "near;maxDistance==10", "geometry": "Point", "coordinates": [0, 0],
        "geoproperty": "' OR 1=1"}},
])
def test_injection_in_a_batch_query_is_refused(seeded, body: dict[str, Any]) -> None:
    response = seeded.post("/entityOperations/query", json=body)
    assert 400 <= response.status_code < 500
    assert_problem(response, response.status_code)


# -- headers ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_a_wrong_content_type_is_415(seeded, method: str, path: str) -> None:
    body = json.dumps({"id": "urn:ngsi-ld:X:9", "type": "X", "a": 1}).encode()
    for content_type in (None, "text/plain", "application/xml", "multipart/form-data; boundary=x",
                         "application/x-www-form-urlencoded", "application/jsonx", "json"):
        headers = {"Content-Type": content_type} if content_type else {}
        response = seeded.request(method, path, content=body, headers=headers)
        assert response.status_code == 415, (content_type, response.text[:300])
        assert_problem(response, 415)


def test_json_content_type_parameters_are_accepted(api) -> None:
    response = api.post("/entities", content=b'{"id": "urn:ngsi-ld:X:1", "type": "X"}',
                        headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(("method", "path"), ENTITY_ROUTES)
def test_context_rules_of_the_body(seeded, method: str, path: str) -> None:
    fragment = {"pm25": {"type": "Property", "value": 1}} if "attrs/" not in path \
        else {"value": 1}
    # ld+json without @context
    assert_problem(seeded.request(method, path, **ld_json(fragment)), 400, "BadRequestData")
    # @context in a plain JSON body
    response = seeded.request(method, path, json={**fragment, "@context": "https://x.org/c"})
    assert_problem(response, 400, "BadRequestData")
    # an unreachable @context, inline or by Link header
    url = closed_port_url()
    response = seeded.request(method, path, **ld_json({**fragment, "@context": url}))
    assert_problem(response, 503, "LdContextNotAvailable")
    response = seeded.request(method, path, json=fragment, headers={"Link": link_header(url)})
    assert_problem(response, 503, "LdContextNotAvailable")
    # an @context that is not a context
    response = seeded.request(method, path, **ld_json({**fragment, "@context": 5}))
    assert_problem(response, 400, "BadRequestData")


@pytest.mark.parametrize("route", [
    "/entities?type=Road&foo=1", f"/entities/{AQ}?foo=1", "/types?foo=1", "/attributes?foo=1",
    "/jsonldContexts?foo=1", "/types/Road?foo=1", "/attributes/name?foo=1",
])
def test_an_unknown_query_parameter_is_400(seeded, route: str) -> None:
    body = assert_problem(seeded.get(route), 400, "BadRequestData")
    assert "foo" in body["detail"]


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_an_unknown_query_parameter_on_a_write_is_400(seeded, method: str, path: str) -> None:
    response = seeded.request(method, path + "?foo=1", json={"id": "urn:ngsi-ld:X:9",
                                                             "type": "X"})
    assert_problem(response, 400, "BadRequestData")


@pytest.mark.parametrize("tenant", ["has space", "' OR 1=1", "a" * 65, "../etc", "x;y"])
def test_a_malformed_tenant_is_400_and_writes_nothing(api, tenant: str) -> None:
    response = api.post("/entities", json={"id": "urn:ngsi-ld:X:1", "type": "X"},
                        headers={"NGSILD-Tenant": tenant})
    assert_problem(response, 400, "BadRequestData")
    assert_problem(api.get("/types"), 404, "NonexistentTenant")


# -- nothing is a 500 -------------------------------------------------------------------------
NAMES = st.sampled_from([
    "id", "type", "value", "object", "languageMap", "valueList", "objectList", "json", "vocab",
    "datasetId", "observedAt", "unitCode", "location", "scope", "@context", "createdAt",
    "coordinates", "Point", "Polygon", "Property", "GeoProperty", "Relationship",
    "LanguageProperty", "ListProperty", "ListRelationship", "urn:ngsi-ld:null", "a", "",
]) | st.text(max_size=6)
SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | NAMES)
JSON_VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(NAMES, inner, max_size=5),
    max_leaves=20)
ENTITY_LIKE = st.fixed_dictionaries(
    {"id": st.sampled_from(["urn:ngsi-ld:F:1", "urn:ngsi-ld:F:2"]) | JSON_VALUES,
     "type": st.sampled_from(["F", ["F", "G"]]) | JSON_VALUES},
    optional={"a": JSON_VALUES, "location": JSON_VALUES, "scope": JSON_VALUES,
              "b": JSON_VALUES})


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=JSON_VALUES | ENTITY_LIKE)
def test_random_json_never_fails_the_hub(api, body: Any) -> None:
    content = json.dumps(body).encode()
    for path, data in (("/entities", content),
                       ("/entityOperations/upsert", b"[" + content + b"]"),
                       ("/entityOperations/upsert", content)):
        response = api.post(path, content=data, headers=JSON_HEADERS)
        assert response.status_code < 500, (path, data[:300], response.text[:300])
        if response.status_code >= 400:
            assert_problem(response, response.status_code)
