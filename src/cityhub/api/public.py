"""Routes of the public views (/cityhub/v1/public/...): entities without personal data and
with generalised locations, and k-anonymous counts per grid cell (`ingest.publicview`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cityhub.api.http import check_params, json_response, route, tenant_of
from cityhub.api.ingest import page_params
from cityhub.broker import Hub
from cityhub.ingest.publicview import DEFAULT_CELL_DEGREES, cell_counts, public_entity
from cityhub.ngsild.context import core_term_map
from cityhub.ngsild.errors import BadRequestData
from cityhub.ngsild.render import KEY_VALUES, RenderOptions, render_entity
from cityhub.ngsild.typeexpr import map_types, parse_type_expression
from cityhub.store.base import EntityQuery, EntitySelector

TERMS = core_term_map()
#: the most entities one count reads
MAX_COUNTED = 100_000


def _query(params: dict[str, str], limit: int, offset: int) -> EntityQuery:
    if "type" not in params:
        raise BadRequestData("a public view needs type=")
    types = map_types(parse_type_expression(params["type"]), TERMS.expand)
    return EntityQuery(selectors=(EntitySelector(types=types),), limit=limit, offset=offset,
                       count=True)


def _cell(params: dict[str, str]) -> float:
    try:
        cell = float(params.get("cellDegrees", DEFAULT_CELL_DEGREES))
    except ValueError:
        raise BadRequestData("cellDegrees must be a number") from None
    if not 0.001 <= cell <= 10:
        raise BadRequestData("cellDegrees must be between 0.001 and 10")
    return cell


async def _entities(hub: Hub, tenant: str, params: dict[str, str]
                    ) -> AsyncIterator[dict[str, Any]]:
    options = RenderOptions(format=KEY_VALUES)
    for offset in range(0, MAX_COUNTED, 1000):
        result = await hub.entities.query(tenant, _query(params, 1000, offset))
        for stored in result.entities:
            yield render_entity(stored.entity, TERMS, options)
        if len(result.entities) < 1000:
            return


# -- GET /cityhub/v1/public/entities ----------------------------------------------------------
async def public_entities(request: Request) -> Response:
    params = check_params(request, ("type", "limit", "offset", "cellDegrees"))
    limit, offset = page_params(params)
    cell = _cell(params)
    result = await request.app.state.hub.entities.query(
        tenant_of(request), _query(params, limit, offset))
    options = RenderOptions(format=KEY_VALUES)
    body = [public_entity(render_entity(s.entity, TERMS, options), cell)
            for s in result.entities]
    return json_response(body, headers={"NGSILD-Results-Count": str(result.count or 0)})


# -- GET /cityhub/v1/public/counts ------------------------------------------------------------
async def public_counts(request: Request) -> Response:
    params = check_params(request, ("type", "attr", "cellDegrees"))
    cell = _cell(params)
    attr = params.get("attr")
    k = request.app.state.settings.public_k
    entities = [e async for e in _entities(request.app.state.hub, tenant_of(request), params)]
    return json_response(cell_counts(entities, k, cell_degrees=cell, attr=attr))


routes = [
    route("/public/entities", get=public_entities),
    route("/public/counts", get=public_counts),
]
