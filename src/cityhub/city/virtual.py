"""The virtual city as a whole: a model plus its assets, written into the hub, found again.

`VirtualCity` is what `cityhub city import` / `generate` write and what `cityhub serve` loads
and simulates. The `City` entity records how the city was made (the file imported or the
generator's seed and size, and the asset seed), so a later `cityhub serve` rebuilds the same
assets, with the same ids, to simulate them without storing anything else.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cityhub.city.assets import Asset, place_assets
from cityhub.city.entities import asset_entity, city_id, model_entities, prop
from cityhub.city.model import CityModel
from cityhub.city.osm import read_osm
from cityhub.city.synthetic import generate_city
from cityhub.ngsild.context import core_term_map
from cityhub.ngsild.errors import NgsiLdError

if TYPE_CHECKING:
    from cityhub.broker import Hub

#: entities per batch upsert when writing a city, and batches written at once
WRITE_BATCH = 1000
WRITERS = 4
#: the name of the default demo city (the Helsinki extract shipped in the package)
DEFAULT_CITY = "Helsinki"


def default_extract() -> Path:
    """The real central-Helsinki OpenStreetMap extract shipped inside the package."""
    return Path(str(resources.files("cityhub.city") / "data" / "helsinki.osm.pbf"))


@dataclass
class VirtualCity:
    model: CityModel
    assets: list[Asset]
    asset_seed: int = 1
    #: how to make this city again: {"file": path} or {"seed": n, "size": n}
    recipe: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return city_id(self.model)

    @property
    def utc_offset_h(self) -> float:
        """Local solar time offset from the longitude, good enough for daily cycles."""
        return round(self.model.centre()[0] / 15.0)

    def entities(self) -> list[dict[str, Any]]:
        out = model_entities(self.model, len(self.assets))
        out[0]["recipe"] = prop({**self.recipe, "assetSeed": self.asset_seed})
        out.extend(asset_entity(a, self.model) for a in self.assets)
        return out


def import_city(path: str | Path, *, name: str | None = None, asset_seed: int = 1,
                density: float = 1.0) -> VirtualCity:
    model = read_osm(path, name=name)
    recipe: dict[str, Any] = {"file": str(Path(path).resolve())}
    if name:
        recipe["name"] = name
    if density != 1.0:
        recipe["density"] = density
    return VirtualCity(model, place_assets(model, asset_seed, density=density), asset_seed,
                       recipe)


def synthetic_city(seed: int = 1, size: int = 12, *, asset_seed: int | None = None,
                   density: float = 1.0) -> VirtualCity:
    model = generate_city(seed, size)
    asset_seed = seed if asset_seed is None else asset_seed
    recipe: dict[str, Any] = {"seed": seed, "size": size}
    if density != 1.0:
        recipe["density"] = density
    return VirtualCity(model, place_assets(model, asset_seed, density=density), asset_seed,
                       recipe)


def default_city() -> VirtualCity:
    city = import_city(default_extract(), name=DEFAULT_CITY)
    city.recipe = {"default": True}
    return city


def rebuild(recipe: Any) -> VirtualCity | None:
    """The city a stored `recipe` describes, or None when it cannot be made again here."""
    if not isinstance(recipe, dict):
        return None
    seed = recipe.get("assetSeed", 1)
    density = recipe.get("density", 1.0)
    try:
        if recipe.get("default"):
            return default_city()
        if "file" in recipe:
            if not Path(recipe["file"]).is_file():
                return None
            return import_city(recipe["file"], name=recipe.get("name"), asset_seed=seed,
                               density=density)
        if "seed" in recipe:
            return synthetic_city(int(recipe["seed"]), int(recipe["size"]), asset_seed=seed,
                                  density=density)
    except (NgsiLdError, ValueError, TypeError, KeyError):
        return None
    return None


@dataclass
class WriteSummary:
    city_id: str
    #: entities stored, by type
    counts: dict[str, int]
    seconds: float
    #: entities the hub refused (id, reason): bad data in the source, reported, not fatal
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


async def write_city(hub: Hub, city: VirtualCity, tenant: str = "") -> WriteSummary:
    """Upsert every entity of the city through the broker core's batch upsert. An entity the
    hub refuses (an unusable geometry in the source, say) is skipped and reported; the City
    entity goes last, so its presence says the rest was written."""
    began = time.perf_counter()
    entities = city.entities()
    terms = core_term_map()
    # the City entity goes last: its presence says the whole city is in the store
    ordered = entities[1:] + entities[:1]
    failures: list[tuple[str, NgsiLdError]] = []
    batches = [ordered[i: i + WRITE_BATCH] for i in range(0, len(ordered) - 1, WRITE_BATCH)]
    gate = asyncio.Semaphore(WRITERS)

    async def write(batch: list[dict[str, Any]]) -> None:
        async with gate:
            failures.extend((await hub.batch.upsert(tenant, batch, terms)).errors)

    await asyncio.gather(*(write(b) for b in batches))
    failures.extend((await hub.batch.upsert(tenant, ordered[-1:], terms)).errors)
    skipped = {entity_id for entity_id, _ in failures}
    counts = Counter(e["type"] for e in entities if e["id"] not in skipped)
    return WriteSummary(city.id, dict(counts), time.perf_counter() - began,
                        [(entity_id, error.detail) for entity_id, error in failures])


async def stored_city(hub: Hub, tenant: str = "") -> dict[str, Any] | None:
    """The first City entity of the tenant (normal form, expanded names), or None."""
    from cityhub.broker.query import QueryParams, build_query
    from cityhub.ngsild.errors import NonexistentTenant

    terms = core_term_map()
    query = build_query(QueryParams(type="City", limit="1"), terms)
    try:
        result = await hub.entities.query(tenant, query)
    except NonexistentTenant:
        return None
    return result.entities[0].entity if result.entities else None


def recipe_of(entity: dict[str, Any]) -> Any:
    """The `recipe` value of a stored City entity."""
    instances = entity.get("attrs", {}).get(core_term_map().expand("recipe")) or [{}]
    return instances[0].get("value")
