"""The PostgreSQL dialect of the shared query compiler: `~` regexes and PostGIS geo-queries.

`PostgresCompiler` fills the two dialect hooks of `store.sql.QueryCompiler` and passes entity id
lists as one array parameter (`e.id = ANY($n)`) instead of one placeholder per id. `finish`
renumbers the `?` placeholders to `$1..$n` and rewrites each regex parameter from Python syntax
to ARE (`are.to_are`), comparing under a Unicode-aware collation only when the pattern uses
character classes, word boundaries or case folding.

Geo-queries run on `geo_index.geom` (`geometry(Geometry, 4326)`, GiST-indexed) with the
semantics of the in-memory `ngsild.geo.geo_matches`:

* within / contains / intersects / equals / disjoint / overlaps: the PostGIS predicate of the
  same name on (entity geometry, query geometry), all 2-D;
* near: for Point and MultiPoint entities the great-circle distance on the sphere
  (`ST_Distance(geography, geography, false)` scaled from PostGIS's mean WGS 84 radius to
  `EARTH_RADIUS_M`, i.e. the haversine distance); for other geometries the planar distance in
  the local equirectangular projection centred on the query point (`ST_Affine`), exactly as
  `geo_matches` computes it. maxDistance keeps `d <= max`, minDistance keeps `d >= min`.
  A bounding-box test (`&&` with `ngsild.geo.search_bbox`) lets the GiST index prune first.

PostGIS declares its functions expensive, so for `ORDER BY eid LIMIT n` the planner likes a
nested loop that rescans the materialised geo matches for every entity (seconds at 100,000
entities). For pages the geo test is therefore wrapped (`COALESCE(e.eid IN (...), false)`),
which keeps the planner from turning it into a join: the subquery runs once, into a hash the
ordered entity scan probes. Counts and deletes keep the plain semi-join, which plans well.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any

import orjson

from cityhub.ngsild.geo import EARTH_RADIUS_M, GeoQuery, search_bbox
from cityhub.store.base import EntitySelector
from cityhub.store.postgres.are import to_are
from cityhub.store.sql import NAME_ID, QueryCompiler

#: the sphere PostGIS uses for geography with use_spheroid = false: WGS 84's mean radius
POSTGIS_SPHERE_RADIUS_M = (2 * 6378137.0 + 6356752.314245179) / 3
_SPHERE_SCALE = EARTH_RADIUS_M / POSTGIS_SPHERE_RADIUS_M
_METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180.0

#: stands for " ~ ?" (with the collation decided later) in SQL built by `regex()`
_REGEX_MARK = "\x01"
_PLACEHOLDER = re.compile("\x01|\\?")

_PREDICATES = {
    "within": "ST_Within(g.geom, {q})",
    "contains": "ST_Contains(g.geom, {q})",
    "intersects": "ST_Intersects(g.geom, {q})",
    "equals": "ST_Equals(g.geom, {q})",
    "disjoint": "ST_Disjoint(g.geom, {q})",
    "overlaps": "ST_Overlaps(g.geom, {q})",
}
_QUERY_GEOMETRY = "ST_SetSRID(ST_GeomFromGeoJSON(?::text), 4326)"
#: the distance d(E, point) of `geo_matches` in metres; parameters: lon0, lat0, sphere scale,
#: and the affine map (kx, ky, -lon0 kx, -lat0 ky) of the local equirectangular projection
_DISTANCE = (
    "(CASE WHEN ST_GeometryType(g.geom) IN ('ST_Point', 'ST_MultiPoint') THEN "
    "ST_Distance(g.geom::geography, ST_SetSRID(ST_MakePoint(?, ?), 4326)::geography, false) * ? "
    "ELSE ST_Distance(ST_Affine(g.geom, ?, 0, 0, ?, ?, ?), ST_SetSRID(ST_MakePoint(0, 0), 4326)) "
    "END)"
)


class PostgresCompiler(QueryCompiler):
    """Builds WHERE clauses for PostgreSQL; call `finish` on the SQL that embeds them."""

    def __init__(self, unicode_collation: str | None = None, *, paged: bool = False) -> None:
        super().__init__()
        #: collation for patterns that use character classes (None: the column's own)
        self.unicode_collation = unicode_collation
        #: the WHERE is for a page (ORDER BY eid LIMIT n): see `geo_condition`
        self.paged = paged

    # -- dialect hooks -----------------------------------------------------------------------
    def regex(self, value_sql: str) -> str:
        return value_sql + _REGEX_MARK

    def selector(self, selector: EntitySelector) -> str:
        if not selector.ids:
            return super().selector(selector)
        ids = self.param("e.id = ANY(?::text[])", list(selector.ids))
        rest = super().selector(replace(selector, ids=()))
        return ids if rest == "1=1" else f"({ids} AND {rest})"

    def geo_condition(self, geoq: GeoQuery) -> str:
        conditions = [self.param(f"g.kid = {NAME_ID}", geoq.geoproperty)]
        box = search_bbox(geoq)
        if box is not None:
            conditions.append(self.param("g.geom && ST_MakeEnvelope(?, ?, ?, ?, 4326)", *box))
        if geoq.georel == "near":
            conditions.extend(self._near(geoq))
        else:
            predicate = _PREDICATES[geoq.georel].format(q=_QUERY_GEOMETRY)
            conditions.append(self.param(predicate, orjson.dumps(geoq.geometry).decode()))
        sql = f"e.eid IN (SELECT g.eid FROM geo_index g WHERE {' AND '.join(conditions)})"
        return f"COALESCE({sql}, false)" if self.paged else sql

    def _near(self, geoq: GeoQuery) -> list[str]:
        lon0, lat0 = (float(c) for c in geoq.geometry["coordinates"][:2])
        ky = _METRES_PER_DEGREE
        kx = ky * math.cos(math.radians(lat0))
        values = (lon0, lat0, _SPHERE_SCALE, kx, ky, -lon0 * kx, -lat0 * ky)
        conditions = []
        for bound, op in ((geoq.max_distance, "<="), (geoq.min_distance, ">=")):
            if bound is not None:
                conditions.append(self.param(f"{_DISTANCE} {op} ?", *values, bound))
        return conditions

    # -- finishing ---------------------------------------------------------------------------
    def finish(self, sql: str, params: list[Any] | None = None) -> tuple[str, list[Any]]:
        """`sql` with `$n` placeholders and the parameters, regexes rewritten to ARE."""
        values = list(self.params if params is None else params)
        position = 0

        def number(match: re.Match[str]) -> str:
            nonlocal position
            position += 1
            if match.group() == "?":
                return f"${position}"
            translation = to_are(values[position - 1])
            values[position - 1] = translation.pattern
            if translation.unicode and self.unicode_collation is not None:
                return f' COLLATE "{self.unicode_collation}" ~ ${position}'
            return f" ~ ${position}"

        text = _PLACEHOLDER.sub(number, sql)
        if position != len(values):
            raise AssertionError(f"{position} placeholders for {len(values)} parameters")
        return text, values
