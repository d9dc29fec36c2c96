"""Read an OpenStreetMap extract (.osm.pbf or .osm XML) into a `CityModel`.

One pass with pyosmium (libosmium, C++) collects the drivable road ways, the buildings and
amenity areas (multipolygons assembled by osmium), administrative boundaries and points of
interest. Road ways are then split at every node two road ways share (and at their ends): those
nodes become junctions, the pieces between them road segments.

Hostile files are refused before any of them is used: a missing or empty file, an unknown
suffix, an XML file whose prolog declares a DTD or entities (OSM XML never needs one; entity
expansion is how XML bombs work), and anything libosmium cannot decode (a truncated or corrupt
.pbf). Nothing is written anywhere until the whole file has been read.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from cityhub.city.errors import CityFileError
from cityhub.city.model import (
    Building,
    CityModel,
    District,
    Junction,
    Place,
    Segment,
    line_length_m,
    slug,
)

#: road classes (OSM highway=*) that make the drivable network
ROAD_CLASSES = {
    "motorway": (2, 100), "trunk": (2, 80), "primary": (2, 50), "secondary": (2, 50),
    "tertiary": (1, 40), "unclassified": (1, 40), "residential": (1, 30),
    "living_street": (1, 20), "service": (1, 20), "road": (1, 40),
    "motorway_link": (1, 60), "trunk_link": (1, 50), "primary_link": (1, 40),
    "secondary_link": (1, 40), "tertiary_link": (1, 30),
}
#: OSM amenity / emergency / healthcare values -> the city's place kinds
AMENITY_KINDS = {
    "police": "police", "fire_station": "fireStation", "hospital": "hospital",
    "clinic": "clinic", "school": "school", "kindergarten": "school", "college": "school",
    "university": "school", "shelter": "shelter", "parking": "parking",
    "charging_station": "chargingStation", "waste_basket": "wasteContainer",
    "waste_disposal": "wasteContainer", "recycling": "wasteContainer",
}
#: largest extract accepted, in bytes (a city's extract is tens of MB; a country's is not a city)
MAX_FILE_BYTES = 1 << 30
_XML_PROLOG_BYTES = 64 * 1024
_SUFFIXES = (".osm.pbf", ".pbf", ".osm")
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh)?\s*$")


def read_osm(path: str | Path, *, name: str | None = None) -> CityModel:
    """The city model of the extract at `path`; CityFileError when it cannot be used."""
    import osmium

    file = _check_file(Path(path))
    reader = _ExtractReader()
    try:
        processor = osmium.FileProcessor(str(file)).with_areas().with_locations()
        for obj in processor:
            reader.take(obj)
    except (RuntimeError, ValueError, OSError) as exc:
        raise CityFileError(
            f"{file.name} is not a readable OpenStreetMap extract ({_short(exc)})") from None
    return reader.model(name or _city_name(file), file.name)


def _check_file(file: Path) -> Path:
    if not file.exists():
        raise CityFileError(f"{file} does not exist")
    if not file.is_file():
        raise CityFileError(f"{file} is not a file")
    size = file.stat().st_size
    if size == 0:
        raise CityFileError(f"{file.name} is empty")
    if size > MAX_FILE_BYTES:
        raise CityFileError(f"{file.name} is larger than {MAX_FILE_BYTES >> 20} MiB; "
                            "cut a city-sized extract first (osmium extract)")
    lower = file.name.lower()
    if not lower.endswith(_SUFFIXES):
        raise CityFileError(f"{file.name}: expected an .osm.pbf or .osm file")
    if lower.endswith(".osm"):
        _check_xml_prolog(file)
    return file


def _check_xml_prolog(file: Path) -> None:
    with file.open("rb") as handle:
        head = handle.read(_XML_PROLOG_BYTES)
    root = head.find(b"<osm")
    prolog = head if root < 0 else head[:root]
    if b"<!DOCTYPE" in prolog.upper() or b"<!ENTITY" in prolog.upper():
        raise CityFileError(f"{file.name} declares a DTD or entities, which OSM XML never "
                            "needs; refusing it (possible XML bomb)")
    if root < 0:
        raise CityFileError(f"{file.name} is not OSM XML (no <osm> element at its start)")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _city_name(file: Path) -> str:
    stem = file.name
    for suffix in _SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return stem.replace("_", " ").replace("-", " ").strip().title() or "City"


def _int_tag(value: str | None) -> int | None:
    if value is None:
        return None
    match = _NUMBER.match(value.split(";")[0])
    return int(float(match.group(1))) if match else None


def _speed_tag(value: str | None) -> float | None:
    if value is None:
        return None
    match = _NUMBER.match(value.split(";")[0])
    if not match:
        return None
    speed = float(match.group(1))
    return round(speed * 1.609344, 1) if match.group(2) == "mph" else speed


class _ExtractReader:
    def __init__(self) -> None:
        #: (way id, node ids, coordinates, tags we keep)
        self.roads: list[tuple[int, list[int], list[tuple[float, float]], dict[str, str]]] = []
        self.buildings: list[Building] = []
        self.places: list[Place] = []
        self.boundaries: list[District] = []
        self.place_nodes: list[tuple[str, float, float]] = []

    def take(self, obj: Any) -> None:
        tags = obj.tags
        if obj.is_node():
            if len(tags) == 0:
                return
            self._node(obj, tags)
        elif obj.is_way():
            highway = tags.get("highway")
            if highway in ROAD_CLASSES and tags.get("area") != "yes":
                self._road(obj, tags)
        elif obj.is_area():
            self._area(obj, tags)

    def _node(self, node: Any, tags: Any) -> None:
        loc = node.location
        if not loc.valid():
            return
        kind = _place_kind(tags)
        if kind is not None:
            self.places.append(_place(f"n{node.id}", kind, loc.lon, loc.lat, tags))
        if tags.get("place") in ("suburb", "quarter", "neighbourhood", "borough") \
                and tags.get("name"):
            self.place_nodes.append((tags["name"], loc.lon, loc.lat))

    def _road(self, way: Any, tags: Any) -> None:
        ids, coords = [], []
        for node in way.nodes:
            if not node.location.valid():
                continue  # a node outside the extract: the way is clipped there
            ids.append(node.ref)
            coords.append((node.location.lon, node.location.lat))
        if len(ids) < 2:
            return
        kept = {k: tags.get(k) for k in ("highway", "name", "lanes", "maxspeed", "oneway",
                                         "junction") if k in tags}
        self.roads.append((way.id, ids, coords, kept))

    def _area(self, area: Any, tags: Any) -> None:
        geometry = _area_geometry(area)
        if geometry is None:
            return
        area_id = f"{'w' if area.from_way() else 'r'}{area.orig_id()}"
        kind = _place_kind(tags)
        if kind is not None:
            lon, lat = _centroid(geometry)
            self.places.append(_place(area_id, kind, lon, lat, tags))
        if "building" in tags and tags.get("building") != "no":
            self.buildings.append(Building(area_id, geometry, tags.get("building") or "yes",
                                           tags.get("name")))
        if tags.get("boundary") == "administrative" and tags.get("name"):
            self.boundaries.append(District(area_id, tags["name"], geometry,
                                            admin_level=_int_tag(tags.get("admin_level"))))

    def model(self, name: str, file_name: str) -> CityModel:
        model = CityModel(name=name, slug=slug(name), origin="openstreetmap",
                          source=f"OpenStreetMap extract {file_name}")
        self._split_roads(model)
        if not model.segments:
            raise CityFileError(f"{file_name} holds no drivable road network")
        model.buildings = self.buildings
        model.places = self.places
        model.districts = self._districts(model)
        return model

    def _split_roads(self, model: CityModel) -> None:
        uses = Counter(ref for _, ids, _, _ in self.roads for ref in ids)
        for _, ids, _, _ in self.roads:
            uses[ids[0]] += 2  # way ends are always junctions
            uses[ids[-1]] += 2
        for way_id, ids, coords, tags in self.roads:
            highway = tags["highway"]
            default_lanes, default_speed = ROAD_CLASSES[highway]
            oneway_tag = tags.get("oneway")
            if oneway_tag == "-1":
                ids, coords = ids[::-1], coords[::-1]
            oneway = (oneway_tag in ("yes", "true", "1", "-1")
                      or (oneway_tag is None and (tags.get("junction") == "roundabout"
                                                  or highway == "motorway")))
            lanes = _int_tag(tags.get("lanes")) or (default_lanes if oneway
                                                    else 2 * default_lanes)
            speed = _speed_tag(tags.get("maxspeed")) or float(default_speed)
            start, piece = 0, 0
            for i in range(1, len(ids)):
                if uses[ids[i]] < 2 and i != len(ids) - 1:
                    continue
                piece_coords = coords[start: i + 1]
                for k in (start, i):
                    model.junctions.setdefault(f"n{ids[k]}", Junction(f"n{ids[k]}", *coords[k]))
                model.segments.append(Segment(
                    id=f"w{way_id}-{piece}", start=f"n{ids[start]}", end=f"n{ids[i]}",
                    coords=piece_coords, length_m=round(line_length_m(piece_coords), 2),
                    lanes=max(1, min(lanes, 12)), speed_kmh=max(5.0, min(speed, 200.0)),
                    oneway=oneway, road_class=highway, name=tags.get("name")))
                start, piece = i, piece + 1

    def _districts(self, model: CityModel) -> list[District]:
        from cityhub.city.districts import derive_districts

        levels = Counter(d.admin_level for d in self.boundaries if d.admin_level is not None)
        # the finest administrative level that divides the city (two areas or more)
        fine = sorted((lvl for lvl, n in levels.items() if n >= 2 and lvl >= 7), reverse=True)
        if fine:
            return [d for d in self.boundaries if d.admin_level == fine[0]]
        return derive_districts(model, self.place_nodes)


def _place_kind(tags: Any) -> str | None:
    amenity = tags.get("amenity")
    if amenity in AMENITY_KINDS:
        return AMENITY_KINDS[amenity]
    if tags.get("healthcare") == "hospital":
        return "hospital"
    if tags.get("emergency") == "assembly_point" or tags.get("social_facility") == "shelter":
        return "shelter"
    return None


def _place(place_id: str, kind: str, lon: float, lat: float, tags: Any) -> Place:
    return Place(place_id, kind, round(lon, 7), round(lat, 7), tags.get("name"),
                 tags.get("amenity") or tags.get("healthcare") or tags.get("emergency"),
                 _int_tag(tags.get("capacity")))


def _area_geometry(area: Any) -> dict[str, Any] | None:
    polygons = []
    for outer in area.outer_rings():
        rings = [[(round(n.lon, 7), round(n.lat, 7)) for n in outer]]
        rings += [[(round(n.lon, 7), round(n.lat, 7)) for n in inner]
                  for inner in area.inner_rings(outer)]
        if len(rings[0]) >= 4:
            polygons.append(rings)
    if not polygons:
        return None
    if len(polygons) == 1:
        return _valid({"type": "Polygon", "coordinates": polygons[0]})
    return _valid({"type": "MultiPolygon", "coordinates": polygons})


def _valid(geometry: dict[str, Any]) -> dict[str, Any] | None:
    """The geometry, repaired when OSM's rings cross themselves (real data does), or None when
    nothing polygonal is left; the hub refuses invalid polygons."""
    import shapely
    from shapely.geometry import mapping, shape

    polygon = shape(geometry)
    if polygon.is_valid:
        return geometry
    repaired = shapely.make_valid(polygon)
    if repaired.geom_type == "GeometryCollection":
        parts = [g for g in repaired.geoms if g.geom_type in ("Polygon", "MultiPolygon")]
        repaired = shapely.union_all(parts) if parts else None
    if repaired is None or repaired.is_empty or repaired.geom_type not in ("Polygon",
                                                                          "MultiPolygon"):
        return None
    fixed = mapping(shapely.set_precision(repaired, 1e-7))
    return {"type": fixed["type"], "coordinates": fixed["coordinates"]}


def _centroid(geometry: dict[str, Any]) -> tuple[float, float]:
    from shapely.geometry import shape

    point = shape(geometry).representative_point()
    return (round(point.x, 7), round(point.y, 7))
