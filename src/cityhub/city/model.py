"""The city model: junctions, road segments, districts, buildings and places, plus routing.

A `CityModel` is plain data, whatever made it (an OpenStreetMap extract or the synthetic
generator); `RoadGraph` is its road network as a directed graph (one-way segments one way) with
Dijkstra shortest paths by length. Coordinates are WGS 84 (longitude, latitude) everywhere.
"""

from __future__ import annotations

import heapq
import math
import re
from dataclasses import dataclass, field
from typing import Any

EARTH_RADIUS_M = 6_371_008.8

#: the kinds of place the city knows; OpenStreetMap tags are mapped onto these
PLACE_KINDS = ("police", "fireStation", "hospital", "clinic", "school", "shelter", "parking",
               "chargingStation", "wasteContainer")


def slug(name: str) -> str:
    """A name as an id part: lower-case letters, digits and '-'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "city"


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (lon, lat) points, in metres (haversine)."""
    lon1, lat1, lon2, lat2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def line_length_m(coords: list[tuple[float, float]]) -> float:
    return sum(distance_m(coords[i], coords[i + 1]) for i in range(len(coords) - 1))


def bearing_deg(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Initial compass bearing from a to b, degrees clockwise from north in [0, 360)."""
    lon1, lat1, lon2, lat2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    y = math.sin(lon2 - lon1) * math.cos(lat2)
    x = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(lon2 - lon1)
    return math.degrees(math.atan2(y, x)) % 360.0


@dataclass(slots=True)
class Junction:
    id: str
    lon: float
    lat: float

    @property
    def point(self) -> tuple[float, float]:
        return (self.lon, self.lat)


@dataclass(slots=True)
class Segment:
    """A stretch of road between two junctions, with no junction inside it."""

    id: str
    start: str  # junction id
    end: str  # junction id
    coords: list[tuple[float, float]]
    length_m: float
    lanes: int
    speed_kmh: float
    oneway: bool
    road_class: str
    name: str | None = None


@dataclass(slots=True)
class District:
    id: str
    name: str
    #: GeoJSON geometry (Polygon or MultiPolygon)
    geometry: dict[str, Any]
    #: True when the extract had no boundary and the district was derived (grid / Voronoi)
    derived: bool = False
    derived_from: str | None = None
    admin_level: int | None = None


@dataclass(slots=True)
class Building:
    id: str
    geometry: dict[str, Any]
    category: str
    name: str | None = None


@dataclass(slots=True)
class Place:
    """A point of interest: a police or fire station, hospital, school, shelter, parking..."""

    id: str
    kind: str  # one of PLACE_KINDS
    lon: float
    lat: float
    name: str | None = None
    #: the original category (e.g. the OSM amenity value: "university", "kindergarten")
    category: str | None = None
    capacity: int | None = None
    #: True when CityHub added it because the source had none of this kind
    derived: bool = False


@dataclass
class CityModel:
    name: str
    slug: str
    #: where the model comes from: "openstreetmap" or "synthetic"
    origin: str
    #: a human-readable source line (file name, seed and size)
    source: str
    junctions: dict[str, Junction] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)
    districts: list[District] = field(default_factory=list)
    buildings: list[Building] = field(default_factory=list)
    places: list[Place] = field(default_factory=list)

    @property
    def synthetic(self) -> bool:
        return self.origin == "synthetic"

    def bbox(self) -> tuple[float, float, float, float]:
        """(min lon, min lat, max lon, max lat) of the road network."""
        lons = [j.lon for j in self.junctions.values()]
        lats = [j.lat for j in self.junctions.values()]
        return (min(lons), min(lats), max(lons), max(lats))

    def centre(self) -> tuple[float, float]:
        w, s, e, n = self.bbox()
        return ((w + e) / 2, (s + n) / 2)

    def places_of(self, kind: str) -> list[Place]:
        return [p for p in self.places if p.kind == kind]

    def graph(self) -> RoadGraph:
        return RoadGraph(self)


@dataclass(slots=True)
class Route:
    junctions: list[str]
    segments: list[str]
    length_m: float


class RoadGraph:
    """The road network as a directed graph: junction -> [(neighbour, segment id, length)]."""

    def __init__(self, model: CityModel) -> None:
        self.junctions = model.junctions
        self.adjacency: dict[str, list[tuple[str, str, float]]] = {j: [] for j in model.junctions}
        for seg in model.segments:
            self.adjacency[seg.start].append((seg.end, seg.id, seg.length_m))
            if not seg.oneway:
                self.adjacency[seg.end].append((seg.start, seg.id, seg.length_m))

    def degree(self, junction: str) -> int:
        return len(self.adjacency[junction])

    def nearest_junction(self, lon: float, lat: float) -> str:
        scale = math.cos(math.radians(lat))
        return min(self.junctions.values(),
                   key=lambda j: ((j.lon - lon) * scale) ** 2 + (j.lat - lat) ** 2).id

    def route(self, a: str, b: str) -> Route | None:
        """The shortest path by length from junction a to junction b (None: unreachable)."""
        if a not in self.adjacency or b not in self.adjacency:
            raise KeyError(a if a not in self.adjacency else b)
        best: dict[str, float] = {a: 0.0}
        back: dict[str, tuple[str, str]] = {}
        heap: list[tuple[float, str]] = [(0.0, a)]
        while heap:
            dist, node = heapq.heappop(heap)
            if node == b:
                break
            if dist > best[node]:
                continue
            for nxt, seg, length in self.adjacency[node]:
                candidate = dist + length
                if candidate < best.get(nxt, math.inf):
                    best[nxt] = candidate
                    back[nxt] = (node, seg)
                    heapq.heappush(heap, (candidate, nxt))
        if b not in best:
            return None
        junctions, segments = [b], []
        while junctions[-1] != a:
            prev, seg = back[junctions[-1]]
            junctions.append(prev)
            segments.append(seg)
        return Route(junctions[::-1], segments[::-1], best[b])

    def reachable_from(self, a: str) -> set[str]:
        seen, todo = {a}, [a]
        while todo:
            for nxt, _, _ in self.adjacency[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen
