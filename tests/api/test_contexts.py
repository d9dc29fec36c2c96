"""JSON-LD @context handling (clause 6.3.5) and the @context source: /ngsi-ld/v1/jsonldContexts
(clauses 6.29-6.30). Remote contexts come from a local HTTP server started by the test."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from .support import (
    CORE_CONTEXT,
    assert_problem,
    closed_port_url,
    ld_json,
    link_header,
    payload,
)

SDM = "https://smartdatamodels.org/dataModel.Transportation/"
ROAD = "urn:ngsi-ld:Road:Seoul-Sejongdaero"


def road() -> dict:
    return {"id": ROAD, "type": "Road", "speed": 50, "lanes": 8, "name": "Sejong-daero"}


@pytest.fixture
def city_context(context_server) -> str:
    return context_server.publish(payload("city_context.jsonld"))


# -- Link header and inline contexts ----------------------------------------------------------
def test_link_context_expands_and_compacts(api, city_context: str) -> None:
    link = {"Link": link_header(city_context)}
    api.create(road(), headers=link)
    bare = api.get(f"/entities/{ROAD}").json()
    assert bare["type"] == SDM + "Road"
    assert bare[SDM + "speed"]["value"] == 50
    assert bare[SDM + "totalLaneNumber"]["value"] == 8
    assert bare["https://schema.org/name"]["value"] == "Sejong-daero"
    response = api.get(f"/entities/{ROAD}?options=keyValues", headers=link)
    assert response.json() == road()
    assert response.headers["link"] == link_header(city_context)
    assert api.get("/entities?type=Road", headers=link).json()[0]["id"] == ROAD
    assert api.get("/entities", params={"type": SDM + "Road"}).json()[0]["id"] == ROAD
    assert api.get("/entities?type=Road").json() == []  # another IRI without the context


def test_core_terms_prevail_over_a_user_context(api, context_server) -> None:
    url = context_server.publish({"@context": {"location": "https://example.org/where",
                                               "observedAt": "https://example.org/seen",
                                               "Bench": "https://example.org/Bench"}})
    link = {"Link": link_header(url)}
    api.create({"id": "urn:ngsi-ld:Bench:1", "type": "Bench",
                "location": {"type": "Point", "coordinates": [127.0, 37.5]},
                "colour": {"value": "green", "observedAt": "2024-05-01T00:00:00Z"}},
               headers=link)
    plain = api.get("/entities/urn:ngsi-ld:Bench:1").json()
    assert plain["type"] == "https://example.org/Bench"
    assert plain["location"]["type"] == "GeoProperty"  # the core term, not example.org's
    assert plain["colour"]["observedAt"] == "2024-05-01T00:00:00.000Z"
    near = {"georel": "near;maxDistance==10", "geometry": "Point", "coordinates": "[127,37.5]"}
    assert [e["id"] for e in api.get("/entities", params=near).json()] == ["urn:ngsi-ld:Bench:1"]
    q = {"q": "colour.observedAt>2024-01-01T00:00:00Z"}
    assert [e["id"] for e in api.get("/entities", params=q, headers=link).json()] == [
        "urn:ngsi-ld:Bench:1"]


def test_a_remote_context_is_fetched_once_cached_and_listed(api, context_server,
                                                            city_context: str) -> None:
    link = {"Link": link_header(city_context)}
    api.create(road(), headers=link)
    for _ in range(3):
        assert api.get(f"/entities/{ROAD}", headers=link).status_code == 200
    assert context_server.hits_of(city_context) == 1
    assert city_context in api.get("/jsonldContexts").json()
    [info] = [i for i in api.get("/jsonldContexts?details=true").json()
              if i["url"] == city_context]
    assert info["kind"] == "Cached" and info["localId"] and info["timestamp"]
    assert info["numberOfHits"] >= 1
    cached = api.get("/jsonldContexts?kind=Cached").json()
    assert city_context in cached
    assert city_context not in api.get("/jsonldContexts?kind=Hosted").json()
    assert api.get(f"/jsonldContexts/{info['localId']}").json() == payload("city_context.jsonld")


def test_inline_context_with_ld_json(api) -> None:
    document = {"@context": [{"Bench": "https://example.org/Bench",
                              "colour": "https://example.org/colour"}, CORE_CONTEXT],
                "id": "urn:ngsi-ld:Bench:1", "type": "Bench", "colour": "green"}
    response = api.post("/entities", **ld_json(document))
    assert response.status_code == 201, response.text
    assert api.get("/entities/urn:ngsi-ld:Bench:1").json()["type"] == "https://example.org/Bench"
    response = api.get("/entities/urn:ngsi-ld:Bench:1?options=keyValues",
                       headers={"Accept": "application/ld+json"})
    assert response.json()["@context"] == CORE_CONTEXT  # the answer uses the GET's context


def test_ld_json_answer_carries_the_link_context(api, city_context: str) -> None:
    link = {"Link": link_header(city_context), "Accept": "application/ld+json"}
    api.create(road(), headers={"Link": link_header(city_context)})
    body = api.get(f"/entities/{ROAD}?options=keyValues", headers=link).json()
    assert body == {**road(), "@context": city_context}


def test_batch_with_a_remote_context_in_the_body(api, city_context: str) -> None:
    entities = [{**road(), "@context": city_context},
                {"id": "urn:ngsi-ld:Road:2", "type": "Highway", "@context": city_context}]
    response = api.post("/entityOperations/create", **ld_json(entities))
    assert response.status_code == 201, response.text
    assert api.get("/types").json()["typeList"] == [SDM + "Highway", SDM + "Road"]
    mixed = [{**road(), "id": "urn:ngsi-ld:Road:3", "@context": city_context},
             {"id": "urn:ngsi-ld:Road:4", "type": "Road", "@context": CORE_CONTEXT}]
    assert_problem(api.post("/entityOperations/upsert", **ld_json(mixed)), 400)


def test_ld_json_needs_a_body_context_and_no_link(api, city_context: str) -> None:
    assert_problem(api.post("/entities", **ld_json(road())), 400, "BadRequestData")
    request = ld_json({**road(), "@context": city_context})
    request["headers"]["Link"] = link_header(city_context)
    assert_problem(api.post("/entities", **request), 400, "BadRequestData")
    assert_problem(api.post("/entities", json={**road(), "@context": city_context}), 400,
                   "BadRequestData")
    assert_problem(api.get("/types"), 404, "NonexistentTenant")  # nothing was written


def test_a_link_header_without_the_context_relation_is_400(api) -> None:
    response = api.get("/entities?type=Road", headers={"Link": "<http://example.org/x>"})
    assert_problem(response, 400, "BadRequestData")
    response = api.get("/entities?type=Road", headers={"Link": link_header("ftp://x.org/c")})
    assert_problem(response, 400, "BadRequestData")


def test_the_core_context_is_never_fetched(api) -> None:
    response = api.get("/entities?type=Road", headers={"Link": link_header(CORE_CONTEXT)})
    assert_problem(response, 404, "NonexistentTenant")  # the tenant is unknown; not a 503


# -- contexts that cannot be had --------------------------------------------------------------
def test_an_unreachable_context_is_503_quickly(api) -> None:
    api.create({"id": "urn:ngsi-ld:Bench:1", "type": "Bench"})
    before = api.snapshot()
    url = closed_port_url()
    started = time.monotonic()
    for request in (
        lambda: api.post("/entities", json=road(), headers={"Link": link_header(url)}),
        lambda: api.post("/entities", **ld_json({**road(), "@context": url})),
        lambda: api.post("/entityOperations/upsert", **ld_json([{**road(), "@context": url}])),
        lambda: api.patch("/entities/urn:ngsi-ld:Bench:1/attrs", json={"a": 1},
                          headers={"Link": link_header(url)}),
        lambda: api.get("/entities?type=Road", headers={"Link": link_header(url)}),
    ):
        response = request()
        assert_problem(response, 503, "LdContextNotAvailable")
        assert response.headers["retry-after"]
    assert time.monotonic() - started < 5
    assert api.snapshot() == before
    assert url not in api.get("/jsonldContexts").json()


def test_a_context_server_error_is_503(api, context_server) -> None:
    missing = context_server.base + "/missing.jsonld"
    response = api.get("/entities?type=Road", headers={"Link": link_header(missing)})
    assert_problem(response, 503, "LdContextNotAvailable")
    not_a_context = context_server.publish({"name": "no @context member"})
    response = api.get("/entities?type=Road", headers={"Link": link_header(not_a_context)})
    assert_problem(response, 503, "LdContextNotAvailable")


@pytest.fixture
def silent_port() -> Iterator[str]:
    """A URL on a port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/context.jsonld"


def test_a_context_that_never_comes_is_503_after_the_timeout(small_api, silent_port) -> None:
    started = time.monotonic()
    response = small_api.post("/entities", json=road(), headers={"Link": link_header(silent_port)})
    assert_problem(response, 503, "LdContextNotAvailable")
    assert time.monotonic() - started < 3  # the small hub waits 0.5 s


# -- POST/GET/DELETE /jsonldContexts ----------------------------------------------------------
HOSTED = {"@context": {"Kiosk": "https://example.org/Kiosk", "open": "https://example.org/open"}}


def test_host_a_context_and_use_it(api) -> None:
    response = api.post("/jsonldContexts", json=HOSTED)
    assert response.status_code == 201, response.text
    url = response.headers["location"]
    local_id = url.rsplit("/", 1)[1]
    assert url.startswith(api.hub_url + "/ngsi-ld/v1/jsonldContexts/")
    served = api.get(f"/jsonldContexts/{local_id}")
    assert served.headers["content-type"] == "application/ld+json"
    assert served.json() == HOSTED
    assert url in api.get("/jsonldContexts?kind=Hosted").json()
    details = api.get(f"/jsonldContexts/{local_id}?details=true").json()
    assert details["kind"] == "Hosted" and details["url"] == url
    api.create({"id": "urn:ngsi-ld:Kiosk:1", "type": "Kiosk", "open": True},
               headers={"Link": link_header(url)})
    stored = api.get("/entities/urn:ngsi-ld:Kiosk:1").json()
    assert stored["type"] == "https://example.org/Kiosk"
    assert api.delete(f"/jsonldContexts/{local_id}").status_code == 204
    assert_problem(api.get(f"/jsonldContexts/{local_id}"), 404, "ResourceNotFound")
    assert url not in api.get("/jsonldContexts").json()


@pytest.mark.parametrize("body", [
    {"Kiosk": "https://example.org/Kiosk"},
    {"@context": {"Kiosk": "https://example.org/Kiosk"}, "extra": 1},
    [HOSTED],
    "https://example.org/context.jsonld",
    {"@context": 5},
])
def test_hosting_refuses_what_is_not_a_context(api, body) -> None:
    before = api.get("/jsonldContexts").json()
    assert_problem(api.post("/jsonldContexts", json=body), 400, "BadRequestData")
    assert api.get("/jsonldContexts").json() == before


def test_hosting_a_context_naming_an_unreachable_one_is_503(api) -> None:
    response = api.post("/jsonldContexts", json={"@context": [closed_port_url()]})
    assert_problem(response, 503, "LdContextNotAvailable")


def test_core_contexts_are_listed_and_served_but_not_deleted(api) -> None:
    assert CORE_CONTEXT in api.get("/jsonldContexts").json()
    core = api.get(f"/jsonldContexts/{CORE_CONTEXT}").json()
    assert core["@context"]["ngsi-ld"] == "https://uri.etsi.org/ngsi-ld/"
    assert_problem(api.delete(f"/jsonldContexts/{CORE_CONTEXT}"), 400, "BadRequestData")
    assert CORE_CONTEXT in api.get("/jsonldContexts").json()


def test_delete_and_reload_a_cached_context(api, context_server, city_context: str) -> None:
    link = {"Link": link_header(city_context)}
    api.create(road(), headers=link)
    assert context_server.hits_of(city_context) == 1
    [info] = [i for i in api.get("/jsonldContexts?details=true").json()
              if i["url"] == city_context]
    # reload: fetched again now, still cached
    response = api.delete(f"/jsonldContexts/{info['localId']}?reload=true")
    assert response.status_code == 204, response.text
    assert context_server.hits_of(city_context) == 2
    assert city_context in api.get("/jsonldContexts?kind=Cached").json()
    # delete: forgotten, fetched again on next use
    [info] = [i for i in api.get("/jsonldContexts?details=true").json()
              if i["url"] == city_context]
    assert api.delete(f"/jsonldContexts/{info['localId']}").status_code == 204
    assert city_context not in api.get("/jsonldContexts").json()
    assert api.get(f"/entities/{ROAD}", headers=link).json()["type"] == "Road"
    assert context_server.hits_of(city_context) == 3


def test_reload_only_applies_to_cached_contexts(api) -> None:
    url = api.post("/jsonldContexts", json=HOSTED).headers["location"]
    local_id = url.rsplit("/", 1)[1]
    assert_problem(api.delete(f"/jsonldContexts/{local_id}?reload=true"), 400, "BadRequestData")
    assert api.get(f"/jsonldContexts/{local_id}").status_code == 200


def test_context_source_errors(api) -> None:
    assert_problem(api.get("/jsonldContexts/no-such-context"), 404, "ResourceNotFound")
    assert_problem(api.delete("/jsonldContexts/no-such-context"), 404, "ResourceNotFound")
    assert_problem(api.get("/jsonldContexts?kind=Remote"), 400, "BadRequestData")
    assert_problem(api.get("/jsonldContexts?details=maybe"), 400, "BadRequestData")
    assert_problem(api.get("/jsonldContexts?unknown=1"), 400, "BadRequestData")
    assert_problem(api.patch("/jsonldContexts/x", json={}), 405)
