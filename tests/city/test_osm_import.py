"""The real central-Helsinki OpenStreetMap extract becomes a routable city model."""

from __future__ import annotations

import pytest

from cityhub.city.model import CityModel, distance_m
from cityhub.city.osm import read_osm
from cityhub.city.virtual import VirtualCity, stored_city, write_city

from .conftest import PAYLOADS


def test_the_extract_has_a_road_network_buildings_and_places(helsinki: CityModel) -> None:
    assert 900 <= len(helsinki.junctions) <= 1200
    assert 1000 <= len(helsinki.segments) <= 1300
    assert len(helsinki.buildings) >= 400
    kinds = {p.kind for p in helsinki.places}
    assert {"parking", "school", "fireStation", "chargingStation", "shelter"} <= kinds
    classes = {s.road_class for s in helsinki.segments}
    assert {"primary", "secondary", "residential"} <= classes
    assert "footway" not in classes and "cycleway" not in classes


def test_segment_lengths_and_attributes_are_plausible(helsinki: CityModel) -> None:
    total_km = sum(s.length_m for s in helsinki.segments) / 1000
    assert 20 < total_km < 60  # about 1 x 1.7 km of a dense city centre
    for seg in helsinki.segments:
        assert 0 < seg.length_m < 2000
        # a segment is at least as long as the straight line between its ends
        ends = distance_m(seg.coords[0], seg.coords[-1])
        assert seg.length_m >= ends - 0.01
        assert 1 <= seg.lanes <= 12 and 5 <= seg.speed_kmh <= 200
    assert any(s.oneway for s in helsinki.segments)
    assert any(not s.oneway for s in helsinki.segments)


def test_districts_are_derived_and_labelled_when_the_extract_has_no_boundaries(
        helsinki: CityModel) -> None:
    # the extract's administrative relations are clipped at its edge: none assembles
    assert len(helsinki.districts) >= 2
    assert all(d.derived and d.derived_from for d in helsinki.districts)
    assert "Kluuvi" in {d.name for d in helsinki.districts}


def test_a_route_exists_between_two_distant_junctions(helsinki: CityModel) -> None:
    graph = helsinki.graph()
    start = graph.nearest_junction(24.9370, 60.1650)  # south-west
    reachable = graph.reachable_from(start)
    assert len(reachable) > 0.8 * len(helsinki.junctions)
    goal = max(reachable, key=lambda j: distance_m(helsinki.junctions[start].point,
                                                   helsinki.junctions[j].point))
    route = graph.route(start, goal)
    assert route is not None
    crow = distance_m(helsinki.junctions[start].point, helsinki.junctions[goal].point)
    assert crow > 1000
    assert crow <= route.length_m < 2.5 * crow
    assert route.junctions[0] == start and route.junctions[-1] == goal
    assert len(route.segments) == len(route.junctions) - 1
    by_id = {s.id: s for s in helsinki.segments}
    assert route.length_m == pytest.approx(sum(by_id[s].length_m for s in route.segments))


def test_one_way_streets_are_routed_one_way_only() -> None:
    model = read_osm(PAYLOADS / "crossroads.osm")
    graph = model.graph()
    # way 11 runs n4 -> n2 -> n5 one-way; way 10 (n1 - n2 - n3) both ways
    forward = graph.route("n4", "n5")
    assert forward is not None and forward.junctions == ["n4", "n2", "n5"]
    assert graph.route("n5", "n4") is None
    assert graph.route("n3", "n1") is not None
    residential = next(s for s in model.segments if s.id == "w11-0")
    assert residential.oneway and residential.speed_kmh == pytest.approx(32.2)
    primary = next(s for s in model.segments if s.id == "w10-0")
    assert primary.lanes == 4 and primary.speed_kmh == 60
    assert [p.name for p in model.places_of("police")] == ["Test police station"]


@pytest.mark.anyio
async def test_the_city_is_written_through_the_broker_core(hub, helsinki_city: VirtualCity
                                                           ) -> None:
    summary = await write_city(hub, helsinki_city, "city-test")
    assert summary.counts["RoadSegment"] == len(helsinki_city.model.segments)
    assert summary.counts["RoadJunction"] == len(helsinki_city.model.junctions)
    assert summary.total == len(helsinki_city.entities())
    city = await stored_city(hub, "city-test")
    assert city is not None and city["id"] == "urn:ngsi-ld:City:helsinki"
    seg = helsinki_city.model.segments[0]
    stored = await hub.entities.retrieve("city-test",
                                         f"urn:ngsi-ld:RoadSegment:helsinki:{seg.id}")
    attrs = {k.rsplit("/", 1)[-1]: v[0] for k, v in stored.entity["attrs"].items()}
    assert attrs["length"]["value"] == pytest.approx(seg.length_m / 1000, abs=1e-5)
    assert attrs["length"]["unitCode"] == "KMT"
    assert attrs["source"]["value"].startswith("https://www.openstreetmap.org/way/")
    assert await stored_city(hub, "no-such-tenant") is None


def test_self_crossing_rings_are_dropped_or_repaired() -> None:
    from shapely.geometry import shape

    from cityhub.city.osm import _valid

    # libosmium's assembler drops a building whose ring crosses itself; the roads stay
    model = read_osm(PAYLOADS / "bowtie.osm")
    assert model.buildings == [] and len(model.segments) == 1
    # what gets through and is still invalid (after rounding, say) is repaired
    bow = {"type": "Polygon", "coordinates": [[(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)]]}
    repaired = _valid(bow)
    assert repaired is not None and repaired["type"] == "MultiPolygon"
    assert shape(repaired).is_valid and shape(repaired).area == pytest.approx(0.5)


@pytest.mark.anyio
async def test_an_entity_the_hub_refuses_is_skipped_and_reported(hub) -> None:
    from cityhub.city.model import District
    from cityhub.city.virtual import import_city

    city = import_city(PAYLOADS / "crossroads.osm")
    bow = {"type": "Polygon", "coordinates": [[[127.288, 36.48], [127.292, 36.4815],
                                               [127.292, 36.48], [127.288, 36.4815],
                                               [127.288, 36.48]]]}
    city.model.districts.append(District("bad", "Bad", bow))
    summary = await write_city(hub, city, "skips")
    assert [entity_id for entity_id, _ in summary.skipped] == \
        ["urn:ngsi-ld:District:crossroads:bad"]
    assert "invalid Polygon" in summary.skipped[0][1]
    assert summary.counts["District"] == len(city.model.districts) - 1
    assert summary.total == len(city.entities()) - 1
    assert await stored_city(hub, "skips") is not None
