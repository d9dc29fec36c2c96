"""Public views of entities: nothing personal, locations generalised, small groups hidden.

`public_entity` turns a key-values entity into what an anonymous reader may see: attributes
holding pseudonyms or named as personal are dropped, and every GeoJSON value becomes the centre
of its grid cell (`cell_degrees` wide, 0.01 degrees: about 1 km). `cell_counts` counts the
individuals (entities, or distinct values of one attribute, such as the pseudonymised MAC
addresses a people counter saw) per grid cell and suppresses every cell with fewer than k of
them (k = 5 by default, `CITYHUB_PUBLIC_K`), reporting only how many were suppressed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cityhub.ingest.privacy import PERSONAL_NAMES, grid_cell, is_pseudonym, suppress_small

DEFAULT_CELL_DEGREES = 0.01


def _is_geometry(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("type"), str) \
        and isinstance(value.get("coordinates"), list)


def _first_position(geometry: dict[str, Any]) -> list[float] | None:
    coordinates: Any = geometry.get("coordinates")
    while isinstance(coordinates, list) and coordinates and isinstance(coordinates[0], list):
        coordinates = coordinates[0]
    if isinstance(coordinates, list) and len(coordinates) >= 2 and all(
            isinstance(c, int | float) for c in coordinates[:2]):
        return coordinates
    return None


def _personal(name: str, value: Any) -> bool:
    if name in PERSONAL_NAMES or is_pseudonym(value):
        return True
    return isinstance(value, list) and any(is_pseudonym(v) for v in value)


def public_entity(entity: dict[str, Any], cell_degrees: float = DEFAULT_CELL_DEGREES
                  ) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in entity.items():
        if name in ("id", "type"):
            out[name] = value
        elif _personal(name, value):
            continue
        elif _is_geometry(value):
            position = _first_position(value)
            if position is not None:
                out[name] = {"type": "Point",
                             "coordinates": list(grid_cell(position, cell_degrees))}
        else:
            out[name] = value
    return out


def cell_counts(entities: Iterable[dict[str, Any]], k: int, *,
                cell_degrees: float = DEFAULT_CELL_DEGREES, attr: str | None = None,
                geoproperty: str = "location") -> dict[str, Any]:
    """Individuals per grid cell, cells below `k` suppressed."""
    members: dict[tuple[float, float], set[Any]] = {}
    for entity in entities:
        geometry = entity.get(geoproperty)
        position = _first_position(geometry) if _is_geometry(geometry) else None
        if position is None:
            continue
        cell = grid_cell(position, cell_degrees)
        if attr is None:
            members.setdefault(cell, set()).add(entity.get("id"))
            continue
        value = entity.get(attr)
        values = value if isinstance(value, list) else [value]
        members.setdefault(cell, set()).update(
            v for v in values if isinstance(v, str | int | float) and v is not None)
    kept, hidden = suppress_small({c: len(m) for c, m in members.items()}, k)
    return {
        "k": k, "cellDegrees": cell_degrees,
        "cells": [{"cell": {"type": "Point", "coordinates": list(c)}, "count": n}
                  for c, n in sorted(kept.items())],
        "suppressed": hidden,
    }
