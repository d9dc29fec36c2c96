"""JSON-LD @context handling compiled for speed: a context becomes a term map once.

NGSI-LD payloads use short names ("temperature", "AirQualityObserved") that stand for IRIs. The
hub stores IRIs and answers with the short names of the request's own @context. Running a full
JSON-LD expansion per request would be slow and is unnecessary: NGSI-LD fixes the document shape,
so only the *terms* (attribute names, entity types, relationship object types) need mapping.

`compile_context` turns a context (a URL, an inline object, or a list of them) into a `TermMap`,
an immutable pair of dictionaries (term -> IRI and IRI -> term) with the NGSI-LD core context
applied last so that it prevails, as the specification requires (clause 5.5.7). Remote documents
are supplied by the caller through `load` — this module never does I/O.

Supported context features: string and `{"@id": ...}` term definitions, compact IRIs
(`prefix:suffix`), terms defined by other terms, `@vocab`, and nested context lists. Keywords such
as `@version`, `@protected`, `@base`, `@language`, `@type` coercions and `@container` do not change
how NGSI-LD names map to IRIs and are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from cityhub.ngsild.errors import BadRequestData

NGSI_LD = "https://uri.etsi.org/ngsi-ld/"
DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"

#: The core contexts shipped with the package, by canonical URL. They are never fetched.
CORE_CONTEXT_FILES: dict[str, str] = {
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld": "core-context-v1.6.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.7.jsonld": "core-context-v1.7.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld": "core-context-v1.8.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld": "core-context-v1.9.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld": "core-context.jsonld",
    "https://w3id.org/security/data-integrity/v2": "data-integrity-v2.jsonld",
}
#: The core context this hub speaks (v1.8 behaviour).
CORE_CONTEXT_URL = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"

MAX_CONTEXT_DEPTH = 16
MAX_TERMS = 20_000


@cache
def shipped_document(url: str) -> Any:
    """The parsed JSON document of a shipped core context, or None if `url` is not one."""
    name = CORE_CONTEXT_FILES.get(url)
    if name is None:
        return None
    text = resources.files("cityhub.ngsild").joinpath("contexts", name).read_text("utf-8")
    return json.loads(text)


def is_core_url(url: str) -> bool:
    return url in CORE_CONTEXT_FILES


class TermMap:
    """A compiled @context: term <-> IRI in both directions, immutable and shareable."""

    __slots__ = ("_compact_cache", "_expand_cache", "iri_to_term", "key", "term_to_iri", "vocab")

    def __init__(self, term_to_iri: dict[str, str], vocab: str | None, key: Any = None) -> None:
        self.term_to_iri = term_to_iri
        self.vocab = vocab
        self.key = key
        reverse: dict[str, str] = {}
        for term, iri in term_to_iri.items():
            if ":" in term and not term.startswith(("http:", "https:", "urn:")):
                # Compact IRIs used as terms ("schema:name") are poor output names; prefer a
                # plain term when one exists.
                reverse.setdefault(iri, term)
                continue
            if iri not in reverse or ":" in reverse[iri]:
                reverse[iri] = term
        self.iri_to_term = reverse
        self._expand_cache: dict[str, str] = {}
        self._compact_cache: dict[str, str] = {}

    def expand(self, term: str) -> str:
        """Expand an attribute name or entity type to its IRI."""
        cached = self._expand_cache.get(term)
        if cached is not None:
            return cached
        iri = self.term_to_iri.get(term)
        if iri is None:
            iri = _expand_compact(term, self.term_to_iri)
            if iri is None:
                iri = term if _is_absolute(term) else (self.vocab or DEFAULT_VOCAB) + term
        if len(self._expand_cache) < 100_000:
            self._expand_cache[term] = iri
        return iri

    def compact(self, iri: str) -> str:
        """The short name of an IRI in this context (the IRI itself when it has none)."""
        cached = self._compact_cache.get(iri)
        if cached is not None:
            return cached
        term = self.iri_to_term.get(iri)
        if term is None:
            vocab = self.vocab or DEFAULT_VOCAB
            if iri.startswith(vocab) and len(iri) > len(vocab):
                term = iri[len(vocab) :]
            elif iri.startswith(DEFAULT_VOCAB) and len(iri) > len(DEFAULT_VOCAB):
                term = iri[len(DEFAULT_VOCAB) :]
            else:
                term = iri
        if len(self._compact_cache) < 100_000:
            self._compact_cache[iri] = term
        return term


def _is_absolute(term: str) -> bool:
    scheme, sep, _ = term.partition(":")
    return bool(sep) and scheme.isascii() and scheme[:1].isalpha() and all(
        c.isalnum() or c in "+-." for c in scheme
    )


def _expand_compact(term: str, terms: dict[str, str]) -> str | None:
    prefix, sep, suffix = term.partition(":")
    if sep and not suffix.startswith("//"):
        base = terms.get(prefix)
        if base is not None:
            return base + suffix
    return None


def context_urls(context: Any) -> list[str]:
    """Every URL a context names at its top level (not those nested inside fetched documents)."""
    items = context if isinstance(context, list) else [context]
    return [item for item in items if isinstance(item, str)]


def compile_context(
    context: Any, load: Callable[[str], Any], key: Any = None
) -> TermMap:
    """Compile `context` (URL, object, or list of them) plus the core context into a TermMap.

    `load(url)` returns the parsed JSON document at a URL (the caller fetched and cached it) and
    raises if it cannot. Core context URLs are resolved from the package, never through `load`.
    """
    raw: dict[str, Any] = {}
    vocab_box: list[str | None] = [None]
    _collect(context, load, raw, vocab_box, depth=0)
    core_raw: dict[str, Any] = {}
    core_vocab: list[str | None] = [None]
    # the URL, not the document: `_collect` unwraps a document's "@context" member
    _collect(CORE_CONTEXT_URL, load, core_raw, core_vocab, depth=0)
    raw.update(core_raw)  # the core context prevails
    terms = _resolve_terms(raw)
    return TermMap(terms, vocab_box[0] or core_vocab[0] or DEFAULT_VOCAB, key)


def _collect(
    context: Any,
    load: Callable[[str], Any],
    raw: dict[str, Any],
    vocab: list[str | None],
    depth: int,
) -> None:
    if depth > MAX_CONTEXT_DEPTH:
        raise BadRequestData("@context nests other contexts too deeply")
    if context is None:
        return
    if isinstance(context, list):
        for item in context:
            _collect(item, load, raw, vocab, depth + 1)
        return
    if isinstance(context, str):
        document = shipped_document(context)
        if document is None:
            document = load(context)
        if not isinstance(document, dict) or "@context" not in document:
            raise BadRequestData(f"the document at {context} is not a JSON-LD context")
        _collect(document["@context"], load, raw, vocab, depth + 1)
        return
    if not isinstance(context, dict):
        raise BadRequestData("@context must be a URL, an object or a list of them")
    for term, definition in context.items():
        if not isinstance(term, str):
            continue
        if term == "@vocab":
            if definition is None or isinstance(definition, str):
                vocab[0] = definition
            continue
        if term.startswith("@"):
            continue
        if len(raw) >= MAX_TERMS:
            raise BadRequestData(f"@context defines more than {MAX_TERMS} terms")
        if isinstance(definition, str):
            raw[term] = definition
        elif isinstance(definition, dict):
            iri = definition.get("@id")
            if isinstance(iri, str):
                raw[term] = iri
            elif iri is None and "@id" not in definition:
                raw[term] = term  # type-only definition: the term is expanded through @vocab
        elif definition is None:
            raw.pop(term, None)


def _resolve_terms(raw: dict[str, Any]) -> dict[str, str]:
    """Resolve compact IRIs and term references to absolute IRIs."""
    resolved: dict[str, str] = {}

    def resolve(term: str, seen: frozenset[str]) -> str | None:
        if term in resolved:
            return resolved[term]
        value = raw.get(term)
        if value is None or term in seen:
            return None
        if value.startswith("@"):
            return None  # a keyword alias such as "id": "@id"
        if value != term and value in raw:
            target = resolve(value, seen | {term})
            if target is not None:
                resolved[term] = target
                return target
        prefix, sep, suffix = value.partition(":")
        if sep and not suffix.startswith("//") and prefix in raw and prefix != term:
            base = resolve(prefix, seen | {term})
            if base is not None:
                resolved[term] = base + suffix
                return resolved[term]
        if _is_absolute(value):
            resolved[term] = value
            return value
        return None

    for term in raw:
        resolve(term, frozenset())
    return resolved


def core_term_map() -> TermMap:
    """The term map of the core context alone (requests without a user context)."""
    return _core_term_map()


@lru_cache(maxsize=1)
def _core_term_map() -> TermMap:
    return compile_context(None, _no_load, key=CORE_CONTEXT_URL)


def _no_load(url: str) -> Any:
    raise BadRequestData(f"context {url} is not available")

