"""Store contract, geo-queries: every georel on points, lines and polygons around Sejong
(36.48 N, 127.29 E), checked against the stated answer and the in-memory `geo_matches`."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.ngsild.geo import GeoQuery
from cityhub.store.base import Delete, EntityQuery, Put, Store

from .support import (
    LAT,
    LATER,
    LON,
    entity,
    found,
    geo,
    memory_geo,
    new_tenant,
    point,
    put_all,
    q,
    square,
    urn,
)

pytestmark = pytest.mark.anyio

T = new_tenant()
#: the reference square: 127.28..127.30 E, 36.47..36.49 N (about 1.8 km x 2.2 km)
SQUARE = square(127.28, 36.47, 127.30, 36.49)


def located(name: str, geometry: dict[str, Any], attribute: str = "location") -> dict[str, Any]:
    return {"id": name, "type": "Place", attribute: {"type": "GeoProperty", "value": geometry}}


GEO_DATASET = [
    located("P0", point(LON, LAT)),  # the centre
    located("P1", point(LON, 36.481)),  # 111 m north
    located("P2", point(LON, 36.49)),  # 1.1 km north, on the square's edge
    located("P3", point(127.40, 36.60)),  # 16 km away
    located("SQ", SQUARE),
    located("SMALL", square(127.289, 36.479, 127.291, 36.481)),  # around the centre
    located("LINE", {"type": "LineString", "coordinates": [[127.25, 36.45], [127.35, 36.45]]}),
    located("OVL", square(127.295, 36.485, 127.31, 36.50)),  # overlaps the square
    located("MP", {"type": "MultiPoint", "coordinates": [[127.29, 36.50], [127.50, 36.50]]}),
    located("EDGE", point(127.30, LAT)),  # on the square's east edge, 895 m east
    located("OS", square(127.0, 36.0, 128.0, 37.0), "observationSpace"),
    {"id": "NONE", "type": "Place", "name": "no geometry"},
    {"id": "MULTI", "type": "Place", "location": [
        {"type": "GeoProperty", "value": point(127.6, 36.9), "datasetId": "urn:ds:a"},
        {"type": "GeoProperty", "value": point(LON, 36.4805), "datasetId": "urn:ds:b"}]},
]

CENTRE = point(LON, LAT)
GEO_CASES: list[tuple[GeoQuery, list[str]]] = [
    (geo("near;maxDistance==200", CENTRE), ["P0", "P1", "SQ", "SMALL", "MULTI"]),
    (geo("near;maxDistance==1000", CENTRE),
     ["P0", "P1", "SQ", "SMALL", "OVL", "EDGE", "MULTI"]),
    (geo("near;minDistance==1000", CENTRE), ["P2", "P3", "LINE", "MP", "MULTI"]),
    (geo("near;minDistance==100;maxDistance==1200", CENTRE),
     ["P1", "P2", "OVL", "EDGE"]),
    (geo("near;maxDistance==0", CENTRE), ["P0", "SQ", "SMALL"]),
    (geo("within", SQUARE), ["P0", "P1", "SQ", "SMALL", "MULTI"]),  # not P2, EDGE: boundary
    (geo("contains", CENTRE), ["P0", "SQ", "SMALL"]),
    (geo("intersects", SQUARE), ["P0", "P1", "P2", "SQ", "SMALL", "OVL", "EDGE", "MULTI"]),
    (geo("disjoint", SQUARE), ["P3", "LINE", "MP", "MULTI"]),
    (geo("equals", SQUARE), ["SQ"]),
    (geo("equals", CENTRE), ["P0"]),
    (geo("overlaps", SQUARE), ["OVL"]),
    (geo("intersects", {"type": "LineString",
                        "coordinates": [[127.20, 36.40], [127.30, 36.50]]}), ["SQ", "LINE", "OVL"]),
    (geo("within", square(127.0, 36.0, 128.0, 37.0), "observationSpace"), ["OS"]),
    (geo("contains", CENTRE, "observationSpace"), ["OS"]),
]


@pytest.fixture
async def places(store: Store) -> list[dict[str, Any]]:
    return await put_all(store, T, GEO_DATASET)


async def test_georels(store: Store, places: list[dict[str, Any]]) -> None:
    wrong = {}
    for geoq, expected in GEO_CASES:
        memory = memory_geo(places, geoq)
        assert sorted(memory) == sorted(expected), geoq
        got = await found(store, T, geoq=geoq)
        if got != memory:
            wrong[f"{geoq.georel} {geoq.max_distance} {geoq.min_distance}"] = (got, memory)
    assert wrong == {}


async def test_geo_combines_with_other_filters(store: Store, places: list[dict[str, Any]]) -> None:
    near = geo("near;maxDistance==1000", CENTRE)
    result = await store.query(T, EntityQuery(geoq=near, q=q("!location[coordinates]"),
                                              limit=2, offset=1, count=True))
    assert result.count == 7
    assert [e.entity["id"][-2:] for e in result.entities] == ["P1", "SQ"]


async def test_geo_follows_updates_and_deletes(store: Store, places: list[dict[str, Any]]) -> None:
    moved = entity(located("P3", point(LON, 36.4801)), LATER)
    outcomes = await store.write(T, [Put(moved, LATER), Delete(urn("P1"))])
    assert [o.error for o in outcomes] == [None, None]
    assert await found(store, T, geoq=geo("near;maxDistance==50", CENTRE)) == [
        "P0", "P3", "SQ", "SMALL"]
    assert await store.delete_matching(T, EntityQuery(geoq=geo("within", SQUARE))) == 5
    assert await found(store, T, geoq=geo("intersects", SQUARE)) == ["P2", "OVL", "EDGE"]
