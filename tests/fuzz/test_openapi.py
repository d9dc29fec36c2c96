"""The OpenAPI description (GET /openapi.json) describes every route of the app, and only
routes that exist, with the methods they take."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
from starlette.routing import BaseRoute, Mount, Route

from cityhub.api import openapi
from cityhub.api.app import create_app
from cityhub.settings import Settings

_CONVERTER = re.compile(r"\{([^}:]+):[^}]+\}")


def app_routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    """(OpenAPI path, lower-case methods) of every route, with mounts unfolded."""
    for route in routes:
        if isinstance(route, Mount):
            inner = getattr(route.app, "routes", None)
            if inner is None:  # static files
                yield prefix + route.path, set()
            else:
                yield from app_routes(inner, prefix + route.path)
        elif isinstance(route, Route):
            methods = {m.lower() for m in (route.methods or ())} - {"head"}
            yield _CONVERTER.sub(r"{\1}", prefix + route.path), methods


def test_every_route_is_described_and_every_description_is_a_route(tmp_path: Any) -> None:
    app = create_app(Settings(db=f"sqlite:///{tmp_path / 'hub.db'}"))
    found = {path: methods for path, methods in app_routes(app.routes)}
    described = openapi.document()["paths"]
    api = {path: methods for path, methods in found.items() if path not in openapi.NOT_API}
    assert sorted(api) == sorted(described)
    for path, methods in api.items():
        assert methods == set(described[path]), path


def test_every_operation_answers_problem_details_on_errors() -> None:
    doc = openapi.document()
    assert doc["openapi"].startswith("3.1")
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            assert operation["summary"], (method, path)
            problem = operation["responses"]["400"]["content"]["application/json"]["schema"]
            assert problem == {"$ref": "#/components/schemas/ProblemDetails"}
            names = [p["name"] for p in operation["parameters"] if p["in"] == "path"]
            assert names == re.findall(r"\{([^}]+)\}", path), path


def test_the_description_is_served(api_hub_url: str) -> None:
    response = httpx.get(api_hub_url + "/openapi.json", timeout=10)
    assert response.status_code == 200
    assert response.json() == openapi.document()
