"""The synthetic city: deterministic by seed, sized on demand, placed around Sejong."""

from __future__ import annotations

import pytest

from cityhub.city.model import distance_m
from cityhub.city.synthetic import SEJONG, generate_city
from cityhub.city.virtual import synthetic_city


def test_the_same_seed_makes_the_same_city() -> None:
    assert synthetic_city(7, 8).entities() == synthetic_city(7, 8).entities()


def test_another_seed_makes_another_city() -> None:
    a, b = generate_city(1, 8), generate_city(2, 8)
    assert [j.point for j in a.junctions.values()] != [j.point for j in b.junctions.values()]


@pytest.mark.parametrize("size", [4, 12, 30])
def test_the_size_is_configurable_and_the_city_is_routable(size: int) -> None:
    model = generate_city(3, size)
    assert len(model.junctions) == (size + 1) ** 2
    # a grid of size x size blocks has 2 * size * (size + 1) streets; a few are missing
    streets = 2 * size * (size + 1)
    assert 0.85 * streets <= len(model.segments) - size <= streets
    graph = model.graph()
    corner, far = "j0-0", f"j{size}-{size}"
    route = graph.route(corner, far)
    assert route is not None
    assert route.length_m >= distance_m(model.junctions[corner].point,
                                        model.junctions[far].point) - 1


def test_the_default_city_is_around_sejong_with_districts_and_facilities() -> None:
    model = generate_city()
    lon, lat = model.centre()
    assert distance_m((lon, lat), SEJONG) < 500
    assert model.synthetic
    assert len(model.districts) == 16 and all(d.derived for d in model.districts)
    kinds = {p.kind for p in model.places}
    assert {"police", "fireStation", "hospital", "school", "shelter", "parking"} <= kinds
    assert any(s.oneway for s in model.segments)
    assert {s.road_class for s in model.segments} == {"primary", "residential"}


def test_an_absurd_size_is_refused() -> None:
    with pytest.raises(ValueError):
        generate_city(1, 1)
    with pytest.raises(ValueError):
        generate_city(1, 10_000)


def test_synthetic_entities_are_labelled_simulated() -> None:
    for entity in synthetic_city(1, 4).entities():
        assert entity["dataProvider"]["value"] == "CityHub virtual city (synthetic)", entity["id"]
        assert entity["scope"] == "/simulated"
