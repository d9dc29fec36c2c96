"""GeoJSON geometries and NGSI-LD geo-queries (ETSI GS CIM 009 v1.8, clause 4.10).

Geometries
----------
`validate_geometry` accepts the GeoJSON (RFC 7946) geometry objects an NGSI-LD GeoProperty or a
geo-query may carry: Point, MultiPoint, LineString, MultiLineString, Polygon and MultiPolygon.
GeometryCollection is *rejected* (it cannot be named in a geo-query either, and nested collections
would need recursion on untrusted input). It returns a normalised copy holding only ``type`` and
``coordinates`` (floats, lists); foreign members such as ``bbox`` or ``crs`` are dropped.

A position is ``[longitude, latitude]`` or ``[longitude, latitude, altitude]`` with longitude in
[-180, 180] and latitude in [-90, 90] (WGS 84). Rules: LineString >= 2 positions; Polygon rings
closed and >= 4 positions; Polygon / MultiPolygon must also be *valid* in the OGC sense (no
self-intersection, holes inside their shell, ...) so that the predicates below are well defined
here and in PostGIS alike; no empty geometry; at most `MAX_POSITIONS` positions. Altitude is kept
in the normalised copy but ignored by every predicate (all predicates are 2-D).

Geo-queries
-----------
From the query string (``georel``, ``geometry``, ``coordinates``, ``geoproperty``) or from the
``geoQ`` member of a subscription, `parse_geoq` builds a `GeoQuery`. Grammar of ``georel``::

    georel   = "near" 1*( ";" distance ) / "within" / "contains" / "intersects" / "equals"
               / "disjoint" / "overlaps"
    distance = ( "maxDistance" / "minDistance" ) "==" number      ; metres, >= 0

``near`` needs a Point query geometry and at least one distance; each distance may appear once and
minDistance must not exceed maxDistance (both together are a CityHub extension: an annulus).
``coordinates`` is a JSON array (as text in a query string, or already decoded from a body).
``georel``, ``geometry`` and ``coordinates`` come together or not at all; ``geoproperty`` alone is
ignored (it only says where to apply a geo-query) and defaults to ``location``.

Semantics (E = the entity's geometry, G = the query geometry), the same as PostGIS's:

* within: ST_Within(E, G)  * contains: ST_Contains(E, G)  * intersects, equals (topological),
  disjoint, overlaps: the OGC predicates (all symmetric).
* near: d(E, point) <= maxDistance and/or >= minDistance, in metres. For a Point (or MultiPoint)
  E the haversine great-circle distance on a sphere of radius `EARTH_RADIUS_M`; for any other E the
  distance from the point to the nearest point of E in a local equirectangular projection centred
  on the query point (well under 1 % error at city scale; 0 when the point lies inside E).

Apart from the haversine distance, coordinates are treated as planar longitude/latitude (as
GeoJSON and PostGIS ``geometry`` do): a non-point geometry crossing the antimeridian must be split,
as RFC 7946 recommends. An entity geometry that is not a usable geometry matches no georel (like
SQL NULL), it never raises.

`search_bbox` gives an R-tree prefilter box that every matching entity geometry intersects.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import shapely
from shapely.errors import ShapelyError

from cityhub.ngsild.errors import BadRequestData

#: Mean Earth radius (IUGG), metres.
EARTH_RADIUS_M = 6_371_008.8
#: The most positions a geometry may have.
MAX_POSITIONS = 100_000
#: The longest ``coordinates`` text accepted from a query string.
MAX_COORDINATES_TEXT = 8_000_000
MAX_GEOPROPERTY_LENGTH = 2048

GEOMETRY_TYPES: tuple[str, ...] = (
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
)
GEORELS: tuple[str, ...] = (
    "near",
    "within",
    "contains",
    "intersects",
    "equals",
    "disjoint",
    "overlaps",
)

_METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180.0
_DISTANCE_RE = re.compile(r"(maxDistance|minDistance)==([0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)")
_BAD_NAME_CHARS = re.compile(r"[\s\x00-\x1f\x7f]")
# A relative and an absolute safety margin for boxes, in degrees.
_BOX_REL_MARGIN = 1e-9
_BOX_ABS_MARGIN = 1e-9


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _where(path: tuple[int, ...]) -> str:
    return "coordinates" + "".join(f"[{i}]" for i in path)


def _describe(value: Any) -> str:
    """A short, safe description of a JSON value's type for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class _Budget:
    """Counts positions so that absurdly large inputs stop early."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def take(self) -> None:
        self.count += 1
        if self.count > MAX_POSITIONS:
            raise BadRequestData(f"geometry has more than {MAX_POSITIONS} positions")


def _array(value: Any, path: tuple[int, ...], what: str) -> list[Any] | tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        raise BadRequestData(f"{_where(path)} must be an array ({what}), got {_describe(value)}")
    return value


def _position(value: Any, path: tuple[int, ...], budget: _Budget) -> list[float]:
    if not isinstance(value, (list, tuple)):
        raise BadRequestData(
            f"{_where(path)} must be a position (an array of 2 or 3 numbers), "
            f"got {_describe(value)}"
        )
    if not 2 <= len(value) <= 3:
        raise BadRequestData(
            f"{_where(path)} must be a position of 2 or 3 numbers, got {len(value)} elements"
        )
    budget.take()
    out: list[float] = []
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise BadRequestData(f"{_where((*path, i))} must be a number, got {_describe(v)}")
        try:
            f = float(v)
        except OverflowError:
            raise BadRequestData(f"{_where((*path, i))} is not a finite number") from None
        if not math.isfinite(f):
            raise BadRequestData(f"{_where((*path, i))} is not a finite number")
        out.append(f)
    if not -180.0 <= out[0] <= 180.0:
        raise BadRequestData(f"{_where(path)}: longitude {out[0]!r} is outside [-180, 180]")
    if not -90.0 <= out[1] <= 90.0:
        raise BadRequestData(f"{_where(path)}: latitude {out[1]!r} is outside [-90, 90]")
    return out


def _positions(
    value: Any, path: tuple[int, ...], budget: _Budget, minimum: int, what: str
) -> list[list[float]]:
    items = _array(value, path, f"{what} of positions")
    if len(items) < minimum:
        if minimum <= 1:
            raise BadRequestData(f"{_where(path)}: a {what} must not be empty")
        raise BadRequestData(
            f"{_where(path)}: a {what} needs at least {minimum} positions, got {len(items)}"
        )
    return [_position(p, (*path, i), budget) for i, p in enumerate(items)]


def _ring(value: Any, path: tuple[int, ...], budget: _Budget) -> list[list[float]]:
    ring = _positions(value, path, budget, 4, "linear ring")
    if ring[0] != ring[-1]:
        raise BadRequestData(
            f"{_where(path)}: a linear ring must be closed (first and last positions equal)"
        )
    return ring


def _rings(value: Any, path: tuple[int, ...], budget: _Budget) -> list[list[list[float]]]:
    rings = _array(value, path, "polygon rings")
    if not rings:
        raise BadRequestData(f"{_where(path)}: a Polygon must have at least one ring")
    return [_ring(r, (*path, i), budget) for i, r in enumerate(rings)]


def _point(c: Any, b: _Budget) -> Any:
    return _position(c, (), b)


def _multipoint(c: Any, b: _Budget) -> Any:
    return _positions(c, (), b, 1, "MultiPoint")


def _linestring(c: Any, b: _Budget) -> Any:
    return _positions(c, (), b, 2, "LineString")


def _multilinestring(c: Any, b: _Budget) -> Any:
    lines = _array(c, (), "an array of LineStrings")
    if not lines:
        raise BadRequestData("coordinates: a MultiLineString must not be empty")
    return [_positions(line, (i,), b, 2, "LineString") for i, line in enumerate(lines)]


def _polygon(c: Any, b: _Budget) -> Any:
    return _rings(c, (), b)


def _multipolygon(c: Any, b: _Budget) -> Any:
    polygons = _array(c, (), "an array of Polygons")
    if not polygons:
        raise BadRequestData("coordinates: a MultiPolygon must not be empty")
    return [_rings(p, (i,), b) for i, p in enumerate(polygons)]


_COORDINATE_READERS: dict[str, Callable[[Any, _Budget], Any]] = {
    "Point": _point,
    "MultiPoint": _multipoint,
    "LineString": _linestring,
    "MultiLineString": _multilinestring,
    "Polygon": _polygon,
    "MultiPolygon": _multipolygon,
}


def validate_geometry(obj: Any) -> dict:
    """Validate a GeoJSON geometry; return a normalised copy ``{"type", "coordinates"}``.

    Raises `BadRequestData` (and nothing else) saying what is wrong and where.
    """
    if not isinstance(obj, dict):
        raise BadRequestData(f"a GeoJSON geometry must be a JSON object, got {_describe(obj)}")
    gtype = obj.get("type")
    if not isinstance(gtype, str):
        raise BadRequestData("a GeoJSON geometry needs a string member 'type'")
    if gtype == "GeometryCollection":
        raise BadRequestData(
            "GeometryCollection is not supported; use MultiPoint, MultiLineString or MultiPolygon"
        )
    reader = _COORDINATE_READERS.get(gtype)
    if reader is None:
        raise BadRequestData(
            f"unknown geometry type {gtype[:64]!r}; expected one of {', '.join(GEOMETRY_TYPES)}"
        )
    if "coordinates" not in obj:
        raise BadRequestData(f"the {gtype} geometry has no 'coordinates' member")
    coordinates = reader(obj["coordinates"], _Budget())
    geometry = {"type": gtype, "coordinates": coordinates}
    if gtype in ("Polygon", "MultiPolygon"):
        try:
            shape = _to_shape(geometry)
            reason = None if shapely.is_valid(shape) else shapely.is_valid_reason(shape)
        except (ShapelyError, ValueError) as exc:  # pragma: no cover - defensive
            raise BadRequestData(f"invalid {gtype}: {exc}") from None
        if reason is not None:
            raise BadRequestData(f"invalid {gtype}: {reason}")
    return geometry


# --------------------------------------------------------------------------------------------
# Bounding boxes
# --------------------------------------------------------------------------------------------


def _iter_positions(geometry: dict) -> Iterator[list[float]]:
    gtype = geometry.get("type")
    c = geometry.get("coordinates")
    if gtype == "Point":
        yield c
    elif gtype in ("MultiPoint", "LineString"):
        yield from c
    elif gtype in ("MultiLineString", "Polygon"):
        for part in c:
            yield from part
    elif gtype == "MultiPolygon":
        for polygon in c:
            for ring in polygon:
                yield from ring
    else:
        raise BadRequestData(f"not a supported geometry type: {str(gtype)[:64]!r}")


def bbox(geometry: dict) -> tuple[float, float, float, float]:
    """``(min_lon, min_lat, max_lon, max_lat)`` of a (validated) geometry."""
    min_lon = min_lat = math.inf
    max_lon = max_lat = -math.inf
    for p in _iter_positions(geometry):
        lon, lat = p[0], p[1]
        min_lon = min(min_lon, lon)
        max_lon = max(max_lon, lon)
        min_lat = min(min_lat, lat)
        max_lat = max(max_lat, lat)
    if min_lon > max_lon:
        raise BadRequestData("an empty geometry has no bounding box")
    return (min_lon, min_lat, max_lon, max_lat)


# --------------------------------------------------------------------------------------------
# Shapely conversion and distances
# --------------------------------------------------------------------------------------------


def _xy(positions: list[list[float]]) -> list[tuple[float, float]]:
    return [(p[0], p[1]) for p in positions]


def _to_shape(geometry: dict) -> shapely.Geometry:
    """A 2-D shapely geometry from a GeoJSON-like dict (altitudes dropped)."""
    gtype = geometry["type"]
    c = geometry["coordinates"]
    if gtype == "Point":
        return shapely.Point(float(c[0]), float(c[1]))
    if gtype == "MultiPoint":
        return shapely.MultiPoint(_xy(c))
    if gtype == "LineString":
        return shapely.LineString(_xy(c))
    if gtype == "MultiLineString":
        return shapely.MultiLineString([_xy(line) for line in c])
    if gtype == "Polygon":
        return shapely.Polygon(_xy(c[0]), [_xy(r) for r in c[1:]])
    if gtype == "MultiPolygon":
        return shapely.MultiPolygon([(_xy(p[0]), [_xy(r) for r in p[1:]]) for p in c])
    raise ValueError(f"unsupported geometry type {gtype!r}")


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle (haversine) distance in metres on a sphere of radius `EARTH_RADIUS_M`."""
    phi1 = math.radians(lat1)
    phi2 = math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2.0) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(min(math.sqrt(a), 1.0))  # NaN stays NaN


_ORIGIN = shapely.Point(0.0, 0.0)


def _planar_distance_m(shape: shapely.Geometry, lon0: float, lat0: float) -> float:
    """Distance from (lon0, lat0) to `shape` in an equirectangular projection centred there."""
    ky = _METRES_PER_DEGREE
    kx = ky * math.cos(math.radians(lat0))

    def project(xy: np.ndarray) -> np.ndarray:
        out = np.empty_like(xy)
        out[:, 0] = (xy[:, 0] - lon0) * kx
        out[:, 1] = (xy[:, 1] - lat0) * ky
        # micrometre resolution: GEOS yields NaN for segments of subnormal length
        return np.round(out, 6)

    return float(shapely.distance(shapely.transform(shape, project), _ORIGIN))


# --------------------------------------------------------------------------------------------
# Geo-queries
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GeoQuery:
    """A validated geo-query. Construction validates every member (raises `BadRequestData`).

    ``geometry`` is replaced by its normalised copy; the shapely geometry of the query is built
    and prepared once, here, because a query is evaluated against many entities.
    """

    georel: str
    geometry: dict = field(hash=False)
    geoproperty: str = "location"
    max_distance: float | None = None
    min_distance: float | None = None
    _shape: Any = field(default=None, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.georel, str) or self.georel not in GEORELS:
            raise BadRequestData(
                f"unknown georel {str(self.georel)[:64]!r}; expected one of {', '.join(GEORELS)}"
            )
        geometry = validate_geometry(self.geometry)
        object.__setattr__(self, "geometry", geometry)
        _check_geoproperty(self.geoproperty)
        for name in ("max_distance", "min_distance"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise BadRequestData(f"{name} must be a number of metres")
            value = float(value)
            if not math.isfinite(value) or value < 0:
                raise BadRequestData(f"{name} must be a finite, non-negative number of metres")
            object.__setattr__(self, name, value)
        if self.georel == "near":
            if geometry["type"] != "Point":
                raise BadRequestData(
                    f"georel 'near' needs a Point geometry, got {geometry['type']}"
                )
            if self.max_distance is None and self.min_distance is None:
                raise BadRequestData(
                    "georel 'near' needs maxDistance and/or minDistance, "
                    "e.g. 'near;maxDistance==500'"
                )
            if (
                self.max_distance is not None
                and self.min_distance is not None
                and self.min_distance > self.max_distance
            ):
                raise BadRequestData(
                    f"minDistance ({self.min_distance:g}) exceeds maxDistance "
                    f"({self.max_distance:g}): nothing can match"
                )
        elif self.max_distance is not None or self.min_distance is not None:
            raise BadRequestData(
                f"maxDistance/minDistance only apply to georel 'near', not {self.georel!r}"
            )
        shape = _to_shape(geometry)
        shapely.prepare(shape)
        object.__setattr__(self, "_shape", shape)

    @property
    def shape(self) -> shapely.Geometry:
        """The prepared 2-D shapely geometry of the query."""
        return self._shape


def _check_geoproperty(value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise BadRequestData("geoproperty must be a non-empty attribute name")
    if len(value) > MAX_GEOPROPERTY_LENGTH:
        raise BadRequestData(f"geoproperty is longer than {MAX_GEOPROPERTY_LENGTH} characters")
    bad = _BAD_NAME_CHARS.search(value)
    if bad is not None:
        raise BadRequestData(
            f"geoproperty contains an invalid character {bad.group()!r} at position {bad.start()}"
        )


def _parse_georel(text: str) -> tuple[str, float | None, float | None]:
    """``"near;maxDistance==500"`` -> ``("near", 500.0, None)``."""
    if not text:
        raise BadRequestData("georel must not be empty")
    if len(text) > 256:
        raise BadRequestData("georel is too long")
    rel, *params = text.split(";")
    if rel not in GEORELS:
        raise BadRequestData(
            f"unknown georel {rel[:64]!r}; expected one of {', '.join(GEORELS)} "
            "(names are case-sensitive)"
        )
    if rel != "near":
        if params:
            raise BadRequestData(f"georel {rel!r} takes no parameters, got {text[:64]!r}")
        return rel, None, None
    if not params:
        raise BadRequestData(
            "georel 'near' needs maxDistance and/or minDistance, e.g. 'near;maxDistance==500'"
        )
    distances: dict[str, float] = {}
    position = len(rel) + 1
    for param in params:
        m = _DISTANCE_RE.fullmatch(param)
        if m is None:
            raise BadRequestData(
                f"invalid georel parameter {param[:64]!r} at position {position}: expected "
                "'maxDistance==<metres>' or 'minDistance==<metres>' with a non-negative number"
            )
        name, number = m.group(1), float(m.group(2))
        if name in distances:
            raise BadRequestData(f"{name} is given twice in georel (position {position})")
        if not math.isfinite(number):
            raise BadRequestData(f"{name} must be a finite number (position {position})")
        distances[name] = number
        position += len(param) + 1
    return rel, distances.get("maxDistance"), distances.get("minDistance")


def _parse_coordinates(coordinates: Any) -> Any:
    if isinstance(coordinates, str):
        text = coordinates.strip()
        if not text:
            raise BadRequestData("coordinates must not be empty")
        if len(text) > MAX_COORDINATES_TEXT:
            raise BadRequestData("coordinates text is too long")
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise BadRequestData(f"coordinates is not a valid JSON array: {exc}") from None
        if not isinstance(value, list):
            raise BadRequestData(f"coordinates must be a JSON array, got {_describe(value)}")
        return value
    if isinstance(coordinates, (list, tuple)):
        return coordinates
    raise BadRequestData(f"coordinates must be a JSON array, got {_describe(coordinates)}")


def parse_geoq(
    georel: str | None,
    geometry: str | None,
    coordinates: Any,
    geoproperty: str | None,
) -> GeoQuery | None:
    """Build a `GeoQuery` from request parameters or a ``geoQ`` body member.

    Returns None when none of georel, geometry and coordinates is given (geoproperty alone is
    ignored); raises `BadRequestData` when only some are given or anything is invalid.
    """
    given = {"georel": georel, "geometry": geometry, "coordinates": coordinates}
    missing = [name for name, value in given.items() if value is None]
    if len(missing) == 3:
        return None
    if missing:
        present = [name for name in given if name not in missing]
        raise BadRequestData(
            f"a geo-query needs georel, geometry and coordinates together: "
            f"{', '.join(present)} given but {', '.join(missing)} missing"
        )
    if not isinstance(georel, str):
        raise BadRequestData(f"georel must be a string, got {_describe(georel)}")
    if not isinstance(geometry, str):
        raise BadRequestData(f"geometry must be a string, got {_describe(geometry)}")
    if geometry not in GEOMETRY_TYPES:
        hint = ""
        for name in GEOMETRY_TYPES:
            if name.lower() == geometry.lower():
                hint = f" (did you mean {name!r}? names are case-sensitive)"
        raise BadRequestData(
            f"unknown geometry {geometry[:64]!r}{hint}; expected one of {', '.join(GEOMETRY_TYPES)}"
        )
    rel, max_distance, min_distance = _parse_georel(georel.strip())
    coords = _parse_coordinates(coordinates)
    return GeoQuery(
        georel=rel,
        geometry={"type": geometry, "coordinates": coords},
        geoproperty="location" if geoproperty is None else geoproperty,
        max_distance=max_distance,
        min_distance=min_distance,
    )


def _widen(value: float) -> float:
    return value * (1.0 + _BOX_REL_MARGIN) + _BOX_ABS_MARGIN


def search_bbox(gq: GeoQuery) -> tuple[float, float, float, float] | None:
    """A box ``(min_lon, min_lat, max_lon, max_lat)`` every matching entity geometry intersects.

    None when no such box exists (disjoint; near with only minDistance). For near, the box
    holds the spherical cap of radius maxDistance around the point (and the equirectangular
    disc used for non-point geometries); it spans all longitudes when it would cross the
    antimeridian or reach a pole.
    """
    if gq.georel == "disjoint":
        return None
    if gq.georel != "near":
        return bbox(gq.geometry)
    if gq.max_distance is None:
        return None
    lon0, lat0 = gq.geometry["coordinates"][0], gq.geometry["coordinates"][1]
    delta = gq.max_distance / EARTH_RADIUS_M  # angular radius, radians
    dlat = _widen(math.degrees(delta))
    min_lat = lat0 - dlat
    max_lat = lat0 + dlat
    if min_lat <= -90.0 or max_lat >= 90.0 or delta >= math.pi / 2:
        return (-180.0, max(min_lat, -90.0), 180.0, min(max_lat, 90.0))
    cos_lat = math.cos(math.radians(lat0))
    ratio = math.sin(delta) / cos_lat
    cap = math.asin(ratio) if ratio < 1.0 else math.pi
    dlon = _widen(math.degrees(max(cap, delta / cos_lat)))
    if lon0 - dlon < -180.0 or lon0 + dlon > 180.0:
        return (-180.0, min_lat, 180.0, max_lat)
    return (lon0 - dlon, min_lat, lon0 + dlon, max_lat)


def _near_distance(lon0: float, lat0: float, entity_geometry: dict) -> float:
    gtype = entity_geometry["type"]
    c = entity_geometry["coordinates"]
    if gtype == "Point":
        return distance_m(lon0, lat0, float(c[0]), float(c[1]))
    if gtype == "MultiPoint":
        if not c:
            return math.nan
        return min(distance_m(lon0, lat0, float(p[0]), float(p[1])) for p in c)
    return _planar_distance_m(_to_shape(entity_geometry), lon0, lat0)


def geo_matches(gq: GeoQuery, entity_geometry: dict) -> bool:
    """Whether the entity geometry E satisfies the geo-query (see the module docstring)."""
    try:
        return _geo_matches(gq, entity_geometry)
    except (TypeError, KeyError, IndexError, ValueError, ShapelyError):
        return False


def _geo_matches(gq: GeoQuery, entity_geometry: dict) -> bool:
    gtype = entity_geometry["type"]
    if gq.georel == "near":
        lon0, lat0 = gq.geometry["coordinates"][0], gq.geometry["coordinates"][1]
        d = _near_distance(lon0, lat0, entity_geometry)
        if math.isnan(d):
            return False
        if gq.max_distance is not None and d > gq.max_distance:
            return False
        return not (gq.min_distance is not None and d < gq.min_distance)
    g = gq.shape
    if gtype == "Point":
        c = entity_geometry["coordinates"]
        x, y = float(c[0]), float(c[1])
        if not (math.isfinite(x) and math.isfinite(y)):
            return False
        if gq.georel == "within":
            return bool(shapely.contains_xy(g, x, y))
        if gq.georel == "intersects":
            return bool(shapely.intersects_xy(g, x, y))
        if gq.georel == "disjoint":
            return not shapely.intersects_xy(g, x, y)
    e = _to_shape(entity_geometry)
    if e.is_empty:
        return False
    rel = gq.georel
    if rel == "within":  # E within G  <=>  G contains E
        return bool(shapely.contains(g, e))
    if rel == "contains":  # E contains G  <=>  G within E
        return bool(shapely.within(g, e))
    if rel == "intersects":
        return bool(shapely.intersects(g, e))
    if rel == "disjoint":
        return bool(shapely.disjoint(g, e))
    if rel == "equals":
        return bool(shapely.equals(g, e))
    if rel == "overlaps":
        return bool(shapely.overlaps(g, e))
    return False  # pragma: no cover - georel is validated
