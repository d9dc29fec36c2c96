"""Rendering entities from the normal form: normalized, concise, keyValues; projection; lang.

The inverse of `entity.EntityParser`: IRIs are compacted with the request's term map, and the
representation follows the `options` / `format` the client asked for (clause 4.5).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from cityhub.ngsild.context import TermMap
from cityhub.ngsild.entity import (
    GEO_PROPERTY,
    LANGUAGE_PROPERTY,
    LIST_RELATIONSHIP,
    PROPERTY,
    VALUE_MEMBER,
    VOCAB_PROPERTY,
)

#: `scope` as pick/omit name it: expanded by the core context, which every term map includes
SCOPE_IRI = "https://uri.etsi.org/ngsi-ld/scope"

NORMALIZED = "normalized"
CONCISE = "concise"
KEY_VALUES = "keyValues"


@dataclass(frozen=True, slots=True)
class RenderOptions:
    format: str = NORMALIZED
    sys_attrs: bool = False
    #: expanded attribute IRIs to keep (None: all)
    pick: frozenset[str] | None = None
    #: expanded attribute IRIs to drop
    omit: frozenset[str] = frozenset()
    include_id: bool = True
    include_type: bool = True
    #: language preference for LanguageProperty ("en", "ko,en", "*"); None keeps the map
    lang: str | None = None


DEFAULT_OPTIONS = RenderOptions()


def render_entity(
    entity: dict,
    terms: TermMap,
    options: RenderOptions = DEFAULT_OPTIONS,
    created_at: str | None = None,
    modified_at: str | None = None,
) -> dict[str, Any]:
    compact = terms.compact
    if options is DEFAULT_OPTIONS or options == DEFAULT_OPTIONS:
        return _render_normalized(entity, compact)
    out: dict[str, Any] = {}
    if options.include_id:
        out["id"] = entity["id"]
    if options.include_type:
        types = [compact(t) for t in entity["type"]]
        out["type"] = types[0] if len(types) == 1 else types
    if "scope" in entity and _keep(SCOPE_IRI, options):
        scope = entity["scope"]
        out["scope"] = scope[0] if len(scope) == 1 and options.format != NORMALIZED else scope
    if options.sys_attrs and options.format != KEY_VALUES:
        if created_at:
            out["createdAt"] = created_at
        if modified_at:
            out["modifiedAt"] = modified_at
    pick, omit = options.pick, options.omit
    for iri, instances in entity["attrs"].items():
        if (pick is not None and iri not in pick) or iri in omit:
            continue
        rendered = [render_instance(inst, compact, options) for inst in instances]
        out[compact(iri)] = rendered[0] if len(rendered) == 1 else rendered
    return out


def _render_normalized(entity: dict, compact: Callable[[str], str]) -> dict[str, Any]:
    """`render_entity` with DEFAULT_OPTIONS (the answer of nearly every read), without the
    option tests: the same members in the same order, at about half the cost
    (bench/broker.py's GET /entities/{id} spends a tenth of its time rendering)."""
    types = entity["type"]
    out: dict[str, Any] = {
        "id": entity["id"],
        "type": compact(types[0]) if len(types) == 1 else [compact(t) for t in types],
    }
    if "scope" in entity:
        out["scope"] = entity["scope"]
    for iri, instances in entity["attrs"].items():
        if len(instances) == 1:
            out[compact(iri)] = _normalized_instance(instances[0], compact)
        else:
            out[compact(iri)] = [_normalized_instance(inst, compact) for inst in instances]
    return out


#: the kinds whose normalized form copies their value member as stored
_COPIED_MEMBER = {kind: member for kind, member in VALUE_MEMBER.items()
                  if kind not in (LIST_RELATIONSHIP, VOCAB_PROPERTY)}


def _normalized_instance(inst: dict, compact: Callable[[str], str]) -> dict[str, Any]:
    """`render_instance` with DEFAULT_OPTIONS."""
    kind = inst["type"]
    member = _COPIED_MEMBER.get(kind)
    if member is not None:
        out: dict[str, Any] = {"type": kind, member: inst[member]}
    elif kind == LIST_RELATIONSHIP:
        out = {"type": kind, "objectList": [{"object": uri} for uri in inst["objectList"]]}
    elif kind == VOCAB_PROPERTY:
        vocab = inst["vocab"]
        out = {"type": kind, "vocab": [compact(v) for v in vocab] if isinstance(vocab, list)
               else compact(vocab)}
    else:
        raise KeyError(kind)  # as render_instance: not a kind the store holds
    if "objectType" in inst:
        out["objectType"] = compact(inst["objectType"])
    if "observedAt" in inst:
        out["observedAt"] = inst["observedAt"]
    if "unitCode" in inst:
        out["unitCode"] = inst["unitCode"]
    if "datasetId" in inst:
        out["datasetId"] = inst["datasetId"]
    sub = inst.get("sub")
    if sub:
        for sub_iri, sub_inst in sub.items():
            out[compact(sub_iri)] = _normalized_instance(sub_inst, compact)
    return out


def _keep(iri: str, options: RenderOptions) -> bool:
    """Whether pick/omit (expanded names) keep the entity member `iri`."""
    return (options.pick is None or iri in options.pick) and iri not in options.omit


def render_instance(inst: dict, compact: Callable[[str], str], options: RenderOptions) -> Any:
    kind = inst["type"]
    fmt = options.format
    if fmt == KEY_VALUES:
        return _simplified_value(inst, options.lang)
    out: dict[str, Any] = {}
    if fmt == NORMALIZED:
        out["type"] = kind
    if kind == LANGUAGE_PROPERTY and options.lang is not None and options.lang != "*":
        tag, text = pick_language(inst["languageMap"], options.lang)
        if fmt == NORMALIZED:
            out["type"] = PROPERTY
        out["value"] = text
        out["lang"] = tag
    elif kind == LIST_RELATIONSHIP:
        out["objectList"] = [{"object": uri} for uri in inst["objectList"]]
    elif kind == VOCAB_PROPERTY:
        vocab = inst["vocab"]
        out["vocab"] = [compact(v) for v in vocab] if isinstance(vocab, list) else compact(vocab)
    else:
        member = VALUE_MEMBER[kind]
        out[member] = inst[member]
    if "objectType" in inst:
        out["objectType"] = compact(inst["objectType"])
    for member in ("observedAt", "unitCode", "datasetId"):
        if member in inst:
            out[member] = inst[member]
    if options.sys_attrs:
        out["createdAt"] = inst["createdAt"]
        out["modifiedAt"] = inst["modifiedAt"]
    for sub_iri, sub in inst.get("sub", {}).items():
        out[compact(sub_iri)] = render_instance(sub, compact, options)
    if fmt == CONCISE:
        return _concise(kind, out)
    return out


def _concise(kind: str, out: dict[str, Any]) -> Any:
    """Drop what the concise form lets a reader infer (clause 4.5.2.x)."""
    if len(out) == 1 and "value" in out:
        value = out["value"]
        if kind == GEO_PROPERTY:
            return value
        if kind == PROPERTY and not isinstance(value, dict | list):
            return value
    return out


def _simplified_value(inst: dict, lang: str | None) -> Any:
    kind = inst["type"]
    if kind == LANGUAGE_PROPERTY:
        if lang is not None and lang != "*":
            return pick_language(inst["languageMap"], lang)[1]
        return {"languageMap": inst["languageMap"]}
    if kind == LIST_RELATIONSHIP:
        return inst["objectList"]
    return inst[VALUE_MEMBER[kind]]


def pick_language(language_map: dict[str, Any], preference: str) -> tuple[str, Any]:
    """The (tag, text) best matching a preference such as "ko" or "ko,en;q=0.8"."""
    wanted = [p.split(";")[0].strip() for p in preference.split(",") if p.strip()]
    for tag in wanted:
        if tag in language_map:
            return tag, language_map[tag]
    for tag in wanted:
        primary = tag.split("-")[0].lower()
        for candidate, text in language_map.items():
            if candidate.split("-")[0].lower() == primary:
                return candidate, text
    if "@none" in language_map:
        return "@none", language_map["@none"]
    tag = next(iter(language_map))
    return tag, language_map[tag]


def attribute_names(entity: dict, terms: TermMap, keep: Collection[str] | None = None) -> list[str]:
    return [terms.compact(iri) for iri in entity["attrs"] if keep is None or iri in keep]


def render_feature(
    entity: dict,
    terms: TermMap,
    geometry_property: str,
    options: RenderOptions = DEFAULT_OPTIONS,
    created_at: str | None = None,
    modified_at: str | None = None,
) -> dict[str, Any]:
    """Clause 4.5.16: an entity as a GeoJSON Feature, its geometry from `geometry_property`."""
    geometry = None
    for inst in entity["attrs"].get(geometry_property, ()):
        if inst["type"] == GEO_PROPERTY:
            geometry = inst["value"]
            break
    properties = render_entity(entity, terms, options, created_at, modified_at)
    properties.pop("id", None)
    return {"id": entity["id"], "type": "Feature", "geometry": geometry,
            "properties": properties}
