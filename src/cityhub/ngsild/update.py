"""How fragments change entities: append, update, merge-patch, partial update, delete.

Pure functions over the normal form (see `entity`). Each returns a new entity (inputs are not
mutated) and reports which attributes it changed, so that the broker can answer with an
UpdateResult and, later, tell subscribers what changed.

Instance identity is (attribute IRI, datasetId); the instance without datasetId is the default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cityhub.ngsild.entity import INSTANCE_MEMBERS, NGSI_LD_NULL, VALUE_MEMBER
from cityhub.ngsild.errors import BadRequestData, ResourceNotFound


@dataclass
class UpdateResult:
    """Clause 5.2.18: what was updated and what was not, and why."""

    updated: list[str] = field(default_factory=list)
    not_updated: list[tuple[str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.updated)


def _copy_attrs(entity: dict) -> dict:
    copy = dict(entity)
    copy["attrs"] = {iri: list(instances) for iri, instances in entity["attrs"].items()}
    return copy


def _find(instances: list[dict], dataset_id: str | None) -> int:
    for index, inst in enumerate(instances):
        if inst.get("datasetId") == dataset_id:
            return index
    return -1


def _is_null(inst: dict) -> bool:
    member = VALUE_MEMBER.get(inst.get("type", ""), "value")
    return inst.get(member) == NGSI_LD_NULL or inst.get("value") == NGSI_LD_NULL


def _replace_instance(old: dict, new: dict) -> dict:
    new = dict(new)
    new["createdAt"] = old["createdAt"]
    return new


def append_attributes(entity: dict, attrs: dict[str, list[dict]], *, overwrite: bool) -> tuple[
    dict, UpdateResult
]:
    """Clause 5.6.3 Append Entity Attributes (`options=noOverwrite` keeps existing ones).

    The hot path of options=update upserts (every MQTT reading): only the lists of the
    attributes the fragment names are copied; the others are shared with `entity`, which no
    function here changes in place."""
    result = UpdateResult()
    out = dict(entity)
    out_attrs = out["attrs"] = dict(entity["attrs"])
    for iri, instances in attrs.items():
        current = out_attrs.get(iri)
        current = [] if current is None else list(current)
        out_attrs[iri] = current
        changed = False
        for inst in instances:
            member = VALUE_MEMBER.get(inst.get("type", ""), "value")
            if inst.get(member) == NGSI_LD_NULL or inst.get("value") == NGSI_LD_NULL:
                raise BadRequestData("null is not a value for an appended attribute")
            dataset_id = inst.get("datasetId")
            if len(current) == 1 and current[0].get("datasetId") == dataset_id:
                index = 0  # the common case: one instance, replaced
            else:
                index = _find(current, dataset_id)
            if index < 0:
                current.append(inst)
                changed = True
            elif overwrite:
                replaced = dict(inst)
                replaced["createdAt"] = current[index]["createdAt"]
                current[index] = replaced
                changed = True
        if changed:
            result.updated.append(iri)
        else:
            result.not_updated.append((iri, "attribute exists and noOverwrite was requested"))
    return out, result


def update_attributes(entity: dict, attrs: dict[str, list[dict]]) -> tuple[dict, UpdateResult]:
    """Clause 5.6.2 Update Entity Attributes: only instances that exist change; null deletes."""
    result = UpdateResult()
    out = _copy_attrs(entity)
    for iri, instances in attrs.items():
        current = out["attrs"].get(iri)
        if current is None:
            result.not_updated.append((iri, "attribute does not exist"))
            continue
        changed = False
        for inst in instances:
            index = _find(current, inst.get("datasetId"))
            if index < 0:
                continue
            if _is_null(inst):
                del current[index]
            else:
                current[index] = _replace_instance(current[index], inst)
            changed = True
        if not current:
            del out["attrs"][iri]
        if changed:
            result.updated.append(iri)
        else:
            result.not_updated.append((iri, "no instance with that datasetId"))
    return out, result


def merge_entity(entity: dict, fragment: dict, now: str) -> tuple[dict, UpdateResult]:
    """Clause 5.6.17 Merge Entity (merge-patch): add, merge, and delete with null."""
    result = UpdateResult()
    out = _copy_attrs(entity)
    if "type" in fragment:
        out["type"] = list(dict.fromkeys([*entity["type"], *fragment["type"]]))
    if "scope" in fragment:
        out["scope"] = fragment["scope"]
    for iri, instances in fragment["attrs"].items():
        current = out["attrs"].setdefault(iri, [])
        for inst in instances:
            index = _find(current, inst.get("datasetId"))
            if _is_null(inst):
                if index >= 0:
                    del current[index]
                continue
            if index < 0:
                current.append(_complete(inst, iri))
            else:
                current[index] = merge_instance(current[index], inst, now)
        if current:
            result.updated.append(iri)
        else:
            del out["attrs"][iri]
            result.updated.append(iri)
    return out, result


def merge_instance(old: dict, fragment: dict, now: str) -> dict:
    """Merge a (possibly partial) instance fragment into an existing instance."""
    new = dict(old)
    kind = fragment.get("type")
    if kind and kind != old["type"]:
        if VALUE_MEMBER[kind] not in fragment:
            raise BadRequestData(f"changing an attribute to {kind} needs its value")
        for member in set(VALUE_MEMBER.values()):
            new.pop(member, None)
        new["type"] = kind
    for key, item in fragment.items():
        if key in ("type", "createdAt", "modifiedAt", "sub"):
            continue
        if key in INSTANCE_MEMBERS:
            if item == NGSI_LD_NULL and key not in VALUE_MEMBER.values():
                new.pop(key, None)
            else:
                new[key] = item
    if "sub" in fragment:
        subs = dict(old.get("sub", {}))
        for sub_iri, sub in fragment["sub"].items():
            if _is_null(sub):
                subs.pop(sub_iri, None)
            elif sub_iri in subs:
                subs[sub_iri] = merge_instance(subs[sub_iri], sub, now)
            else:
                subs[sub_iri] = _complete(sub, sub_iri)
        if subs:
            new["sub"] = subs
        else:
            new.pop("sub", None)
    member = VALUE_MEMBER[new["type"]]
    if new.get(member) == NGSI_LD_NULL:
        raise BadRequestData("null cannot replace the value of an attribute that stays")
    new["modifiedAt"] = now
    return new


def _complete(inst: dict, iri: str) -> dict:
    """A fragment instance that becomes a whole new attribute must carry its value."""
    kind = inst.get("type")
    if not kind or VALUE_MEMBER[kind] not in inst:
        raise BadRequestData(f"new attribute {iri} needs a value")
    if "sub" in inst:
        inst = dict(inst)
        inst["sub"] = {
            k: _complete(v, k) for k, v in inst["sub"].items() if not _is_null(v)
        }
    return inst


def partial_update_attribute(
    entity: dict, iri: str, fragment: dict, now: str
) -> dict:
    """Clause 5.6.4 Partial Attribute Update: merge into one existing instance."""
    out = _copy_attrs(entity)
    current = out["attrs"].get(iri)
    dataset_id = fragment.get("datasetId")
    index = _find(current, dataset_id) if current else -1
    if index < 0:
        raise ResourceNotFound(_missing(entity["id"], iri, dataset_id))
    current[index] = merge_instance(current[index], fragment, now)
    return out


def delete_attribute(
    entity: dict, iri: str, dataset_id: str | None, delete_all: bool
) -> dict:
    """Clause 5.6.5 Delete Entity Attribute (one instance, or all with deleteAll)."""
    out = _copy_attrs(entity)
    current = out["attrs"].get(iri)
    if not current:
        raise ResourceNotFound(_missing(entity["id"], iri, None))
    if delete_all:
        del out["attrs"][iri]
        return out
    index = _find(current, dataset_id)
    if index < 0:
        raise ResourceNotFound(_missing(entity["id"], iri, dataset_id))
    del current[index]
    if not current:
        del out["attrs"][iri]
    return out


def _missing(entity_id: str, iri: str, dataset_id: str | None) -> str:
    where = f" with datasetId {dataset_id}" if dataset_id else ""
    return f"entity {entity_id} has no attribute {iri}{where}"


def strip_nulls(attrs: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Drop null instances (a full replacement has nothing to delete)."""
    out: dict[str, list[Any]] = {}
    for iri, instances in attrs.items():
        kept = [inst for inst in instances if not _is_null(inst)]
        if kept:
            out[iri] = kept
    return out
