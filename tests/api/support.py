"""Helpers of the API tests: payload files, Link headers, and the ProblemDetails check."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import httpx

PAYLOADS = Path(__file__).parent / "payloads"
CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"
CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
ETSI_ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"


def payload(name: str) -> Any:
    """A fresh copy of the JSON test payload `payloads/<name>`."""
    return json.loads((PAYLOADS / name).read_text("utf-8"))


def link_header(url: str) -> str:
    """A Link header naming `url` as the request's JSON-LD @context."""
    return f'<{url}>; rel="{CONTEXT_REL}"; type="application/ld+json"'


def closed_port_url(path: str = "/context.jsonld") -> str:
    """A URL on a local port nothing listens on: connecting to it fails at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def assert_problem(response: httpx.Response, status: int, error: str | None = None
                   ) -> dict[str, Any]:
    """Assert `response` is a ProblemDetails with `status` (and ETSI error type `error`, when
    given) and no stack trace; return its body."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].split(";")[0] == "application/json"
    assert "Traceback" not in response.text and 'File "' not in response.text
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("type"), str) and body["type"].startswith("https://"), body
    assert isinstance(body.get("title"), str) and body["title"], body
    assert isinstance(body.get("detail"), str) and body["detail"], body
    if error is not None:
        assert body["type"] == ETSI_ERRORS + error, body
    return body


def ids(response: httpx.Response) -> list[str]:
    """The entity ids of a successful query answer, in order."""
    assert response.status_code == 200, response.text[:500]
    return [entity["id"] for entity in response.json()]


def ld_json(document: Any) -> dict[str, Any]:
    """Keyword arguments of an httpx request sending `document` as application/ld+json."""
    return {"content": json.dumps(document), "headers": {"Content-Type": "application/ld+json"}}
