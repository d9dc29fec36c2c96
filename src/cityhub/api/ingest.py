"""Routes of ingestion: HTTP bulk ingest, the dead-letter store, the per-source counters
(/cityhub/v1/ingest...), and the start and stop of the ingest service with the app."""

from __future__ import annotations

import logging
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from cityhub.api.http import check_params, json_response, read_body, route, tenant_of
from cityhub.ingest.deadletter import TERMS
from cityhub.ingest.mqtt import MqttGateway
from cityhub.ingest.payloads import measurement_of
from cityhub.ingest.pipeline import IngestPipeline, IngestReport, Record, entity_record
from cityhub.ingest.registry import check_device_id
from cityhub.ngsild.errors import BadRequestData, NgsiLdError
from cityhub.ngsild.render import KEY_VALUES, RenderOptions, render_entity
from cityhub.ngsild.typeexpr import TypeName
from cityhub.settings import Settings
from cityhub.store.base import EntityQuery, EntitySelector

log = logging.getLogger("cityhub.ingest")
MAX_ITEMS = 10_000
HTTP_SOURCE = "http"


async def start_ingest(app: Starlette) -> None:
    """Start the ingest service (and the MQTT gateway when a broker is configured)."""
    settings: Settings = app.state.settings
    pipeline = IngestPipeline.from_settings(app.state.hub, settings)
    app.state.ingest = pipeline
    app.state.mqtt = None
    await pipeline.start()
    if settings.devices_file:
        devices = await pipeline.registry.load_file(settings.devices_file)
        log.info("provisioned %d devices from %s", len(devices), settings.devices_file)
    if settings.mqtt:
        gateway = MqttGateway(pipeline, settings.mqtt, client_id=settings.mqtt_client_id,
                              tenants=settings.mqtt_tenants)
        app.state.mqtt = gateway
        await gateway.start()
        log.info("MQTT gateway on %s", settings.mqtt.split("@")[-1])


async def stop_ingest(app: Starlette) -> None:
    gateway = getattr(app.state, "mqtt", None)
    if gateway is not None:
        await gateway.stop()
    pipeline = getattr(app.state, "ingest", None)
    if pipeline is not None:
        await pipeline.stop()


def page_params(params: dict[str, str]) -> tuple[int, int]:
    try:
        limit = int(params.get("limit", "100"))
        offset = int(params.get("offset", "0"))
    except ValueError:
        raise BadRequestData("limit and offset must be integers") from None
    if not 1 <= limit <= 1000 or offset < 0:
        raise BadRequestData("limit must be 1-1000 and offset at least 0")
    return limit, offset


async def bulk_records(pipeline: IngestPipeline, tenant: str, body: Any, source: str,
                       report: IngestReport) -> tuple[list[Record], list[int]]:
    """The checked records of a bulk body: device measurements or key-values entities."""
    if not isinstance(body, list) or not body or len(body) > MAX_ITEMS:
        raise BadRequestData(f"bulk ingest takes a JSON array of 1-{MAX_ITEMS} items")
    records: list[Record] = []
    indexes: list[int] = []
    for index, item in enumerate(body):
        try:
            if isinstance(item, dict) and "deviceId" in item:
                device_id = check_device_id(item["deviceId"])
                found = await pipeline.device_records(
                    source, tenant, device_id, [measurement_of(item, skip=("deviceId",))],
                    report, index)
            else:
                record = entity_record(source, tenant, item)
                found = [record] if pipeline.prepare(record, report, index) else []
        except NgsiLdError as exc:
            pipeline.counters.received(source)
            report.received += 1
            pipeline.reject(source, tenant, exc.detail, report=report, index=index)
            continue
        records.extend(found)
        indexes.extend([index] * len(found))
    return records, indexes


# -- POST /cityhub/v1/ingest ------------------------------------------------------------------
async def ingest(request: Request) -> Response:
    check_params(request, ())
    tenant = tenant_of(request)
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    pipeline: IngestPipeline = request.app.state.ingest
    report = IngestReport()
    records, indexes = await bulk_records(pipeline, tenant, body, HTTP_SOURCE, report)
    await pipeline.write_parallel(records, report, indexes)
    return json_response(report.document(), status=207 if report.rejected else 200)


# -- GET /cityhub/v1/ingest/rejections --------------------------------------------------------
async def rejections(request: Request) -> Response:
    limit, offset = page_params(check_params(request, ("limit", "offset")))
    pipeline: IngestPipeline = request.app.state.ingest
    await pipeline.dead_letters.flush()
    items, count = await pipeline.dead_letters.list(tenant_of(request), limit, offset)
    return json_response(items, headers={"NGSILD-Results-Count": str(count)})


# -- GET /cityhub/v1/ingest/sources -----------------------------------------------------------
async def sources(request: Request) -> Response:
    check_params(request, ())
    pipeline: IngestPipeline = request.app.state.ingest
    await pipeline.flush_side_effects()
    query = EntityQuery(selectors=(EntitySelector(types=TypeName(TERMS.expand("IngestSource"))),),
                        limit=1000)
    result = await request.app.state.hub.entities.query("", query)
    options = RenderOptions(format=KEY_VALUES)
    return json_response([render_entity(s.entity, TERMS, options) for s in result.entities])


routes = [
    route("/ingest", post=ingest),
    route("/ingest/rejections", get=rejections),
    route("/ingest/sources", get=sources),
]
