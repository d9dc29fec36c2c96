"""Tests of cityhub.ngsild.geo: GeoJSON validation, geo-query parsing and the predicates.

Hand-checked cases use Sejong (36.48 N, 127.29 E). The reference square S spans
127.28..127.30 E and 36.47..36.49 N.
"""

from __future__ import annotations

import math

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityhub.ngsild.errors import BadRequestData
from cityhub.ngsild.geo import (
    EARTH_RADIUS_M,
    MAX_POSITIONS,
    GeoQuery,
    bbox,
    distance_m,
    geo_matches,
    parse_geoq,
    search_bbox,
    validate_geometry,
)

LON, LAT = 127.29, 36.48
M_PER_DEG_LAT = EARTH_RADIUS_M * math.pi / 180  # 111 195.08 m


def square(lon0: float, lat0: float, lon1: float, lat1: float) -> list[list[list[float]]]:
    return [[[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]]


S = square(127.28, 36.47, 127.30, 36.49)
S_GEOM = {"type": "Polygon", "coordinates": S}


def pt(lon: float, lat: float) -> dict:
    return {"type": "Point", "coordinates": [lon, lat]}


def poly(coords: list) -> dict:
    return {"type": "Polygon", "coordinates": coords}


def line(*positions: tuple[float, float]) -> dict:
    return {"type": "LineString", "coordinates": [list(p) for p in positions]}


def q(georel: str, geometry: dict, **kw) -> GeoQuery:
    return GeoQuery(georel, geometry, **kw)


def deep_list(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


# ------------------------------------------------------------------------------------------
# validate_geometry: every type valid
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "geometry",
    [
        {"type": "Point", "coordinates": [127, 36]},
        {"type": "Point", "coordinates": [127.29, 36.48, 35.5]},
        {"type": "MultiPoint", "coordinates": [[127.29, 36.48], [127.3, 36.5]]},
        {"type": "LineString", "coordinates": [[127.29, 36.48], [127.3, 36.5]]},
        {
            "type": "MultiLineString",
            "coordinates": [[[127.29, 36.48], [127.3, 36.5]], [[127.1, 36.1], [127.2, 36.2]]],
        },
        {"type": "Polygon", "coordinates": S},
        {
            "type": "Polygon",
            "coordinates": S + square(127.285, 36.475, 127.295, 36.485),
        },
        {
            "type": "MultiPolygon",
            "coordinates": [S, square(127.31, 36.47, 127.32, 36.48)],
        },
        {"type": "Point", "coordinates": [-180, -90]},
        {"type": "Point", "coordinates": [180, 90]},
    ],
    ids=lambda g: g["type"],
)
def test_valid_geometries_are_normalised(geometry):
    out = validate_geometry(geometry)
    assert out["type"] == geometry["type"]
    assert out == geometry  # equal values ...
    assert out is not geometry

    def all_floats(c):
        if isinstance(c, float):
            return True
        return isinstance(c, list) and all(all_floats(x) for x in c)

    assert all_floats(out["coordinates"])  # ... but floats and lists only


def test_normalisation_drops_foreign_members_and_accepts_tuples():
    out = validate_geometry(
        {"type": "LineString", "coordinates": ((1, 2), (3, 4)), "bbox": [1, 2, 3, 4], "x": 1}
    )
    assert out == {"type": "LineString", "coordinates": [[1.0, 2.0], [3.0, 4.0]]}
    assert set(out) == {"type", "coordinates"}


def test_validation_is_idempotent():
    once = validate_geometry(poly(S))
    assert validate_geometry(once) == once


# ------------------------------------------------------------------------------------------
# validate_geometry: each invalid case
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([127.29, 36.48], "must be a JSON object"),
        ("Point", "must be a JSON object"),
        (None, "must be a JSON object"),
        ({"coordinates": [1, 2]}, "'type'"),
        ({"type": ["Point"], "coordinates": [1, 2]}, "'type'"),
        ({"type": "Circle", "coordinates": [1, 2]}, "unknown geometry type 'Circle'"),
        ({"type": "point", "coordinates": [1, 2]}, "unknown geometry type"),
        ({"type": "GeometryCollection", "geometries": []}, "GeometryCollection is not supported"),
        ({"type": "Point"}, "no 'coordinates'"),
        ({"type": "Point", "coordinates": None}, "must be a position"),
        ({"type": "Point", "coordinates": "[1, 2]"}, "must be a position"),
        ({"type": "Point", "coordinates": {"lon": 1, "lat": 2}}, "must be a position"),
        ({"type": "Point", "coordinates": []}, "2 or 3 numbers, got 0"),
        ({"type": "Point", "coordinates": [1]}, "2 or 3 numbers, got 1"),
        ({"type": "Point", "coordinates": [1, 2, 3, 4]}, "2 or 3 numbers, got 4"),
        ({"type": "Point", "coordinates": [True, 2]}, "coordinates[0] must be a number"),
        ({"type": "Point", "coordinates": [1, False]}, "coordinates[1] must be a number"),
        ({"type": "Point", "coordinates": ["1", 2]}, "must be a number, got a string"),
        ({"type": "Point", "coordinates": [None, 2]}, "must be a number, got null"),
        ({"type": "Point", "coordinates": [math.nan, 2]}, "not a finite number"),
        ({"type": "Point", "coordinates": [1, math.inf]}, "not a finite number"),
        ({"type": "Point", "coordinates": [1, 2, -math.inf]}, "not a finite number"),
        ({"type": "Point", "coordinates": [10**400, 2]}, "not a finite number"),
        ({"type": "Point", "coordinates": [180.000001, 2]}, "longitude"),
        ({"type": "Point", "coordinates": [-181, 2]}, "longitude"),
        ({"type": "Point", "coordinates": [1, 90.5]}, "latitude"),
        ({"type": "Point", "coordinates": [1, -91]}, "latitude"),
        ({"type": "Point", "coordinates": [36.48, 127.29]}, "latitude"),  # swapped lat/lon
        ({"type": "MultiPoint", "coordinates": []}, "must not be empty"),
        ({"type": "MultiPoint", "coordinates": [1, 2]}, "coordinates[0] must be a position"),
        ({"type": "LineString", "coordinates": [[1, 2]]}, "at least 2 positions, got 1"),
        ({"type": "LineString", "coordinates": []}, "at least 2 positions, got 0"),
        ({"type": "MultiLineString", "coordinates": []}, "must not be empty"),
        ({"type": "MultiLineString", "coordinates": [[[1, 2]]]}, "coordinates[0]: a LineString"),
        ({"type": "Polygon", "coordinates": []}, "at least one ring"),
        ({"type": "Polygon", "coordinates": [[]]}, "at least 4 positions, got 0"),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]},
            "at least 4 positions, got 3",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]},
            "must be closed",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
            "Self-intersection",
        ),
        (
            {"type": "Polygon", "coordinates": S + square(128.0, 37.0, 128.1, 37.1)},
            "invalid Polygon",
        ),  # hole outside its shell
        (
            {"type": "Polygon", "coordinates": [[[1, 1], [1, 1], [1, 1], [1, 1]]]},
            "invalid Polygon",
        ),  # degenerate ring
        ({"type": "MultiPolygon", "coordinates": []}, "must not be empty"),
        ({"type": "MultiPolygon", "coordinates": [[]]}, "coordinates[0]: a Polygon"),
        (
            {"type": "MultiPolygon", "coordinates": [S, S]},
            "invalid MultiPolygon",
        ),  # overlapping parts
    ],
)
def test_invalid_geometries_are_rejected(obj, message):
    with pytest.raises(BadRequestData) as info:
        validate_geometry(obj)
    assert message in info.value.detail


def test_error_names_the_offending_position():
    bad = {"type": "MultiPolygon", "coordinates": [S, [[[0, 0], [1, 0], [1, 1], [0, 1], [0, "x"]]]]}
    with pytest.raises(BadRequestData, match=r"coordinates\[1\]\[0\]\[4\]\[1\] must be a number"):
        validate_geometry(bad)


def test_too_many_positions():
    ok = {"type": "MultiPoint", "coordinates": [[0.0, 0.0]] * MAX_POSITIONS}
    assert len(validate_geometry(ok)["coordinates"]) == MAX_POSITIONS
    too_many = {"type": "MultiPoint", "coordinates": [[0.0, 0.0]] * (MAX_POSITIONS + 1)}
    with pytest.raises(BadRequestData, match="more than 100000 positions"):
        validate_geometry(too_many)


def test_huge_array_is_rejected_fast():
    # a million-element list fails on its first position, without walking the rest
    with pytest.raises(BadRequestData, match="2 or 3 numbers"):
        validate_geometry({"type": "Point", "coordinates": [0.0] * 1_000_000})
    with pytest.raises(BadRequestData, match="more than"):
        validate_geometry({"type": "LineString", "coordinates": [[0.0, 0.0]] * 1_000_000})


@pytest.mark.parametrize(
    "gtype", ["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"]
)
def test_deeply_nested_lists_do_not_recurse(gtype):
    with pytest.raises(BadRequestData):
        validate_geometry({"type": gtype, "coordinates": deep_list(10_000)})


@pytest.mark.parametrize(
    "obj",
    [
        1,
        1.5,
        True,
        b"{}",
        {"type": None},
        {"type": 5, "coordinates": []},
        {"type": "Polygon", "coordinates": [[["a", "b"], [1, 2], [3, 4], ["a", "b"]]]},
        {"type": "Polygon", "coordinates": [[[1, 2, 3, 4, 5]] * 4]},
        {"type": "MultiPolygon", "coordinates": [[[[0, 0]] * 4]]},
        {"type": "LineString", "coordinates": [[0, 0], [object(), 0]]},
    ],
)
def test_hostile_values_raise_only_bad_request_data(obj):
    with pytest.raises(BadRequestData):
        validate_geometry(obj)


# ------------------------------------------------------------------------------------------
# bbox
# ------------------------------------------------------------------------------------------


def test_bbox_of_each_type():
    assert bbox(pt(LON, LAT)) == (LON, LAT, LON, LAT)
    assert bbox(poly(S)) == (127.28, 36.47, 127.30, 36.49)
    assert bbox(line((127.3, 36.5), (127.1, 36.6))) == (127.1, 36.5, 127.3, 36.6)
    multi = validate_geometry(
        {"type": "MultiPolygon", "coordinates": [S, square(127.31, 36.40, 127.32, 36.41)]}
    )
    assert bbox(multi) == (127.28, 36.40, 127.32, 36.49)
    mls = {"type": "MultiLineString", "coordinates": [[[0, 1], [2, 3]], [[-1, 5], [0, 0]]]}
    assert bbox(mls) == (-1, 0, 2, 5)
    assert bbox({"type": "MultiPoint", "coordinates": [[1, 2], [3, -4]]}) == (1, -4, 3, 2)


def test_bbox_rejects_unknown_types():
    with pytest.raises(BadRequestData):
        bbox({"type": "GeometryCollection", "geometries": []})


# ------------------------------------------------------------------------------------------
# distances
# ------------------------------------------------------------------------------------------


def test_haversine_known_distances():
    assert distance_m(LON, LAT, LON, LAT) == 0.0
    # 0.001 degree of latitude ~ 111.2 m anywhere
    assert distance_m(LON, LAT, LON, LAT + 0.001) == pytest.approx(111.195, abs=0.01)
    # 0.001 degree of longitude at 36.48 N ~ 111.195 * cos(36.48) = 89.40 m
    assert distance_m(LON, LAT, LON + 0.001, LAT) == pytest.approx(89.40, abs=0.02)
    # a quarter of a meridian
    assert distance_m(0, 0, 0, 90) == pytest.approx(math.pi / 2 * EARTH_RADIUS_M)
    # antipodes
    assert distance_m(0, 0, 180, 0) == pytest.approx(math.pi * EARTH_RADIUS_M)
    # across the antimeridian
    assert distance_m(179.9995, 0, -179.9995, 0) == pytest.approx(111.195, abs=0.01)
    # symmetric
    assert distance_m(127.0, 37.5, 126.9, 37.4) == distance_m(126.9, 37.4, 127.0, 37.5)


def test_sejong_to_seoul_city_hall():
    # Sejong government complex to Seoul city hall: about 120 km as the crow flies
    d = distance_m(127.2890, 36.5040, 126.9779, 37.5663)
    assert 119_000 < d < 122_000


# ------------------------------------------------------------------------------------------
# parse_geoq
# ------------------------------------------------------------------------------------------


def test_absent_geoquery_is_none():
    assert parse_geoq(None, None, None, None) is None
    assert parse_geoq(None, None, None, "observationSpace") is None


@pytest.mark.parametrize(
    ("georel", "geometry", "coordinates", "missing"),
    [
        ("within", None, None, "geometry, coordinates missing"),
        (None, "Point", None, "georel, coordinates missing"),
        (None, None, "[1,2]", "georel, geometry missing"),
        ("near;maxDistance==5", "Point", None, "coordinates missing"),
    ],
)
def test_partial_geoquery_is_rejected(georel, geometry, coordinates, missing):
    with pytest.raises(BadRequestData, match=missing):
        parse_geoq(georel, geometry, coordinates, None)


def test_parse_from_query_string():
    gq = parse_geoq("near;maxDistance==500", "Point", "[127.29,36.48]", None)
    assert gq == GeoQuery("near", pt(LON, LAT), "location", 500.0, None)
    assert gq.geometry == {"type": "Point", "coordinates": [127.29, 36.48]}
    assert gq.geoproperty == "location"


def test_parse_from_body():
    gq = parse_geoq("within", "Polygon", S, "observationSpace")
    assert gq.georel == "within"
    assert gq.geometry == poly(S)
    assert gq.geoproperty == "observationSpace"
    assert gq.max_distance is None and gq.min_distance is None


@pytest.mark.parametrize(
    ("georel", "max_d", "min_d"),
    [
        ("near;maxDistance==500", 500.0, None),
        ("near;minDistance==100", None, 100.0),
        ("near;maxDistance==500;minDistance==100", 500.0, 100.0),
        ("near;minDistance==100;maxDistance==500", 500.0, 100.0),
        ("near;maxDistance==0", 0.0, None),
        ("near;maxDistance==12.5", 12.5, None),
        ("near;maxDistance==1e3", 1000.0, None),
        ("near;maxDistance==100;minDistance==100", 100.0, 100.0),
        (" near;maxDistance==5 ", 5.0, None),
    ],
)
def test_near_distances(georel, max_d, min_d):
    gq = parse_geoq(georel, "Point", "[127.29, 36.48]", None)
    assert (gq.georel, gq.max_distance, gq.min_distance) == ("near", max_d, min_d)


@pytest.mark.parametrize(
    "georel", ["within", "contains", "intersects", "equals", "disjoint", "overlaps"]
)
def test_every_plain_georel(georel):
    gq = parse_geoq(
        georel,
        "Polygon",
        "[[[127.28,36.47],[127.30,36.47],[127.30,36.49],[127.28,36.49],[127.28,36.47]]]",
        None,
    )
    assert gq.georel == georel


@pytest.mark.parametrize(
    ("georel", "geometry", "coordinates", "message"),
    [
        ("near", "Point", "[1,2]", "needs maxDistance and/or minDistance"),
        ("near;", "Point", "[1,2]", "invalid georel parameter ''"),
        ("near;maxDistance==500", "Polygon", S, "needs a Point geometry"),
        ("near;maxDistance==-5", "Point", "[1,2]", "invalid georel parameter"),
        ("near;maxDistance==abc", "Point", "[1,2]", "invalid georel parameter"),
        ("near;maxDistance=500", "Point", "[1,2]", "invalid georel parameter"),
        ("near;maxDistance==500m", "Point", "[1,2]", "invalid georel parameter"),
        ("near;maxDistance==NaN", "Point", "[1,2]", "invalid georel parameter"),
        ("near;maxDistance==1e999", "Point", "[1,2]", "finite"),
        ("near;distance==5", "Point", "[1,2]", "invalid georel parameter 'distance==5'"),
        ("near;maxDistance==5;maxDistance==6", "Point", "[1,2]", "given twice"),
        ("near;maxDistance==100;minDistance==500", "Point", "[1,2]", "exceeds maxDistance"),
        ("within;maxDistance==5", "Polygon", S, "takes no parameters"),
        ("Within", "Polygon", S, "unknown georel 'Within'"),
        ("inside", "Polygon", S, "unknown georel"),
        ("", "Polygon", S, "must not be empty"),
        ("x" * 10_000, "Polygon", S, "too long"),
        (5, "Polygon", S, "georel must be a string"),
        ("within", 5, S, "geometry must be a string"),
        ("within", "point", "[1,2]", "did you mean 'Point'"),
        ("within", "Circle", "[1,2]", "unknown geometry 'Circle'"),
        ("within", "GeometryCollection", "[]", "unknown geometry"),
        ("within", "Point", "not json", "not a valid JSON array"),
        ("within", "Point", "[1,2", "not a valid JSON array"),
        ("within", "Point", "[NaN, 2]", "not a valid JSON array"),
        ("within", "Point", "{}", "must be a JSON array, got an object"),
        ("within", "Point", "12", "must be a JSON array, got a number"),
        ("within", "Point", "", "must not be empty"),
        ("within", "Point", 12, "must be a JSON array"),
        ("within", "Point", {"lon": 1}, "must be a JSON array"),
        ("within", "Point", "[1e999, 2]", "infinity"),
        ("within", "Point", "[200, 2]", "longitude"),
        ("within", "Polygon", "[1, 2]", "must be an array"),
    ],
)
def test_invalid_geoqueries(georel, geometry, coordinates, message):
    with pytest.raises(BadRequestData) as info:
        parse_geoq(georel, geometry, coordinates, None)
    assert message in info.value.detail


@pytest.mark.parametrize("geoproperty", ["", "a b", "loc\x00", 5, "x" * 5000])
def test_invalid_geoproperty(geoproperty):
    with pytest.raises(BadRequestData, match="geoproperty"):
        parse_geoq("within", "Point", "[1,2]", geoproperty)


def test_geoproperty_may_be_an_iri():
    gq = parse_geoq("within", "Point", "[1,2]", "https://example.org/ns#operationSpace")
    assert gq.geoproperty == "https://example.org/ns#operationSpace"


def test_hostile_coordinates_text():
    # 10,000 nested brackets: orjson stops at its depth limit, no RecursionError
    with pytest.raises(BadRequestData, match="not a valid JSON array"):
        parse_geoq("within", "Point", "[" * 10_000 + "]" * 10_000, None)
    with pytest.raises(BadRequestData):
        parse_geoq("within", "Point", deep_list(10_000), None)
    with pytest.raises(BadRequestData, match="more than"):
        parse_geoq("within", "MultiPoint", "[" + ",".join(["[1,2]"] * 100_001) + "]", None)
    with pytest.raises(BadRequestData, match="too long"):
        parse_geoq("within", "Point", "[" + " " * 9_000_000 + "1,2]", None)


def test_geoquery_constructor_validates():
    with pytest.raises(BadRequestData, match="unknown georel"):
        GeoQuery("nearby", pt(1, 2))
    with pytest.raises(BadRequestData, match="needs maxDistance"):
        GeoQuery("near", pt(1, 2))
    with pytest.raises(BadRequestData, match="non-negative"):
        GeoQuery("near", pt(1, 2), max_distance=-1.0)
    with pytest.raises(BadRequestData, match="non-negative"):
        GeoQuery("near", pt(1, 2), max_distance=math.nan)
    with pytest.raises(BadRequestData, match="number of metres"):
        GeoQuery("near", pt(1, 2), max_distance=True)
    with pytest.raises(BadRequestData, match="only apply to georel 'near'"):
        GeoQuery("within", poly(S), min_distance=5.0)
    with pytest.raises(BadRequestData, match="latitude"):
        GeoQuery("within", pt(1, 95))


def test_geoquery_is_hashable_and_caches_its_prepared_shape():
    a = parse_geoq("within", "Polygon", S, None)
    b = parse_geoq("within", "Polygon", S, None)
    assert a == b and hash(a) == hash(b)
    assert a.shape is a.shape
    assert shapely.is_prepared(a.shape)
    assert a.shape.equals(shapely.Polygon(S[0]))
    assert "_shape" not in repr(a)


# ------------------------------------------------------------------------------------------
# georels, hand-checked in Sejong
# ------------------------------------------------------------------------------------------

INSIDE = pt(127.29, 36.48)
OUTSIDE = pt(127.31, 36.48)
ON_EDGE = pt(127.30, 36.48)
ON_CORNER = pt(127.28, 36.47)
INNER_SQUARE = poly(square(127.285, 36.475, 127.295, 36.485))
OVERLAPPING_SQUARE = poly(square(127.29, 36.48, 127.31, 36.50))
TOUCHING_SQUARE = poly(square(127.30, 36.47, 127.32, 36.49))
FAR_SQUARE = poly(square(127.40, 36.60, 127.41, 36.61))
CROSSING_LINE = line((127.29, 36.48), (127.31, 36.48))
INNER_LINE = line((127.285, 36.475), (127.295, 36.485))
FAR_LINE = line((127.0, 36.0), (127.1, 36.1))


@pytest.mark.parametrize(
    ("entity", "expected"),
    [
        (INSIDE, True),
        (OUTSIDE, False),
        (ON_EDGE, False),  # ST_Within: the boundary is not the interior
        (ON_CORNER, False),
        (INNER_SQUARE, True),
        (OVERLAPPING_SQUARE, False),
        (poly(S), True),  # a geometry is within itself
        (INNER_LINE, True),
        (CROSSING_LINE, False),
        ({"type": "MultiPoint", "coordinates": [[127.29, 36.48], [127.285, 36.485]]}, True),
        ({"type": "MultiPoint", "coordinates": [[127.29, 36.48], [127.35, 36.485]]}, False),
    ],
)
def test_within(entity, expected):
    assert geo_matches(q("within", S_GEOM), entity) is expected


@pytest.mark.parametrize(
    ("entity", "query", "expected"),
    [
        (poly(S), INSIDE, True),
        (poly(S), OUTSIDE, False),
        (poly(S), ON_EDGE, False),  # ST_Contains(E, G): G must reach E's interior
        (poly(S), INNER_SQUARE, True),
        (poly(S), OVERLAPPING_SQUARE, False),
        (INNER_SQUARE, poly(S), False),
        (INSIDE, INSIDE, True),
        (INSIDE, poly(S), False),
        (CROSSING_LINE, pt(127.30, 36.48), True),  # a line contains its interior points
        (CROSSING_LINE, pt(127.29, 36.48), False),  # ... but not its end points
        (
            {"type": "MultiPolygon", "coordinates": [S, square(127.40, 36.60, 127.41, 36.61)]},
            pt(127.405, 36.605),
            True,
        ),
    ],
)
def test_contains(entity, query, expected):
    assert geo_matches(q("contains", query), entity) is expected


@pytest.mark.parametrize(
    ("entity", "expected"),
    [
        (INSIDE, True),
        (ON_EDGE, True),
        (ON_CORNER, True),
        (OUTSIDE, False),
        (CROSSING_LINE, True),
        (FAR_LINE, False),
        (OVERLAPPING_SQUARE, True),
        (TOUCHING_SQUARE, True),
        (FAR_SQUARE, False),
        ({"type": "MultiPoint", "coordinates": [[0, 0], [127.29, 36.48]]}, True),
        (
            {
                "type": "MultiLineString",
                "coordinates": [[[127.0, 36.0], [127.1, 36.1]], [[127.29, 36.40], [127.29, 36.60]]],
            },
            True,
        ),
    ],
)
def test_intersects_and_disjoint(entity, expected):
    assert geo_matches(q("intersects", S_GEOM), entity) is expected
    assert geo_matches(q("disjoint", S_GEOM), entity) is (not expected)


def test_intersects_with_point_query():
    assert geo_matches(q("intersects", INSIDE), poly(S)) is True
    assert geo_matches(q("intersects", OUTSIDE), poly(S)) is False
    assert geo_matches(q("intersects", INSIDE), INSIDE) is True
    assert geo_matches(q("disjoint", INSIDE), OUTSIDE) is True


@pytest.mark.parametrize(
    ("entity", "expected"),
    [
        (poly(S), True),
        # same square, another starting vertex and the other orientation
        (
            poly(
                [
                    [
                        [127.30, 36.49],
                        [127.30, 36.47],
                        [127.28, 36.47],
                        [127.28, 36.49],
                        [127.30, 36.49],
                    ]
                ]
            ),
            True,
        ),
        # same square with an extra collinear vertex
        (
            poly(
                [
                    [
                        [127.28, 36.47],
                        [127.29, 36.47],
                        [127.30, 36.47],
                        [127.30, 36.49],
                        [127.28, 36.49],
                        [127.28, 36.47],
                    ]
                ]
            ),
            True,
        ),
        ({"type": "MultiPolygon", "coordinates": [S]}, True),
        (INNER_SQUARE, False),
        (OVERLAPPING_SQUARE, False),
        (INSIDE, False),
    ],
)
def test_equals(entity, expected):
    assert geo_matches(q("equals", S_GEOM), entity) is expected


def test_equals_points():
    assert geo_matches(q("equals", INSIDE), pt(127.29, 36.48)) is True
    assert geo_matches(q("equals", INSIDE), {"type": "Point", "coordinates": [127.29, 36.48, 9]})
    assert geo_matches(q("equals", INSIDE), pt(127.29, 36.4801)) is False


@pytest.mark.parametrize(
    ("entity", "expected"),
    [
        (OVERLAPPING_SQUARE, True),
        (INNER_SQUARE, False),  # contained, not overlapping
        (poly(S), False),  # equal, not overlapping
        (TOUCHING_SQUARE, False),  # only boundaries meet
        (FAR_SQUARE, False),
        (INSIDE, False),  # different dimensions never overlap
        (CROSSING_LINE, False),
    ],
)
def test_overlaps(entity, expected):
    assert geo_matches(q("overlaps", S_GEOM), entity) is expected


def test_overlaps_of_lines():
    query = line((127.28, 36.48), (127.30, 36.48))
    assert geo_matches(q("overlaps", query), line((127.29, 36.48), (127.31, 36.48))) is True
    assert geo_matches(q("overlaps", query), line((127.29, 36.47), (127.29, 36.49))) is False


# ------------------------------------------------------------------------------------------
# near
# ------------------------------------------------------------------------------------------

NORTH_111 = pt(LON, LAT + 0.001)  # 111.195 m north
EAST_89 = pt(LON + 0.001, LAT)  # 89.40 m east


def near(max_d: float | None = None, min_d: float | None = None) -> GeoQuery:
    return GeoQuery("near", pt(LON, LAT), max_distance=max_d, min_distance=min_d)


@pytest.mark.parametrize(
    ("query", "entity", "expected"),
    [
        (near(max_d=112), NORTH_111, True),
        (near(max_d=111), NORTH_111, False),
        (near(min_d=111), NORTH_111, True),
        (near(min_d=112), NORTH_111, False),
        (near(max_d=90), EAST_89, True),
        (near(max_d=89), EAST_89, False),
        (near(max_d=0), pt(LON, LAT), True),
        (near(min_d=0), pt(LON, LAT), True),
        (near(min_d=1), pt(LON, LAT), False),
        (near(max_d=200, min_d=100), NORTH_111, True),  # annulus
        (near(max_d=200, min_d=100), EAST_89, False),
        (near(max_d=200, min_d=100), pt(LON, LAT + 0.002), False),  # 222 m
        (near(max_d=120_000), pt(126.9779, 37.5663), False),  # Seoul is ~120.5 km away
        (near(max_d=125_000), pt(126.9779, 37.5663), True),
    ],
)
def test_near_points(query, entity, expected):
    assert geo_matches(query, entity) is expected


def test_near_multipoint_uses_the_nearest_point():
    mp = {"type": "MultiPoint", "coordinates": [[LON, LAT + 0.01], [LON + 0.001, LAT]]}
    assert geo_matches(near(max_d=90), mp) is True
    assert geo_matches(near(max_d=89), mp) is False
    assert geo_matches(near(min_d=89), mp) is True
    assert geo_matches(near(min_d=90), mp) is False


@pytest.mark.parametrize(
    ("entity", "distance"),
    [
        # a street running east-west 0.001 degrees north: 111.2 m
        (line((LON - 0.01, LAT + 0.001), (LON + 0.01, LAT + 0.001)), 111.195),
        # a street running north-south 0.001 degrees east: 89.4 m
        (line((LON + 0.001, LAT - 0.01), (LON + 0.001, LAT + 0.01)), 89.40),
        # a park 0.002 degrees north (its southern edge is the nearest)
        (poly(square(LON - 0.005, LAT + 0.002, LON + 0.005, LAT + 0.004)), 222.39),
        (
            {
                "type": "MultiLineString",
                "coordinates": [
                    [[LON - 0.01, LAT + 0.001], [LON + 0.01, LAT + 0.001]],
                    [[LON - 0.01, LAT + 0.1], [LON + 0.01, LAT + 0.1]],
                ],
            },
            111.195,
        ),
    ],
)
def test_near_non_point_geometries(entity, distance):
    assert geo_matches(near(max_d=distance * 1.001), entity) is True
    assert geo_matches(near(max_d=distance * 0.999), entity) is False
    assert geo_matches(near(min_d=distance * 0.999), entity) is True
    assert geo_matches(near(min_d=distance * 1.001), entity) is False


def test_near_inside_a_polygon_is_distance_zero():
    assert geo_matches(near(max_d=0), poly(S)) is True
    assert geo_matches(near(min_d=0.001), poly(S)) is False
    # inside the hole of a polygon: the distance is to the hole's edge (0.001 deg north = 111 m)
    holed = poly(S + square(LON - 0.002, LAT - 0.002, LON + 0.002, LAT + 0.001))
    assert geo_matches(near(max_d=112), holed) is True
    assert geo_matches(near(max_d=110), holed) is False


def test_planar_distance_agrees_with_haversine_at_city_scale():
    # nearest point of a polygon is a vertex ~2 km away to the north-east
    corner = (LON + 0.015, LAT + 0.012)
    far_square = poly(square(corner[0], corner[1], corner[0] + 0.01, corner[1] + 0.01))
    exact = distance_m(LON, LAT, *corner)
    assert geo_matches(near(max_d=exact * 1.005), far_square) is True
    assert geo_matches(near(max_d=exact * 0.995), far_square) is False


# ------------------------------------------------------------------------------------------
# search_bbox
# ------------------------------------------------------------------------------------------


def test_search_bbox_of_plain_georels():
    for georel in ("within", "contains", "intersects", "equals", "overlaps"):
        assert search_bbox(q(georel, S_GEOM)) == (127.28, 36.47, 127.30, 36.49)
    assert search_bbox(q("disjoint", S_GEOM)) is None
    assert search_bbox(near(min_d=100)) is None


def test_search_bbox_of_near():
    min_lon, min_lat, max_lon, max_lat = search_bbox(near(max_d=1000))
    dlat = 1000 / M_PER_DEG_LAT
    dlon = dlat / math.cos(math.radians(LAT))
    assert min_lat == pytest.approx(LAT - dlat, rel=1e-6)
    assert max_lat == pytest.approx(LAT + dlat, rel=1e-6)
    assert min_lon == pytest.approx(LON - dlon, rel=1e-6)
    assert max_lon == pytest.approx(LON + dlon, rel=1e-6)
    box = search_bbox(near(max_d=0))
    assert box[0] <= LON <= box[2] and box[1] <= LAT <= box[3]


def test_search_bbox_near_the_antimeridian_and_the_poles():
    at_dateline = GeoQuery("near", pt(179.9999, 0), max_distance=1000)
    assert search_bbox(at_dateline)[0::2] == (-180.0, 180.0)
    at_pole = GeoQuery("near", pt(10, 89.999), max_distance=1000)
    assert search_bbox(at_pole) == (
        -180.0,
        pytest.approx(89.999 - 1000 / M_PER_DEG_LAT),
        180.0,
        90.0,
    )
    huge = GeoQuery("near", pt(0, 0), max_distance=30_000_000)
    assert search_bbox(huge) == (-180.0, -90.0, 180.0, 90.0)
    # a point across the dateline really is near, and inside the box
    assert geo_matches(at_dateline, pt(-179.9999, 0)) is True


def _in_box(lon: float, lat: float, box: tuple[float, float, float, float]) -> bool:
    return box[0] <= lon <= box[2] and box[1] <= lat <= box[3]


@pytest.mark.parametrize("lat0", [0.0, 36.48, 60.0, 80.0, -85.0])
def test_near_box_holds_the_widest_point_of_the_spherical_cap(lat0):
    # The cap of radius d reaches its largest longitude at a latitude nearer the pole than lat0,
    # where a degree of longitude is shorter: d / cos(lat0) alone would be too narrow.
    d = 50_000.0
    delta = d / EARTH_RADIUS_M
    phi0 = math.radians(lat0)
    lat_t = math.degrees(math.asin(math.sin(phi0) / math.cos(delta)))
    dlon_t = math.degrees(math.asin(math.sin(delta) / math.cos(phi0)))
    tangent = (LON + dlon_t * (1 - 1e-9), lat_t)
    assert distance_m(LON, lat0, *tangent) == pytest.approx(d, rel=1e-6)
    gq = GeoQuery("near", pt(LON, lat0), max_distance=d)
    assert geo_matches(gq, pt(*tangent))
    assert _in_box(*tangent, search_bbox(gq))
    if lat0 != 0.0:
        naive_dlon = math.degrees(delta / math.cos(phi0))
        assert LON + naive_dlon < tangent[0]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lon0=st.floats(-180, 180),
    lat0=st.floats(-90, 90),
    dlon=st.floats(-0.5, 0.5),
    dlat=st.floats(-0.5, 0.5),
    max_d=st.floats(0, 60_000),
)
def test_every_near_point_is_in_the_search_bbox(lon0, lat0, dlon, dlat, max_d):
    gq = GeoQuery("near", pt(lon0, lat0), max_distance=max_d)
    lon = (lon0 + dlon + 180.0) % 360.0 - 180.0
    lat = min(90.0, max(-90.0, lat0 + dlat))
    box = search_bbox(gq)
    if geo_matches(gq, pt(lon, lat)):
        assert _in_box(lon, lat, box)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lon0=st.floats(-179, 179),
    lat0=st.floats(-85, 85),
    offsets=st.lists(st.tuples(st.floats(-0.2, 0.2), st.floats(-0.2, 0.2)), min_size=2, max_size=4),
    max_d=st.floats(0, 20_000),
)
def test_every_near_line_intersects_the_search_bbox(lon0, lat0, offsets, max_d):
    gq = GeoQuery("near", pt(lon0, lat0), max_distance=max_d)
    coords = [[lon0 + a, min(90.0, max(-90.0, lat0 + b))] for a, b in offsets]
    entity = {"type": "LineString", "coordinates": coords}
    if geo_matches(gq, entity):
        assert shapely.intersects(shapely.box(*search_bbox(gq)), shapely.LineString(coords))


@settings(max_examples=100, deadline=None)
@given(
    lon=st.floats(127.2, 127.4),
    lat=st.floats(36.4, 36.6),
    georel=st.sampled_from(["within", "contains", "intersects", "equals", "overlaps"]),
)
def test_every_match_of_other_georels_is_in_the_search_bbox(lon, lat, georel):
    gq = q(georel, S_GEOM)
    if geo_matches(gq, pt(lon, lat)):
        assert _in_box(lon, lat, search_bbox(gq))


# ------------------------------------------------------------------------------------------
# hostile entity geometries never raise
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entity",
    [
        None,
        {},
        "Point",
        [127.29, 36.48],
        {"type": "Point"},
        {"type": "Point", "coordinates": "x"},
        {"type": "Point", "coordinates": [math.nan, 36.48]},
        {"type": "Point", "coordinates": []},
        {"type": "Polygon", "coordinates": [[["a"]]]},
        {"type": "MultiPoint", "coordinates": []},
        {"type": "GeometryCollection", "geometries": [INSIDE]},
        {"type": "LineString", "coordinates": deep_list(10_000)},
    ],
)
@pytest.mark.parametrize(
    "query",
    [
        q("within", S_GEOM),
        q("disjoint", S_GEOM),
        q("overlaps", S_GEOM),
        near(max_d=100),
        near(min_d=100),
    ],
    ids=["within", "disjoint", "overlaps", "near-max", "near-min"],
)
def test_broken_entity_geometry_matches_nothing(entity, query):
    assert geo_matches(query, entity) is False
