"""The index rows an entity contributes, computed once and written by either adapter."""

from __future__ import annotations

from dataclasses import dataclass

from cityhub.ngsild.entity import GEO_PROPERTY, Leaf, index_leaves
from cityhub.ngsild.geo import bbox


@dataclass(slots=True)
class EntityRows:
    #: every name (type, leaf key, geo attribute) the rows refer to, for interning
    names: set[str]
    leaves: list[Leaf]
    #: (attribute IRI, GeoJSON geometry, (min_lon, min_lat, max_lon, max_lat))
    geometries: list[tuple[str, dict, tuple[float, float, float, float]]]


def entity_rows(entity: dict) -> EntityRows:
    leaves = index_leaves(entity)
    names = {leaf[0] for leaf in leaves}
    names.update(entity["type"])
    geometries = []
    for iri, instances in entity["attrs"].items():
        for inst in instances:
            if inst["type"] == GEO_PROPERTY:
                value = inst["value"]
                if value["type"] == "Point":
                    lon, lat = value["coordinates"][:2]
                    box = (lon, lat, lon, lat)
                else:
                    box = bbox(value)
                geometries.append((iri, value, box))
    return EntityRows(names, leaves, geometries)
