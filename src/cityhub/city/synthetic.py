"""A synthetic city, deterministic by seed: for benchmarks and for sizes no extract has.

The city is a road grid of `size` x `size` blocks around a centre (default near Sejong,
36.48N 127.29E) with irregularity: junctions are jittered, a few streets are missing, a diagonal
avenue crosses the grid, and every fourth street is a wider, faster arterial (some residential
streets are one-way). Districts are a grid of rectangles over it, named after Sejong's
neighbourhoods (labelled synthetic all the same); facilities (police and fire stations, a
hospital per four districts, schools, shelters, parking) sit beside junctions in each district.
"""

from __future__ import annotations

import math
import random

from cityhub.city.districts import grid_districts
from cityhub.city.model import (
    Building,
    CityModel,
    Junction,
    Place,
    Segment,
    line_length_m,
)

SEJONG = (127.29, 36.48)
DISTRICT_NAMES = ["Hansol", "Dodam", "Areum", "Jongchon", "Goun", "Boram", "Saerom", "Daepyeong",
                  "Sodam", "Bangok", "Naseong", "Eojin", "Dajeong", "Saeroum", "Haemil", "Yeondong"]


def generate_city(seed: int = 1, size: int = 12, *, centre: tuple[float, float] = SEJONG,
                  block_m: float = 250.0, name: str = "Sejong (synthetic)") -> CityModel:
    """A city of `size` x `size` blocks of about `block_m` metres; the same seed, the same city."""
    if not 2 <= size <= 400:
        raise ValueError("size must be between 2 and 400 blocks")
    rng = random.Random(seed)
    model = CityModel(name=name, slug=f"synthetic-{seed}-{size}", origin="synthetic",
                      source=f"CityHub synthetic generator, seed {seed}, {size} x {size} blocks")
    lon0, lat0 = centre
    dlat = block_m / 111_320.0
    dlon = block_m / (111_320.0 * math.cos(math.radians(lat0)))
    half = size / 2
    for r in range(size + 1):
        for c in range(size + 1):
            jitter_lon, jitter_lat = rng.uniform(-0.15, 0.15), rng.uniform(-0.15, 0.15)
            jid = f"j{r}-{c}"
            model.junctions[jid] = Junction(
                jid, round(lon0 + (c - half + jitter_lon) * dlon, 7),
                round(lat0 + (r - half + jitter_lat) * dlat, 7))
    for r in range(size + 1):
        for c in range(size + 1):
            for dr, dc in ((0, 1), (1, 0)):
                r2, c2 = r + dr, c + dc
                if r2 > size or c2 > size:
                    continue
                line = r if dr == 0 else c
                arterial = line % 4 == 0
                if not arterial and rng.random() < 0.06:
                    continue  # a missing street
                _add_segment(model, rng, f"j{r}-{c}", f"j{r2}-{c2}", arterial)
    for k in range(size):  # the diagonal avenue
        _add_segment(model, rng, f"j{k}-{k}", f"j{k + 1}-{k + 1}", True, name="Diagonal Avenue")
    rows = cols = max(1, min(4, size // 3))
    model.districts = grid_districts(model.bbox(), rows, cols, DISTRICT_NAMES)
    _facilities(model, rng, rows, cols, dlon, dlat)
    return model


def _add_segment(model: CityModel, rng: random.Random, a: str, b: str, arterial: bool,
                 name: str | None = None) -> None:
    ja, jb = model.junctions[a], model.junctions[b]
    oneway = not arterial and rng.random() < 0.15
    coords = [ja.point, jb.point]
    model.segments.append(Segment(
        id=f"s{len(model.segments)}", start=a, end=b, coords=coords,
        length_m=round(line_length_m(coords), 2),
        lanes=(4 if arterial else (1 if oneway else 2)),
        speed_kmh=60.0 if arterial else rng.choice([30.0, 50.0]), oneway=oneway,
        road_class="primary" if arterial else "residential", name=name))


def _facilities(model: CityModel, rng: random.Random, rows: int, cols: int, dlon: float,
                dlat: float) -> None:
    junctions = list(model.junctions.values())
    w, s, e, n = model.bbox()
    for index, district in enumerate(model.districts):
        r, c = divmod(index, cols)
        x0, x1 = w + (e - w) * c / cols, w + (e - w) * (c + 1) / cols
        y0, y1 = s + (n - s) * r / rows, s + (n - s) * (r + 1) / rows
        inside = [j for j in junctions if x0 <= j.lon < x1 and y0 <= j.lat < y1] or junctions
        kinds = ["police", "fireStation", "school", "school", "shelter", "parking", "parking",
                 "parking", "chargingStation", "wasteContainer", "wasteContainer"]
        if index % 4 == 0:
            kinds.append("hospital")
        for k, kind in enumerate(kinds):
            j = rng.choice(inside)
            lon = round(j.lon + rng.uniform(0.15, 0.35) * dlon, 7)
            lat = round(j.lat + rng.uniform(0.15, 0.35) * dlat, 7)
            capacity = rng.randrange(60, 600, 10) if kind == "parking" else None
            model.places.append(Place(f"p{index}-{k}", kind, lon, lat,
                                      f"{district.name} {kind} {k + 1}", kind, capacity))
            if kind in ("police", "fireStation", "hospital", "school"):
                model.buildings.append(_block_building(f"b{index}-{k}", lon, lat, kind, dlon,
                                                       dlat))


def _block_building(bid: str, lon: float, lat: float, category: str, dlon: float,
                    dlat: float) -> Building:
    hx, hy = 0.08 * dlon, 0.08 * dlat
    ring = [(round(lon - hx, 7), round(lat - hy, 7)), (round(lon + hx, 7), round(lat - hy, 7)),
            (round(lon + hx, 7), round(lat + hy, 7)), (round(lon - hx, 7), round(lat + hy, 7))]
    ring.append(ring[0])
    return Building(bid, {"type": "Polygon", "coordinates": [ring]}, category)

