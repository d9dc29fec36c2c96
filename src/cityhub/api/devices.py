"""Routes of the device registry (/cityhub/v1/devices): provision, read, list, remove.

A device record is the provisioning format of `cityhub.ingest.registry`; a record that names
no tenant belongs to the request's (NGSILD-Tenant) tenant.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cityhub.api.http import (
    check_params,
    empty_response,
    json_response,
    read_body,
    route,
    tenant_of,
)
from cityhub.api.ingest import page_params
from cityhub.ingest.pipeline import IngestPipeline
from cityhub.ingest.registry import DeviceRegistry, check_device_id, parse_device
from cityhub.ngsild.errors import BadRequestData, ResourceNotFound

MAX_DEVICES = 10_000


def _registry(request: Request) -> DeviceRegistry:
    pipeline: IngestPipeline = request.app.state.ingest
    return pipeline.registry


# -- POST /cityhub/v1/devices -----------------------------------------------------------------
async def provision(request: Request) -> Response:
    check_params(request, ())
    tenant = tenant_of(request)
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    items = body if isinstance(body, list) else [body]
    if not items or len(items) > MAX_DEVICES:
        raise BadRequestData(f"provision 1-{MAX_DEVICES} devices at a time")
    specs = [parse_device(item, tenant) for item in items]  # all or nothing
    written = await _registry(request).provision(specs)
    return json_response({"deviceIds": written}, status=201)


# -- GET /cityhub/v1/devices ------------------------------------------------------------------
async def list_devices(request: Request) -> Response:
    limit, offset = page_params(check_params(request, ("limit", "offset")))
    specs, count = await _registry(request).list(tenant_of(request), limit, offset)
    return json_response([s.document() for s in specs],
                         headers={"NGSILD-Results-Count": str(count)})


# -- GET /cityhub/v1/devices/{deviceId} -------------------------------------------------------
async def get_device(request: Request) -> Response:
    check_params(request, ())
    device_id = check_device_id(request.path_params["device_id"])
    spec = await _registry(request).get(tenant_of(request), device_id)
    if spec is None:
        raise ResourceNotFound(f"device {device_id} is not provisioned")
    return json_response(spec.document())


# -- DELETE /cityhub/v1/devices/{deviceId} ----------------------------------------------------
async def remove_device(request: Request) -> Response:
    check_params(request, ())
    device_id = check_device_id(request.path_params["device_id"])
    await _registry(request).remove(tenant_of(request), device_id)
    return empty_response(204)


routes = [
    route("/devices", post=provision, get=list_devices),
    route("/devices/{device_id}", get=get_device, delete=remove_device),
]
