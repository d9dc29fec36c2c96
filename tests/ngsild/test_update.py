"""Appending attributes (the options=update upsert's merge): the same result as the plain
algorithm, without changing its inputs, while copying only what it changes."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityhub.ngsild.errors import BadRequestData
from cityhub.ngsild.update import (
    UpdateResult,
    _copy_attrs,
    _find,
    _is_null,
    _replace_instance,
    append_attributes,
)

OLD, NEW = "2026-11-01T00:00:00.000Z", "2026-12-01T00:00:00.000Z"
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"


def plain_append(entity: dict, attrs: dict, *, overwrite: bool) -> tuple[dict, UpdateResult]:
    """Clause 5.6.3 as first written: copy every attribute's list, then find and replace."""
    result = UpdateResult()
    out = _copy_attrs(entity)
    for iri, instances in attrs.items():
        current = out["attrs"].setdefault(iri, [])
        changed = False
        for inst in instances:
            if _is_null(inst):
                raise BadRequestData("null is not a value for an appended attribute")
            index = _find(current, inst.get("datasetId"))
            if index < 0:
                current.append(inst)
                changed = True
            elif overwrite:
                current[index] = _replace_instance(current[index], inst)
                changed = True
        if changed:
            result.updated.append(iri)
        else:
            result.not_updated.append((iri, "attribute exists and noOverwrite was requested"))
    return out, result


def attributes(stamp: str) -> st.SearchStrategy[dict[str, list[dict]]]:
    """Attributes in normal form: up to three instances each, datasetIds distinct."""
    value = st.integers(0, 3) | st.sampled_from(["free", "urn:ngsi-ld:null"])

    def instance(dataset_id: str | None, kind: str, item: Any) -> dict:
        inst: dict[str, Any] = {"type": kind}
        inst["object" if kind == "Relationship" else "value"] = (
            f"urn:x:{item}" if kind == "Relationship" and item != "urn:ngsi-ld:null" else item)
        if dataset_id is not None:
            inst["datasetId"] = dataset_id
        inst["createdAt"] = inst["modifiedAt"] = stamp
        return inst

    instances = st.lists(
        st.tuples(st.sampled_from([None, "urn:d:1", "urn:d:2"]),
                  st.sampled_from(["Property", "Relationship"]), value),
        min_size=1, max_size=3, unique_by=lambda t: t[0],
    ).map(lambda items: [instance(*item) for item in items])
    return st.dictionaries(st.sampled_from([VOCAB + n for n in "abcde"]), instances,
                           max_size=4)


def outcome(append: Any, entity: dict, attrs: dict, overwrite: bool) -> Any:
    try:
        out, result = append(entity, attrs, overwrite=overwrite)
    except BadRequestData as error:
        return ("refused", error.detail)
    return (list(out.items()), [list(i) for i in out["attrs"].items()],
            [[list(inst.items()) for inst in instances] for instances in out["attrs"].values()],
            result)


@settings(max_examples=400, deadline=None)
@given(stored=attributes(OLD), fragment=attributes(NEW), overwrite=st.booleans())
def test_append_equals_the_plain_algorithm(stored: dict, fragment: dict, overwrite: bool
                                           ) -> None:
    entity = {"id": "urn:ngsi-ld:T:1", "type": ["T"], "attrs": stored}
    before = copy.deepcopy((entity, fragment))
    assert outcome(append_attributes, entity, fragment, overwrite) == outcome(
        plain_append, copy.deepcopy(entity), copy.deepcopy(fragment), overwrite)
    assert (entity, fragment) == before  # inputs unchanged


def test_append_copies_only_the_lists_it_changes() -> None:
    kept = [{"type": "Property", "value": 1, "createdAt": OLD, "modifiedAt": OLD}]
    changed = [{"type": "Property", "value": 2, "createdAt": OLD, "modifiedAt": OLD}]
    entity = {"id": "urn:x:1", "type": ["T"], "attrs": {"k": kept, "c": changed}}
    fragment = {"c": [{"type": "Property", "value": 3, "createdAt": NEW, "modifiedAt": NEW}]}
    out, result = append_attributes(entity, fragment, overwrite=True)
    assert result.updated == ["c"]
    assert out["attrs"]["k"] is kept  # untouched: shared
    assert out["attrs"]["c"] is not changed and changed[0]["value"] == 2
    assert out["attrs"]["c"] == [{"type": "Property", "value": 3, "createdAt": OLD,
                                  "modifiedAt": NEW}]
    assert out["attrs"]["c"][0] is not fragment["c"][0]  # the fragment keeps its createdAt
    assert fragment["c"][0]["createdAt"] == NEW


@pytest.mark.parametrize("null", [{"type": "Property", "value": "urn:ngsi-ld:null"},
                                  {"type": "Relationship", "object": "urn:ngsi-ld:null"}])
def test_append_refuses_null(null: dict) -> None:
    entity = {"id": "urn:x:1", "type": ["T"], "attrs": {}}
    with pytest.raises(BadRequestData, match="null is not a value"):
        append_attributes(entity, {"a": [null]}, overwrite=True)
