"""Resolving the @context of a request to a compiled TermMap, and the @context source API.

Core contexts ship with the package and are never fetched. Other context URLs are fetched once
(with a timeout and a size limit), kept in the store as "Cached" contexts, and compiled once;
contexts posted to `/jsonldContexts` are "Hosted" and served by the hub itself. A context that
cannot be fetched is an `LdContextNotAvailable` error, never a hang.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from cityhub.ngsild.context import (
    CORE_CONTEXT_FILES,
    CORE_CONTEXT_URL,
    TermMap,
    compile_context,
    core_term_map,
    is_core_url,
    shipped_document,
)
from cityhub.ngsild.entity import is_uri, now_iso
from cityhub.ngsild.errors import BadRequestData, LdContextNotAvailable, ResourceNotFound
from cityhub.store.base import ContextRecord, Store

HOSTED_PATH = re.compile(r"/ngsi-ld/v1/jsonldContexts/([A-Za-z0-9_\-:.]+)$")
MAX_CONTEXT_BYTES = 1_000_000
MAX_URLS_PER_CONTEXT = 32


@dataclass(slots=True)
class ContextUsage:
    hits: int = 0
    last_usage: str | None = None


class ContextResolver:
    """Turns Link headers and inline contexts into TermMaps; caches and hosts contexts."""

    def __init__(
        self,
        store: Store,
        *,
        fetch_timeout: float = 5.0,
        cache_size: int = 512,
        allow: tuple[str, ...] | None = None,
    ) -> None:
        self.store = store
        self.fetch_timeout = fetch_timeout
        #: URL prefixes that may be fetched (None: any http(s) URL), so an operator can keep
        #: the hub from reaching addresses a client names
        self.allow = allow
        self._records: dict[str, ContextRecord] = {}  # by URL
        self._compiled: OrderedDict[Any, TermMap] = OrderedDict()
        self._cache_size = cache_size
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._usage: dict[str, ContextUsage] = {}

    async def start(self) -> None:
        for record in await self.store.list_contexts():
            self._records[record.url] = record

    # -- resolution --------------------------------------------------------------------------
    async def for_link(self, url: str | None) -> TermMap:
        if url is None or url == CORE_CONTEXT_URL:
            return core_term_map()
        cached = self._compiled.get(url)
        if cached is not None:
            self._compiled.move_to_end(url)
            self._touch(url)
            return cached
        return await self._compile(url, url)

    async def for_inline(self, context: Any) -> TermMap:
        if context is None:
            return core_term_map()
        if isinstance(context, str):
            return await self.for_link(context)
        try:
            key = orjson.dumps(context, option=orjson.OPT_SORT_KEYS)
        except (TypeError, orjson.JSONEncodeError):
            raise BadRequestData("@context is not valid JSON-LD") from None
        cached = self._compiled.get(key)
        if cached is not None:
            self._compiled.move_to_end(key)
            return cached
        return await self._compile(context, key)

    async def _compile(self, context: Any, key: Any) -> TermMap:
        documents: dict[str, Any] = {}
        await self._gather(context, documents, depth=0)
        terms = compile_context(context, documents.__getitem__, key)
        self._compiled[key] = terms
        if len(self._compiled) > self._cache_size:
            self._compiled.popitem(last=False)
        return terms

    async def _gather(self, context: Any, documents: dict[str, Any], depth: int) -> None:
        """Load every remote document `context` needs, recursively, into `documents`."""
        if depth > 8:
            raise BadRequestData("@context nests other contexts too deeply")
        urls = [c for c in (context if isinstance(context, list) else [context])
                if isinstance(c, str)]
        if len(urls) > MAX_URLS_PER_CONTEXT:
            raise BadRequestData(f"@context names more than {MAX_URLS_PER_CONTEXT} URLs")
        for url in urls:
            if is_core_url(url) or url in documents:
                continue
            document = await self.document(url)
            documents[url] = document
            self._touch(url)
            await self._gather(document.get("@context"), documents, depth + 1)

    async def document(self, url: str) -> Any:
        """The context document at `url`: shipped, hosted, cached, or fetched now."""
        shipped = shipped_document(url)
        if shipped is not None:
            return shipped
        record = self._records.get(url) or self._hosted_by_path(url)
        if record is not None:
            return record.document
        if not is_uri(url) or not url.startswith(("http://", "https://")):
            raise BadRequestData(f"@context {url[:200]!r} is not an http(s) URL")
        if self.allow is not None and not url.startswith(self.allow):
            raise LdContextNotAvailable(
                f"@context {url[:200]} is not known here, and this hub fetches contexts only "
                "from the sources its operator allows")
        pending = self._inflight.get(url)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch(url))
            self._inflight[url] = pending
            pending.add_done_callback(lambda _f: self._inflight.pop(url, None))
        document = await asyncio.shield(pending)
        return document

    def _hosted_by_path(self, url: str) -> ContextRecord | None:
        match = HOSTED_PATH.search(url)
        if match is None:
            return None
        for record in self._records.values():
            if record.id == match.group(1) and record.kind == "Hosted":
                return record
        return None

    async def _fetch(self, url: str) -> Any:
        try:
            async with (
                httpx.AsyncClient(timeout=self.fetch_timeout, follow_redirects=True,
                                  max_redirects=3) as client,
                client.stream("GET", url, headers={"Accept": "application/ld+json, "
                                                             "application/json"}) as response,
            ):
                if response.status_code != 200:
                    raise LdContextNotAvailable(
                        f"@context {url} answered HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_CONTEXT_BYTES:
                        raise LdContextNotAvailable(f"@context {url} is too large")
        except httpx.HTTPError as exc:
            raise LdContextNotAvailable(
                f"@context {url} could not be fetched: {type(exc).__name__}") from None
        try:
            document = orjson.loads(bytes(body))
        except orjson.JSONDecodeError:
            raise LdContextNotAvailable(f"@context {url} is not JSON") from None
        if not isinstance(document, dict) or "@context" not in document:
            raise LdContextNotAvailable(f"@context {url} is not a JSON-LD context document")
        record = ContextRecord(_local_id(), url, "Cached", document, now_iso())
        await self.store.put_context(record)
        self._records[url] = record
        return document

    def _touch(self, url: str) -> None:
        usage = self._usage.setdefault(url, ContextUsage())
        usage.hits += 1
        usage.last_usage = now_iso()

    # -- the @context source API (clause 5.13) ----------------------------------------------
    def list(self, *, kind: str | None = None) -> list[dict[str, Any]]:
        infos = [
            {"url": url, "localId": f"urn:ngsi-ld:core:{name}", "kind": "Cached",
             "timestamp": None}
            for url, name in CORE_CONTEXT_FILES.items()
        ]
        infos += [
            {"url": r.url, "localId": r.id, "kind": r.kind, "timestamp": r.created_at}
            for r in self._records.values()
        ]
        for info in infos:
            usage = self._usage.get(info["url"])
            if usage is not None:
                info["lastUsage"] = usage.last_usage
                info["numberOfHits"] = usage.hits
            if info["timestamp"] is None:
                del info["timestamp"]
        if kind is not None:
            infos = [i for i in infos if i["kind"] == kind]
        return infos

    def get(self, context_id: str) -> Any:
        return self._find(context_id)[1]

    def _find(self, context_id: str) -> tuple[ContextRecord | None, Any]:
        for record in self._records.values():
            if context_id in (record.id, record.url):
                return record, record.document
        core = shipped_document(context_id) or next(
            (shipped_document(url) for url, name in CORE_CONTEXT_FILES.items()
             if context_id == f"urn:ngsi-ld:core:{name}"), None)
        if core is not None:
            return None, core
        raise ResourceNotFound(f"no @context {context_id[:200]!r} is known")

    async def add(self, document: Any, base_url: str) -> ContextRecord:
        if not isinstance(document, dict) or set(document) != {"@context"}:
            raise BadRequestData("a context to host must be an object with one @context member")
        local_id = _local_id()
        url = base_url.rstrip("/") + "/ngsi-ld/v1/jsonldContexts/" + local_id
        # compile now: a context that cannot be used is refused, not hosted
        await self.for_inline(document["@context"])
        record = ContextRecord(local_id, url, "Hosted", document, now_iso())
        await self.store.put_context(record)
        self._records[url] = record
        return record

    async def delete(self, context_id: str, *, reload: bool) -> None:
        record, _ = self._find(context_id)
        if record is None:
            raise BadRequestData("the core @context cannot be deleted")
        if reload and record.kind != "Cached":
            raise BadRequestData("only a cached @context can be reloaded")
        await self.store.delete_context(record.id)
        del self._records[record.url]
        self._forget(record.url)
        if reload:
            await self.document(record.url)

    def _forget(self, url: str) -> None:
        """Drop every compiled term map: any of them may have used `url`, directly or nested."""
        self._compiled.clear()
        self._usage.pop(url, None)

    def urls(self) -> Iterable[str]:
        return [info["url"] for info in self.list()]


def _local_id() -> str:
    return uuid.uuid4().hex
