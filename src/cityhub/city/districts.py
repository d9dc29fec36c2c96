"""Districts for a city whose source has no usable boundaries: derived, and labelled so.

With two or more named neighbourhood points (OSM place=suburb/quarter/neighbourhood) the
districts are their Voronoi cells clipped to the road network's bounding box; otherwise a
regular grid over it. Either way each `District` has `derived=True` and says how it was made.
"""

from __future__ import annotations

from cityhub.city.model import CityModel, District, slug

#: rows and columns of the fallback grid
GRID = 3


def derive_districts(model: CityModel, seeds: list[tuple[str, float, float]]) -> list[District]:
    from shapely.geometry import MultiPoint, Point, box, mapping
    from shapely.ops import voronoi_diagram

    w, s, e, n = model.bbox()
    frame = box(w, s, e, n)
    named = {}
    for name, lon, lat in seeds:
        if frame.contains(Point(lon, lat)) and name not in named:
            named[name] = Point(lon, lat)
    if len(named) < 2:
        return grid_districts((w, s, e, n), GRID, GRID)
    cells = voronoi_diagram(MultiPoint(list(named.values())), envelope=frame)
    districts = []
    for name, point in named.items():
        cell = next(c for c in cells.geoms if c.contains(point)).intersection(frame)
        districts.append(District(
            id=f"derived-{slug(name)}", name=name, geometry=_rounded(mapping(cell)),
            derived=True, derived_from="Voronoi cells of the extract's named neighbourhoods"))
    return districts


def grid_districts(bbox: tuple[float, float, float, float], rows: int, cols: int,
                   names: list[str] | None = None) -> list[District]:
    w, s, e, n = bbox
    districts = []
    for r in range(rows):
        for c in range(cols):
            x0, x1 = w + (e - w) * c / cols, w + (e - w) * (c + 1) / cols
            y0, y1 = s + (n - s) * r / rows, s + (n - s) * (r + 1) / rows
            index = r * cols + c
            name = names[index] if names and index < len(names) else f"District {index + 1}"
            ring = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
            districts.append(District(
                id=f"grid-{index + 1}", name=name,
                geometry=_rounded({"type": "Polygon", "coordinates": [ring]}), derived=True,
                derived_from=f"a {rows} x {cols} grid over the road network"))
    return districts


def _rounded(geometry: dict) -> dict:
    def walk(value: object) -> object:
        if isinstance(value, float):
            return round(value, 7)
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        return value

    return {"type": geometry["type"], "coordinates": walk(geometry["coordinates"])}
