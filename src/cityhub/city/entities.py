"""The city model and its assets as NGSI-LD entities (normal form, core @context terms).

Types: `City`, `RoadJunction`, `District` (CityHub's own), `RoadSegment`, `Building`,
`PointOfInterest` (Smart Data Models), and the assets' types (see docs/data-models.md).
Provenance is on every entity: what came from OpenStreetMap says so (`dataProvider`,
`source` with the OSM object's URL); everything the virtual city made up (the synthetic model,
every asset, derived districts and stations) has `dataProvider` "CityHub virtual city
(synthetic)" and the scope `/simulated`.
"""

from __future__ import annotations

from typing import Any

from cityhub.city.assets import Asset, place_id
from cityhub.city.model import CityModel

SIMULATED = "CityHub virtual city (synthetic)"
SIMULATED_SCOPE = "/simulated"
OSM_PROVIDER = "OpenStreetMap contributors (ODbL 1.0)"
OSM_URL = "https://www.openstreetmap.org/"
_OSM_KIND = {"n": "node", "w": "way", "r": "relation"}
#: OSM highway=* -> the Smart Data Models RoadSegment roadClass enumeration
ROAD_CLASS = {
    "motorway": "NATIONAL_HIGHWAY", "motorway_link": "NATIONAL_HIGHWAY",
    "trunk": "STATE_HIGHWAY", "trunk_link": "STATE_HIGHWAY",
    "primary": "MAJOR_CITY_ROAD", "primary_link": "MAJOR_CITY_ROAD",
    "secondary": "MAJOR_CITY_ROAD", "secondary_link": "MAJOR_CITY_ROAD",
    "tertiary": "MINOR_CITY_ROAD", "tertiary_link": "MINOR_CITY_ROAD",
    "unclassified": "MINOR_CITY_ROAD", "residential": "MINOR_CITY_ROAD",
    "living_street": "MINOR_CITY_ROAD", "service": "SERVICE_ROAD", "road": "OTHER_PUBLIC_ROAD",
}


def prop(value: Any, unit: str | None = None) -> dict[str, Any]:
    attr: dict[str, Any] = {"type": "Property", "value": value}
    if unit:
        attr["unitCode"] = unit
    return attr


def rel(target: str) -> dict[str, Any]:
    return {"type": "Relationship", "object": target}


def geo(geometry: dict[str, Any]) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": geometry}


def point(lon: float, lat: float) -> dict[str, Any]:
    return geo({"type": "Point", "coordinates": [lon, lat]})


def city_id(model: CityModel) -> str:
    return f"urn:ngsi-ld:City:{model.slug}"


def junction_id(model: CityModel, local: str) -> str:
    return f"urn:ngsi-ld:RoadJunction:{model.slug}:{local}"


def segment_id(model: CityModel, local: str) -> str:
    return f"urn:ngsi-ld:RoadSegment:{model.slug}:{local}"


def _provenance(model: CityModel, local: str | None, derived: bool = False) -> dict[str, Any]:
    """Where an entity of the model comes from: OSM (with the object's URL) or made up."""
    if model.synthetic or derived or local is None:
        return {"dataProvider": prop(SIMULATED), "scope": SIMULATED_SCOPE}
    kind = _OSM_KIND.get(local[:1])
    number = local[1:].split("-")[0]
    attrs: dict[str, Any] = {"dataProvider": prop(OSM_PROVIDER)}
    if kind and number.isdigit():
        attrs["source"] = prop(f"{OSM_URL}{kind}/{number}")
    return attrs


def model_entities(model: CityModel, asset_count: int) -> list[dict[str, Any]]:
    """Every entity of the city model: City first, then junctions, segments, districts,
    buildings and points of interest."""
    w, s, e, n = model.bbox()
    ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
    out: list[dict[str, Any]] = [{
        "id": city_id(model), "type": "City", "name": prop(model.name),
        "origin": prop(model.origin), "sourceDescription": prop(model.source),
        "location": geo({"type": "Polygon", "coordinates": [ring]}),
        "junctionCount": prop(len(model.junctions)), "segmentCount": prop(len(model.segments)),
        "districtCount": prop(len(model.districts)), "buildingCount": prop(len(model.buildings)),
        "placeCount": prop(len(model.places)), "assetCount": prop(asset_count),
        **({"dataProvider": prop(SIMULATED), "scope": SIMULATED_SCOPE} if model.synthetic
           else {"dataProvider": prop(OSM_PROVIDER)}),
    }]
    for j in model.junctions.values():
        out.append({"id": junction_id(model, j.id), "type": "RoadJunction",
                    "location": point(j.lon, j.lat), **_provenance(model, j.id)})
    for seg in model.segments:
        entity = {
            "id": segment_id(model, seg.id), "type": "RoadSegment",
            "location": geo({"type": "LineString", "coordinates": [list(c) for c in seg.coords]}),
            "length": prop(round(seg.length_m / 1000, 5), "KMT"),
            "totalLaneNumber": prop(seg.lanes),
            "maximumAllowedSpeed": prop(seg.speed_kmh, "KMH"), "oneWay": prop(seg.oneway),
            "roadClass": prop(ROAD_CLASS.get(seg.road_class, "OTHER_PUBLIC_ROAD")),
            "osmHighway": prop(seg.road_class), "status": prop("open"),
            "refStartJunction": rel(junction_id(model, seg.start)),
            "refEndJunction": rel(junction_id(model, seg.end)),
            **_provenance(model, seg.id),
        }
        category = (["oneway"] if seg.oneway else []) + \
            (["link"] if seg.road_class.endswith("_link") else [])
        if category:
            entity["category"] = prop(category)
        if seg.name:
            entity["name"] = prop(seg.name)
        out.append(entity)
    for d in model.districts:
        entity = {"id": f"urn:ngsi-ld:District:{model.slug}:{d.id}", "type": "District",
                  "name": prop(d.name), "location": geo(d.geometry), "derived": prop(d.derived),
                  **_provenance(model, d.id, d.derived)}
        if d.derived_from:
            entity["derivedFrom"] = prop(d.derived_from)
        if d.admin_level is not None:
            entity["adminLevel"] = prop(d.admin_level)
        out.append(entity)
    for b in model.buildings:
        entity = {"id": f"urn:ngsi-ld:Building:{model.slug}:{b.id}", "type": "Building",
                  "category": prop([b.category]), "location": geo(b.geometry),
                  **_provenance(model, b.id)}
        if b.name:
            entity["name"] = prop(b.name)
        out.append(entity)
    for p in model.places:
        entity = {"id": place_id(model, p), "type": "PointOfInterest",
                  "category": prop([p.kind]), "location": point(p.lon, p.lat),
                  "derived": prop(p.derived), **_provenance(model, p.id, p.derived)}
        if p.name:
            entity["name"] = prop(p.name)
        if p.category and p.category != p.kind:
            entity["osmCategory"] = prop(p.category)
        if p.capacity is not None:
            entity["capacity"] = prop(p.capacity)
        out.append(entity)
    return out


def asset_entity(asset: Asset, model: CityModel) -> dict[str, Any]:
    """The entity of one simulated asset (its static attributes; measurements come later)."""
    entity: dict[str, Any] = {"id": asset.entity_id, "type": asset.type,
                              "location": point(asset.lon, asset.lat),
                              "dataProvider": prop(SIMULATED), "scope": SIMULATED_SCOPE,
                              "refCity": rel(city_id(model))}
    for name, value in asset.attrs.items():
        entity[name] = rel(value["object"]) if isinstance(value, dict) and "object" in value \
            else prop(value)
    if asset.device_id:
        entity["deviceId"] = prop(asset.device_id)
    return entity
