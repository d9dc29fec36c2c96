"""Routes of the open-data catalogue (/cityhub/v1/catalogue, docs/opendata.md): the DCAT-AP
catalogue of published datasets, their streamed bulk exports, and the usage counters.

Access control is the access layer's (`api.auth`, `security.operations`): the catalogue is
public metadata; an export is a read of its type in the tenant its path names (anonymous
callers: open-data types only; keys: their own tenants only); the usage counters are for
admins. An export hides personal attributes exactly as the access layer hides them from the
caller's NGSI-LD reads (nothing in open mode).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from cityhub.api.auth import strip_personal
from cityhub.api.http import check_params, json_response, route
from cityhub.broker.entities import check_tenant
from cityhub.ngsild.context import core_term_map
from cityhub.ngsild.errors import BadRequestData, ResourceNotFound
from cityhub.ngsild.render import KEY_VALUES, RenderOptions, render_entity, render_feature
from cityhub.ngsild.typeexpr import map_types, parse_type_expression
from cityhub.opendata.catalogue import FORMATS, CatalogueConfig, Dataset, catalogue_document
from cityhub.opendata.export import (
    CsvWriter,
    JsonArrayWriter,
    csv_header,
    geojson_writer,
    ngsi_ld_item,
)
from cityhub.opendata.usage import ANONYMOUS, UsageMeter
from cityhub.security.config import tenant_key, tenant_of_key
from cityhub.security.policy import ALL, DEFAULT_ROLES, Principal, short_name
from cityhub.store.base import EntityQuery, EntitySelector, UsageCount

TERMS = core_term_map()
LOCATION = TERMS.expand("location")
#: entities read from the store per page of an export
EXPORT_PAGE = 500
_TYPE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")


# -- wiring (api.app) ---------------------------------------------------------------------------
def install(app: Starlette) -> None:
    """Load the catalogue file (a bad one stops start-up) and attach the usage counters to
    the app and its access layer."""
    state = app.state
    state.catalogue = CatalogueConfig.load(state.settings.catalogue_file)
    state.usage = UsageMeter(state.hub.datasets, published_test(app))
    state.access.usage = state.usage


def published_test(app: Starlette) -> Callable[[str, str], bool]:
    """Whether (tenant, type short name) is a published dataset: with access control, an
    open-data type of the tenant; in open mode a type the catalogue file declares, or any type
    when it declares none."""
    state = app.state

    def published(tenant: str, type_name: str) -> bool:
        access = state.access
        if access.config is not None:
            return type_name in access.config.open_types(tenant)
        declared = state.catalogue.declared(tenant)
        return declared is None or type_name in declared

    return published


async def start(app: Starlette) -> None:
    app.state.usage.start()


async def stop(app: Starlette) -> None:
    await app.state.usage.stop()


# -- helpers -----------------------------------------------------------------------------------
def _base(request: Request) -> str:
    return request.app.state.settings.public_url or str(request.base_url).rstrip("/")


def _caller(request: Request) -> Principal | None:
    return request.scope.get("cityhub.principal")


def _usage_totals(counts: list[UsageCount]) -> dict[tuple[str, str], list[int]]:
    totals: dict[tuple[str, str], list[int]] = {}
    for c in counts:
        found = totals.setdefault((c.tenant, c.type), [0, 0])
        found[0] += c.requests
        found[1] += c.entities
    return totals


async def _counts(request: Request, tenants: list[str] | None) -> list[UsageCount]:
    """The stored counters plus this process's unflushed ones."""
    meter: UsageMeter = request.app.state.usage
    stored = await request.app.state.hub.datasets.usage(tenants)
    merged: dict[tuple[str, str, str], UsageCount] = {(c.tenant, c.type, c.key): c
                                                      for c in stored}
    for c in meter.snapshot():
        if tenants is not None and c.tenant not in tenants:
            continue
        found = merged.setdefault((c.tenant, c.type, c.key), UsageCount(c.tenant, c.type, c.key))
        found.requests += c.requests
        found.entities += c.entities
    return sorted(merged.values(), key=lambda c: (c.tenant, c.type, c.key))


def _tenant_of_path(name: str) -> str:
    return check_tenant(tenant_of_key(name))


# -- GET /cityhub/v1/catalogue -------------------------------------------------------------------
async def get_catalogue(request: Request) -> Response:
    """The DCAT-AP catalogue of every published dataset (optionally of one tenant)."""
    params = check_params(request, ("tenant",))
    hub = request.app.state.hub
    published = published_test(request.app)
    tenants = await hub.datasets.tenants()
    if "tenant" in params:
        asked = _tenant_of_path(params["tenant"])
        if asked not in tenants:
            raise ResourceNotFound(f"there is no tenant {params['tenant'][:64]!r}")
        tenants = [asked]
    totals = _usage_totals(await _counts(request, tenants))
    config: CatalogueConfig = request.app.state.catalogue
    datasets = []
    for tenant in tenants:
        for summary in await hub.datasets.summaries(tenant, LOCATION):
            name = short_name(summary.type)
            if not published(tenant, name):
                continue
            downloads, served = totals.get((tenant, name), (0, 0))
            datasets.append(Dataset(tenant, summary.type, summary, config.meta(tenant, name),
                                    downloads, served))
    document = catalogue_document(config, datasets, _base(request))
    return json_response(document, kind="application/ld+json")


# -- GET /cityhub/v1/catalogue/{tenant}/{type}/export.{fmt} --------------------------------------
async def export_dataset(request: Request) -> Response:
    check_params(request, ())
    path = request.path_params
    tenant = _tenant_of_path(path["tenant"])
    fmt, type_name = path["fmt"], path["type"]
    if fmt not in FORMATS:
        raise BadRequestData(f"unknown export format {fmt[:32]!r}: use one of "
                             f"{', '.join(FORMATS)}")
    if not _TYPE_NAME.match(type_name):
        raise BadRequestData(f"invalid entity type name {type_name[:64]!r}")
    app = request.app
    hub = app.state.hub
    await hub.entities.require_tenant(tenant)
    if not published_test(app)(tenant, type_name):
        raise ResourceNotFound(f"{type_name} of tenant {tenant_key(tenant)} is not a published "
                               "dataset")
    iri = TERMS.expand(type_name)
    summary = await hub.datasets.type_summary(tenant, iri)
    if summary is None:
        raise ResourceNotFound(f"the dataset {tenant_key(tenant)}/{type_name} has no entities")
    access = app.state.access
    principal = _caller(request)
    hide, personal = False, frozenset[str]()
    if access.config is not None:
        role = principal.role if principal is not None else access.config.roles.get(
            "public", DEFAULT_ROLES["public"])
        hide, personal = not role.personal, access.config.personal
    key = principal.subject if principal is not None else ANONYMOUS
    attributes = [TERMS.compact(a) for a in summary.attributes]
    if hide:
        attributes = [a for a in attributes
                      if not strip_personal({a: 0}, personal, TERMS, remove=False)]
    media, _ = FORMATS[fmt]
    body = _stream(request, tenant, type_name, fmt, attributes, personal, hide, key)
    filename = f"{tenant_key(tenant).lstrip('@')}-{type_name}.{fmt}"
    return StreamingResponse(body, media_type=media + ("; charset=utf-8" if fmt == "csv" else ""),
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


async def _stream(request: Request, tenant: str, type_name: str, fmt: str,
                  attributes: list[str], personal: frozenset[str], hide: bool, key: str
                  ) -> AsyncIterator[bytes]:
    app = request.app
    hub, meter = app.state.hub, app.state.usage
    types = map_types(parse_type_expression(type_name), TERMS.expand)
    writer: Any = (CsvWriter(csv_header(attributes)) if fmt == "csv" else
                   geojson_writer() if fmt == "geojson" else JsonArrayWriter())
    options = RenderOptions(format=KEY_VALUES) if fmt != "jsonld" else RenderOptions()
    served, saw_personal = 0, False
    try:
        yield writer.start()
        after = None
        while True:
            page = await hub.entities.query(tenant, EntityQuery(
                selectors=(EntitySelector(types=types),), limit=EXPORT_PAGE, after=after))
            items = []
            for stored in page.entities:
                if fmt == "geojson":
                    item = render_feature(stored.entity, TERMS, LOCATION, options)
                else:
                    item = render_entity(stored.entity, TERMS, options)
                if personal:
                    saw_personal |= strip_personal(item, personal, TERMS, remove=hide)
                items.append(ngsi_ld_item(item) if fmt == "jsonld" else item)
            if items:
                yield writer.rows(items)
            served += len(items)
            if len(page.entities) < EXPORT_PAGE:
                break
            after = page.last
        yield writer.end()
    finally:
        meter.count(tenant, type_name, key, served)
        audit = app.state.access.audit
        if saw_personal and not hide and audit is not None:
            principal = _caller(request)
            client = request.client
            audit.record(subject=key, role=principal.role.name if principal else "public",
                         tenant=tenant_key(tenant), action="personal-read", method="GET",
                         what=request.url.path, status=200,
                         client=client.host if client else "unknown")


# -- GET /cityhub/v1/catalogue/usage -------------------------------------------------------------
async def get_usage(request: Request) -> Response:
    """The usage counters by dataset and by caller; admins see their own tenants'."""
    params = check_params(request, ("tenant",))
    principal = _caller(request)
    tenants: list[str] | None = None
    if principal is not None and ALL not in principal.tenants:
        tenants = sorted(principal.tenants)
    if "tenant" in params:
        asked = _tenant_of_path(params["tenant"])
        tenants = [asked] if tenants is None or asked in tenants else []
    counts = await _counts(request, tenants)
    totals = _usage_totals(counts)
    return json_response({
        "datasets": [{"tenant": tenant_key(t), "type": n, "requests": r, "entities": e}
                     for (t, n), (r, e) in sorted(totals.items())],
        "keys": [{"tenant": tenant_key(c.tenant), "type": c.type, "key": c.key,
                  "requests": c.requests, "entities": c.entities} for c in counts],
    })


routes = [
    route("/catalogue", get=get_catalogue),
    route("/catalogue/usage", get=get_usage),
    route("/catalogue/{tenant}/{type}/export.{fmt}", get=export_dataset),
]
