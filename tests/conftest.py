"""Shared pytest fixtures. Each section is owned by one part of the suite; append, don't rewrite."""

from __future__ import annotations

import copy
import http.server
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, NoReturn

import httpx
import pytest
import uvicorn

from cityhub.api.app import create_app
from cityhub.settings import Settings

# ================================================================================ API fixtures
# Owned by tests/api/. A real hub (uvicorn on a free port, SQLite in a temporary directory) runs
# for the whole session; each test talks to it through `api`, an httpx client bound to a tenant of
# its own, so tests are isolated without restarting the server. The @context cache is global to
# the hub (not per tenant): tests on it use URLs of their own.

NGSI_LD = "/ngsi-ld/v1"


@contextmanager
def serve_hub(settings: Settings, hub: Any = None) -> Iterator[str]:
    """Run a hub with `settings` (over `hub`, a `broker.Hub`, when given) in a background
    thread; yield its base URL."""
    app = create_app(settings, hub)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on",
                            log_level="warning", ws="none", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name=f"cityhub-test-hub-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test hub did not start")
            time.sleep(0.01)
        httpx.get(url + "/version", timeout=5).raise_for_status()
        yield url
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


@pytest.fixture(scope="session")
def api_hub_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of the session's hub (default settings, SQLite store in a temporary dir)."""
    db = tmp_path_factory.mktemp("api-hub") / "hub.db"
    with serve_hub(Settings(db=f"sqlite:///{db}", context_fetch_timeout=3.0)) as url:
        yield url


#: request body limit of the `small_api_hub_url` hub, in bytes
SMALL_HUB_MAX_BODY = 16 * 1024
#: @context fetch timeout of the `small_api_hub_url` hub, in seconds
SMALL_HUB_CONTEXT_TIMEOUT = 0.5


@pytest.fixture(scope="session")
def small_api_hub_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second hub with tight limits: small bodies (413) and a short @context fetch timeout."""
    db = tmp_path_factory.mktemp("api-small-hub") / "hub.db"
    settings = Settings(db=f"sqlite:///{db}", max_body_bytes=SMALL_HUB_MAX_BODY,
                        context_fetch_timeout=SMALL_HUB_CONTEXT_TIMEOUT)
    with serve_hub(settings) as url:
        yield url


class ApiClient(httpx.Client):
    """An httpx client on a hub's /ngsi-ld/v1, sending `NGSILD-Tenant: <tenant>` by default."""

    def __init__(self, hub_url: str, tenant: str) -> None:
        super().__init__(base_url=hub_url + NGSI_LD, headers={"NGSILD-Tenant": tenant},
                         timeout=30)
        self.hub_url = hub_url
        self.tenant = tenant
        self._others: list[ApiClient] = []

    def with_tenant(self, tenant: str) -> ApiClient:
        """Another client on the same hub for `tenant` (closed with this one)."""
        other = ApiClient(self.hub_url, tenant)
        self._others.append(other)
        return other

    def create(self, entity: dict[str, Any], **kwargs: Any) -> httpx.Response:
        """POST /entities, asserting 201."""
        response = self.post("/entities", json=entity, **kwargs)
        assert response.status_code == 201, response.text
        return response

    def create_many(self, entities: list[dict[str, Any]], **kwargs: Any) -> None:
        """POST /entityOperations/create, asserting every entity was created."""
        response = self.post("/entityOperations/create", json=entities, **kwargs)
        assert response.status_code == 201, response.text

    def snapshot(self) -> Any:
        """Everything this tenant holds, with system attributes, for before/after comparisons
        (the status code too: a tenant that does not exist yet answers 404)."""
        response = self.get("/entities", params={"idPattern": ".*", "limit": "1000",
                                                  "options": "sysAttrs"})
        return response.status_code, response.json()

    def close(self) -> None:
        for other in self._others:
            other.close()
        super().close()


def new_tenant() -> str:
    return f"test-{uuid.uuid4().hex[:16]}"


@pytest.fixture(scope="module")
def module_api(api_hub_url: str) -> Iterator[ApiClient]:
    """A client of the session hub bound to a fresh tenant shared by one test module."""
    client = ApiClient(api_hub_url, new_tenant())
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def small_hub_max_body() -> int:
    """The request body limit of the hub `small_api` talks to."""
    return SMALL_HUB_MAX_BODY


@pytest.fixture
def api(api_hub_url: str) -> Iterator[ApiClient]:
    """A client of the session hub bound to a fresh tenant (`api.tenant`)."""
    client = ApiClient(api_hub_url, new_tenant())
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def small_api(small_api_hub_url: str) -> Iterator[ApiClient]:
    """A client of the tight-limits hub bound to a fresh tenant."""
    client = ApiClient(small_api_hub_url, new_tenant())
    try:
        yield client
    finally:
        client.close()


class ContextServer:
    """A local HTTP server of JSON-LD documents that counts the requests for each path."""

    def __init__(self) -> None:
        self.documents: dict[str, Any] = {}
        self.hits: dict[str, int] = {}
        documents, hits = self.documents, self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits[self.path] = hits.get(self.path, 0) + 1
                document = documents.get(self.path)
                if document is None:
                    self.send_error(404)
                    return
                body = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/ld+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.02}, daemon=True,
                                       name="cityhub-test-contexts")
        self.thread.start()

    def publish(self, document: Any, name: str | None = None) -> str:
        """Serve `document` at a new path; return its URL."""
        path = f"/{name or uuid.uuid4().hex}.jsonld"
        self.documents[path] = copy.deepcopy(document)
        return self.base + path

    def hits_of(self, url: str) -> int:
        return self.hits.get(url.removeprefix(self.base), 0)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def context_server() -> Iterator[ContextServer]:
    """A local HTTP server of @context documents, for Link headers and inline URLs."""
    server = ContextServer()
    try:
        yield server
    finally:
        server.close()

# ========================================================================= end of API fixtures


# =========================================================================== external services
# Shared by every suite that needs a service (PostgreSQL, an MQTT broker, a browser): when the
# service is missing the test is skipped with the reason, except when CITYHUB_REQUIRE_SERVICES=1
# (CI sets it), where it fails: nothing real may be skipped there.


def require_service(name: str, reason: str) -> NoReturn:
    """Skip the running test because the service `name` is unavailable (fail under CI)."""
    message = f"{name} is not available: {reason}"
    if os.environ.get("CITYHUB_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} (CITYHUB_REQUIRE_SERVICES=1, so this is a failure)",
                    pytrace=False)
    pytest.skip(message)


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (`@pytest.mark.anyio`) run on asyncio."""
    return "asyncio"

# ==================================================================== end of external services

# ============================================================================== store fixtures
# Owned by tests/contract/. `store` is each Store adapter in turn, empty: SQLite in a fresh file,
# PostgreSQL in a fresh schema (created by the store, dropped after the test) of the database
# named by CITYHUB_TEST_POSTGRES, so tests never see each other's rows and need no cleanup.

POSTGRES_DSN_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
#: DSN -> why it cannot be used for tests (None: usable); checked once per session
_postgres_problems: dict[str, str | None] = {}


def postgres_test_dsn() -> str:
    return os.environ.get("CITYHUB_TEST_POSTGRES", POSTGRES_DSN_DEFAULT)


async def postgres_problem(dsn: str) -> str | None:
    """Why PostgreSQL with PostGIS at `dsn` cannot serve the tests, or None when it can."""
    if dsn not in _postgres_problems:
        import asyncpg

        from cityhub.ngsild.errors import NgsiLdError
        from cityhub.store.postgres.schema import ensure_postgis

        problem: str | None = None
        try:
            conn = await asyncpg.connect(dsn, timeout=5)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            problem = f"cannot connect to {dsn} ({type(exc).__name__}: {exc})"
        else:
            try:
                await ensure_postgis(conn)
            except NgsiLdError as exc:
                problem = exc.detail
            finally:
                await conn.close()
        _postgres_problems[dsn] = problem
    return _postgres_problems[dsn]


@asynccontextmanager
async def postgres_test_schema() -> AsyncIterator[tuple[str, str]]:
    """(DSN, name of a fresh schema) for one test; skips (or fails under CI) without PostGIS.
    The schema is dropped afterwards."""
    import asyncpg

    dsn = postgres_test_dsn()
    problem = await postgres_problem(dsn)
    if problem is not None:
        require_service("PostgreSQL with PostGIS",
                        f"{problem}; set CITYHUB_TEST_POSTGRES to the DSN of a test database")
    schema = f"contract_{uuid.uuid4().hex[:16]}"
    try:
        yield dsn, schema
    finally:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


@pytest.fixture
async def postgres_schema() -> AsyncIterator[tuple[str, str]]:
    """(DSN, fresh schema name) for PostgreSQL-only tests; skips or fails like `store`."""
    async with postgres_test_schema() as found:
        yield found


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Any]:
    """An open, empty Store of each adapter in turn (the contract suite runs on both)."""
    if request.param == "sqlite":
        from cityhub.store.sqlite import SqliteStore

        sqlite_store = SqliteStore(str(tmp_path / "contract.db"))
        await sqlite_store.open()
        try:
            yield sqlite_store
        finally:
            await sqlite_store.close()
        return
    from cityhub.store.postgres import PostgresStore

    async with postgres_test_schema() as (dsn, schema):
        postgres_store = PostgresStore(dsn, schema=schema, max_size=4)
        await postgres_store.open()
        try:
            yield postgres_store
        finally:
            await postgres_store.close()

# ======================================================================= end of store fixtures
