"""The baseline for the HTTP benchmark: a minimal JSON endpoint on the same framework and
server (Starlette on uvicorn), answering a body of the size of a typical entity."""

from __future__ import annotations

import sys

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = orjson.dumps({
    "id": "urn:ngsi-ld:AirQualityObserved:sejong-1",
    "type": "AirQualityObserved",
    "pm25": {"type": "Property", "value": 12.5, "unitCode": "GQ",
             "observedAt": "2026-11-22T01:00:00.000Z"},
    "location": {"type": "GeoProperty",
                 "value": {"type": "Point", "coordinates": [127.29, 36.48]}},
})


async def entity(request: Request) -> Response:
    return Response(BODY, media_type="application/json")


app = Starlette(routes=[Route("/", entity), Route("/version", entity)])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False)
