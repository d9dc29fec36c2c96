"""The @context resolver: allow-listed sources, caching, and failures that never hang."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cityhub.broker.contexts import ContextResolver
from cityhub.ngsild.errors import BadRequestData, LdContextNotAvailable
from cityhub.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio


async def resolver(tmp_path: Path, **options: object) -> ContextResolver:
    store = SqliteStore(str(tmp_path / "hub.db"))
    await store.open()
    contexts = ContextResolver(store, **options)  # type: ignore[arg-type]
    await contexts.start()
    return contexts


async def test_sources_outside_the_allow_list_are_not_fetched(tmp_path: Path) -> None:
    contexts = await resolver(tmp_path, allow=("https://contexts.example.org/",))
    started = time.perf_counter()
    with pytest.raises(LdContextNotAvailable, match="allows"):
        await contexts.for_link("http://169.254.169.254/latest/meta-data")
    assert time.perf_counter() - started < 0.5  # refused, not attempted
    await contexts.store.close()


async def test_unreachable_context_fails_fast(tmp_path: Path) -> None:
    contexts = await resolver(tmp_path, fetch_timeout=1.0)
    started = time.perf_counter()
    with pytest.raises(LdContextNotAvailable):
        await contexts.for_link("http://127.0.0.1:9/unreachable.jsonld")
    assert time.perf_counter() - started < 2.0
    await contexts.store.close()


async def test_non_http_urls_are_bad_request_data(tmp_path: Path) -> None:
    contexts = await resolver(tmp_path)
    with pytest.raises(BadRequestData):
        await contexts.for_link("file:///etc/passwd")
    await contexts.store.close()


async def test_hosted_contexts_survive_a_restart(tmp_path: Path) -> None:
    contexts = await resolver(tmp_path)
    record = await contexts.add({"@context": {"pm25": "https://example.org/pm25"}},
                                "http://hub.example")
    await contexts.store.close()
    again = await resolver(tmp_path, allow=())  # nothing may be fetched: it must be local
    terms = await again.for_link(record.url)
    assert terms.expand("pm25") == "https://example.org/pm25"
    await again.store.close()
