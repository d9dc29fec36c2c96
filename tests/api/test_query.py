"""GET /ngsi-ld/v1/entities: Query Entities (clause 6.4.3.2), and tenants across the read routes."""

from __future__ import annotations

import json

import pytest

from .support import CORE_CONTEXT, assert_problem, ids, payload

SEJONGDAERO = "urn:ngsi-ld:Road:Seoul-Sejongdaero"
TEHERANRO = "urn:ngsi-ld:Road:Seoul-Teheranro"
JUNGANGDAERO = "urn:ngsi-ld:Road:Busan-Jungangdaero"
NAMSAN = "urn:ngsi-ld:Park:Seoul-Namsan"
SEJONG_LAKE = "urn:ngsi-ld:Park:Sejong-Lake"
ROADS = [SEJONGDAERO, TEHERANRO, JUNGANGDAERO]
PARKS = [NAMSAN, SEJONG_LAKE]
CITY_HALL = [126.9780, 37.5665]  # Seoul City Hall, 700 m from Sejong-daero


@pytest.fixture
def city(api):
    api.create_many(payload("city.json"))
    return api


def query(api, **params: str) -> list[str]:
    return ids(api.get("/entities", params=params))


# -- entity selection -------------------------------------------------------------------------
@pytest.mark.parametrize(("expression", "expected"), [
    ("Road", ROADS),
    ("Park", PARKS),
    ("Road,Park", ROADS + PARKS),
    ("Road|Park", ROADS + PARKS),
    ("Road;Highway", [TEHERANRO]),
    ("Highway", [TEHERANRO]),
    ("(Road;Highway)|Park", [TEHERANRO, *PARKS]),
    ("Nothing", []),
    ("https://uri.etsi.org/ngsi-ld/default-context/Park", PARKS),
])
def test_type_lists_and_expressions(city, expression: str, expected: list[str]) -> None:
    assert query(city, type=expression) == expected


@pytest.mark.parametrize("expression", ["Road;", "(Road", "Road||Park", ";", "Road Park"])
def test_bad_type_expression_is_400(city, expression: str) -> None:
    assert_problem(city.get("/entities", params={"type": expression}), 400, "BadRequestData")


def test_id_and_id_pattern(city) -> None:
    assert query(city, id=f"{NAMSAN},{TEHERANRO}") == [TEHERANRO, NAMSAN]
    assert query(city, id=NAMSAN, type="Road") == []
    assert query(city, idPattern="^urn:ngsi-ld:Road:Seoul-") == [SEJONGDAERO, TEHERANRO]
    assert query(city, idPattern="Sejong") == [SEJONGDAERO, SEJONG_LAKE]
    assert query(city, idPattern="Sejong", type="Park") == [SEJONG_LAKE]


def test_attrs_selects_entities_having_one_and_projects(city) -> None:
    response = city.get("/entities", params={"attrs": "area,servedArea"})
    assert ids(response) == PARKS
    assert set(response.json()[0]) == {"id", "type", "area", "servedArea"}
    assert set(response.json()[1]) == {"id", "type", "area"}


def test_pick_and_omit(city) -> None:
    picked = city.get("/entities", params={"type": "Park", "pick": "id,name"}).json()
    assert picked == [{"id": NAMSAN, "name": {"type": "Property", "value": "Namsan Park"}},
                      {"id": SEJONG_LAKE,
                       "name": {"type": "Property", "value": "Sejong Lake Park"}}]
    omitted = city.get("/entities", params={"type": "Road", "omit": "location,speed,scope",
                                            "options": "keyValues"}).json()
    assert omitted[0] == {"id": SEJONGDAERO, "type": "Road", "name": "Sejong-daero",
                          "lanes": 8, "status": "open",
                          "dimensions": {"length": 600, "width": 100}}


def test_a_query_needs_a_filter(city) -> None:
    assert_problem(city.get("/entities"), 400, "BadRequestData")
    assert_problem(city.get("/entities?limit=5"), 400, "BadRequestData")


# -- q (clause 4.9) ---------------------------------------------------------------------------
@pytest.mark.parametrize(("q", "expected"), [
    ("speed>40", [SEJONGDAERO, TEHERANRO]),
    ("speed>=50", [SEJONGDAERO, TEHERANRO]),
    ("speed<50", [JUNGANGDAERO]),
    ("speed<=50", [SEJONGDAERO, JUNGANGDAERO]),
    ("speed==80", [TEHERANRO]),
    ("speed!=80", [SEJONGDAERO, JUNGANGDAERO]),
    ("speed==40..60", [SEJONGDAERO]),
    ("speed==30,80", [TEHERANRO, JUNGANGDAERO]),
    ('status=="open"', [SEJONGDAERO, JUNGANGDAERO]),
    ("status==open", [SEJONGDAERO, JUNGANGDAERO]),
    ("status==open,closed", ROADS),
    ("name~=^Se", [SEJONGDAERO]),
    ("name~=(?i)-DAERO$", [SEJONGDAERO, JUNGANGDAERO]),
    ("name!~=daero", [TEHERANRO]),
    ("speed.accuracy>0.9", [SEJONGDAERO]),
    ("speed.accuracy", [SEJONGDAERO, TEHERANRO]),
    ("!speed.accuracy", [JUNGANGDAERO]),
    ("speed.observedAt>=2024-01-01T00:00:00Z", [SEJONGDAERO, TEHERANRO]),
    ("dimensions[length]>1000", [TEHERANRO]),
    ("dimensions[width]==100", [SEJONGDAERO]),
    ("dimensions[height]", []),
    ("speed>40;status==open", [SEJONGDAERO]),
    ("speed>70|lanes<5", [TEHERANRO, JUNGANGDAERO]),
    ("(speed>70|lanes<5);status==open", [JUNGANGDAERO]),
    ("lanes==4..8;!dimensions", [JUNGANGDAERO]),
])
def test_q(city, q: str, expected: list[str]) -> None:
    assert query(city, type="Road", q=q) == expected


def test_q_alone_is_a_filter(city) -> None:
    assert query(city, q="area>1000000") == [NAMSAN]


@pytest.mark.parametrize("q", ["speed>", "speed==", "(speed>1", "speed>1)", "speed>>1",
                               "speed==1..", "name~=(", "speed>true", "spe ed>1", ""])
def test_bad_q_is_400(city, q: str) -> None:
    assert_problem(city.get("/entities", params={"type": "Road", "q": q}), 400)


# -- geoQ (clause 4.10) -----------------------------------------------------------------------
def geo(api, georel: str, geometry: str, coordinates: object, **params: str) -> list[str]:
    return query(api, georel=georel, geometry=geometry, coordinates=json.dumps(coordinates),
                 **params)


def test_near_with_max_distance(city) -> None:
    assert geo(city, "near;maxDistance==1000", "Point", CITY_HALL) == [SEJONGDAERO]
    assert geo(city, "near;maxDistance==5000", "Point", CITY_HALL) == [SEJONGDAERO, NAMSAN]
    assert geo(city, "near;maxDistance==5000", "Point", CITY_HALL, type="Road") == [SEJONGDAERO]
    assert geo(city, "near;maxDistance==10", "Point", CITY_HALL) == []
    far = [JUNGANGDAERO, SEJONG_LAKE]  # Busan ~325 km, Sejong ~120 km away
    assert geo(city, "near;minDistance==100000", "Point", CITY_HALL) == far


SEOUL = [[[126.8, 37.4], [127.2, 37.4], [127.2, 37.7], [126.8, 37.7], [126.8, 37.4]]]


def test_within_polygon(city) -> None:
    assert geo(city, "within", "Polygon", SEOUL) == [SEJONGDAERO, TEHERANRO, NAMSAN]
    assert geo(city, "within", "Polygon", SEOUL, type="Park") == [NAMSAN]


def test_geoproperty_names_the_geometry_tested(city) -> None:
    small = [[[126.98, 37.545], [127.0, 37.545], [127.0, 37.555], [126.98, 37.555],
              [126.98, 37.545]]]
    assert geo(city, "intersects", "Polygon", small, geoproperty="servedArea") == [NAMSAN]
    assert geo(city, "within", "Polygon", small, geoproperty="servedArea") == []
    assert geo(city, "within", "Polygon", SEOUL, geoproperty="servedArea") == [NAMSAN]


@pytest.mark.parametrize("params", [
    {"georel": "near", "geometry": "Point", "coordinates": "[126.97,37.56]"},
    {"georel": "near;maxDistance==-1", "geometry": "Point", "coordinates": "[126.97,37.56]"},
    {"georel": "within", "geometry": "Polygon", "coordinates": "[[[0,0],[1,0],[1,1],[0,1]]]"},
    {"georel": "within", "geometry": "Polygon"},
    {"georel": "touches", "geometry": "Point", "coordinates": "[0,0]"},
    {"georel": "near;maxDistance==10", "geometry": "Point", "coordinates": "[0,200]"},
    {"georel": "near;maxDistance==10", "geometry": "Circle", "coordinates": "[0,0]"},
    {"georel": "near;maxDistance==10", "geometry": "Point", "coordinates": "[\"a\",\"b\"]"},
])
def test_bad_geo_query_is_400(city, params: dict[str, str]) -> None:
    assert_problem(city.get("/entities", params=params), 400, "BadRequestData")


# -- scopeQ (clause 4.19) ---------------------------------------------------------------------
@pytest.mark.parametrize(("scopeq", "expected"), [
    ("/Seoul/Jongno", [SEJONGDAERO]),
    ("/Seoul/#", [SEJONGDAERO, TEHERANRO, NAMSAN]),
    ("/Seoul/+", [SEJONGDAERO, TEHERANRO, NAMSAN]),
    ("/+/Jung", [JUNGANGDAERO, NAMSAN]),
    ("/Busan/Jung,/Seoul/Gangnam", [TEHERANRO, JUNGANGDAERO]),
    ("/Seoul/Jung;/Seoul/Yongsan", [NAMSAN]),
    ("/#", [SEJONGDAERO, TEHERANRO, JUNGANGDAERO, NAMSAN]),
    ("/Daegu", []),
])
def test_scope_q(city, scopeq: str, expected: list[str]) -> None:
    assert query(city, scopeQ=scopeq) == expected


def test_bad_scope_q_is_400(city) -> None:
    assert_problem(city.get("/entities", params={"scopeQ": "Seoul"}), 400, "BadRequestData")


# -- pagination and count ---------------------------------------------------------------------
@pytest.fixture
def many(api):
    api.create_many([{"id": f"urn:ngsi-ld:Bin:{i:03d}", "type": "Bin", "fill": i}
                     for i in range(25)])
    return api


def test_default_limit_is_20(many) -> None:
    assert len(query(many, type="Bin")) == 20


def test_limit_and_offset_page_in_a_stable_order(many) -> None:
    first = query(many, type="Bin", limit="10")
    second = query(many, type="Bin", limit="10", offset="10")
    third = query(many, type="Bin", limit="10", offset="20")
    assert len(first) == 10 and len(second) == 10 and len(third) == 5
    assert sorted(first + second + third) == [f"urn:ngsi-ld:Bin:{i:03d}" for i in range(25)]
    assert query(many, type="Bin", offset="100") == []


def test_count_sets_the_results_count_header(many) -> None:
    response = many.get("/entities", params={"type": "Bin", "count": "true", "limit": "5"})
    assert response.headers["ngsild-results-count"] == "25"
    assert len(response.json()) == 5
    response = many.get("/entities", params={"type": "Bin", "q": "fill>=20", "count": "true"})
    assert response.headers["ngsild-results-count"] == "5"
    response = many.get("/entities", params={"type": "Bin", "count": "true", "limit": "0"})
    assert response.json() == [] and response.headers["ngsild-results-count"] == "25"
    assert "ngsild-results-count" not in many.get("/entities?type=Bin").headers


def test_limit_bounds(many) -> None:
    assert len(query(many, type="Bin", limit="1000")) == 25
    body = assert_problem(many.get("/entities?type=Bin&limit=1001"), 403, "TooManyResults")
    assert "1000" in body["detail"]
    assert_problem(many.get("/entities?type=Bin&limit=0"), 400, "BadRequestData")
    assert_problem(many.get("/entities?type=Bin&limit=-1"), 400, "BadRequestData")
    assert_problem(many.get("/entities?type=Bin&limit=ten"), 400, "BadRequestData")
    assert_problem(many.get("/entities?type=Bin&offset=-5"), 400, "BadRequestData")
    assert_problem(many.get("/entities?type=Bin&count=yes"), 400, "BadRequestData")


# -- representations --------------------------------------------------------------------------
def test_options(city) -> None:
    params = {"id": SEJONGDAERO}
    normalized = city.get("/entities", params={**params, "options": "normalized"}).json()[0]
    assert normalized["lanes"] == {"type": "Property", "value": 8}
    key_values = city.get("/entities", params={**params, "options": "keyValues"}).json()[0]
    assert key_values["lanes"] == 8 and key_values["speed"] == 50
    concise = city.get("/entities", params={**params, "options": "concise"}).json()[0]
    assert concise["lanes"] == 8
    assert concise["speed"] == {"value": 50, "unitCode": "KMH",
                                "observedAt": "2024-05-01T08:00:00.000Z", "accuracy": 0.95}
    with_sys = city.get("/entities", params={**params, "options": "sysAttrs"}).json()[0]
    assert "createdAt" in with_sys and "modifiedAt" in with_sys["lanes"]


def test_lang_in_a_query(api) -> None:
    api.create({"id": "urn:ngsi-ld:Museum:1", "type": "Museum", "name": {
        "type": "LanguageProperty", "languageMap": {"ko": "국립중앙박물관",
                                                    "en": "National Museum of Korea"}}})
    body = api.get("/entities", params={"type": "Museum", "lang": "en",
                                        "options": "keyValues"}).json()
    assert body == [{"id": "urn:ngsi-ld:Museum:1", "type": "Museum",
                     "name": "National Museum of Korea"}]


def test_ld_json_puts_the_context_in_every_entity(city) -> None:
    response = city.get("/entities?type=Park", headers={"Accept": "application/ld+json"})
    assert response.headers["content-type"] == "application/ld+json"
    assert [e["@context"] for e in response.json()] == [CORE_CONTEXT, CORE_CONTEXT]


def test_geo_json_answers_a_feature_collection(city) -> None:
    response = city.get("/entities?type=Park&options=keyValues",
                        headers={"Accept": "application/geo+json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    collection = response.json()
    assert collection["type"] == "FeatureCollection"
    assert [f["id"] for f in collection["features"]] == PARKS
    namsan = collection["features"][0]
    assert namsan["type"] == "Feature"
    assert namsan["geometry"] == {"type": "Point", "coordinates": [126.9882, 37.5512]}
    assert namsan["properties"]["name"] == "Namsan Park"
    response = city.get("/entities?type=Park&geometryProperty=servedArea",
                        headers={"Accept": "application/geo+json"})
    features = response.json()["features"]
    assert features[0]["geometry"]["type"] == "Polygon"
    assert features[1]["geometry"] is None


def test_unsupported_accept_is_406(city) -> None:
    assert_problem(city.get("/entities?type=Park", headers={"Accept": "text/csv"}), 406)


def test_unknown_and_unsupported_parameters(city) -> None:
    assert_problem(city.get("/entities?type=Park&colour=red"), 400, "BadRequestData")
    assert_problem(city.get("/entities?type=Park&type=Road"), 400, "BadRequestData")
    assert_problem(city.get("/entities?type=Park&csf=x"), 501)
    assert_problem(city.get("/entities?type=Park&options=sortByName"), 400)


# -- tenants (clause 4.14) --------------------------------------------------------------------
READ_ROUTES = [
    ("GET", f"/entities/{NAMSAN}", None),
    ("GET", "/entities?type=Park", None),
    ("GET", "/types", None),
    ("GET", "/types?details=true", None),
    ("GET", "/types/Park", None),
    ("GET", "/attributes", None),
    ("GET", "/attributes?details=true", None),
    ("GET", "/attributes/area", None),
    ("POST", "/entityOperations/query", {"type": "Query", "entities": [{"type": "Park"}]}),
]


@pytest.mark.parametrize(("method", "path", "body"), READ_ROUTES)
def test_an_unknown_tenant_is_404_on_every_read_route(api, method: str, path: str,
                                                      body: object) -> None:
    response = api.request(method, path, json=body)
    assert_problem(response, 404, "NonexistentTenant")


def test_a_tenant_is_created_by_its_first_write_only(api) -> None:
    failed = api.post("/entities", json={"id": "not a uri", "type": "Park"})
    assert_problem(failed, 400)
    assert_problem(api.get("/types"), 404, "NonexistentTenant")
    api.create({"id": NAMSAN, "type": "Park"})
    assert api.get("/types").json()["typeList"] == ["Park"]


@pytest.mark.parametrize(("method", "path", "body"), READ_ROUTES)
def test_tenants_see_only_their_own_entities(api, method: str, path: str, body: object) -> None:
    other = api.with_tenant(api.tenant + "-other")
    api.create_many(payload("city.json"))
    other.create({"id": "urn:ngsi-ld:Bench:1", "type": "Bench", "colour": "green"})
    mine, theirs = api.request(method, path, json=body), other.request(method, path, json=body)
    assert mine.status_code == 200, mine.text
    assert "Bench" not in mine.text and "colour" not in mine.text
    if path.startswith(("/entities/", "/types/", "/attributes/")):  # one named resource
        assert_problem(theirs, 404, "ResourceNotFound")
    else:
        assert theirs.status_code == 200, theirs.text
        assert "Park" not in theirs.text and "area" not in theirs.text


def test_the_answer_names_the_tenant(city) -> None:
    assert city.get("/entities?type=Park").headers["ngsild-tenant"] == city.tenant


def test_a_malformed_tenant_is_400(api) -> None:
    for tenant in ("has space", "-leading-dash", "x" * 65, "semi;colon", "../up"):
        response = api.get("/types", headers={"NGSILD-Tenant": tenant})
        assert_problem(response, 400, "BadRequestData")
