"""What one entity change means for a subscription, and the data its notification carries
(ETSI GS CIM 009 v1.8, clauses 5.2.12 notificationTrigger, 5.3.1 Notification).

Pure domain code, no I/O. `describe_change` compares the entity before and after one write;
`reason_for` decides whether a subscription notifies it and with which triggerReason;
`render_change` renders the entity the notification carries, under the subscription's term map.

Rules (docs/api.md, "Subscriptions"):

* the entity (after the change; before it for a deletion) must match one of `entities` (id,
  idPattern as a Python `re` search, type expression), and `q`, `geoQ` and `scopeQ`;
* the change must involve a watched attribute (`watchedAttributes`; none given: any). Creating
  an entity involves all its attributes, deleting one all it had;
* triggers: creating an entity fires entityCreated and attributeCreated; deleting one fires
  entityDeleted; an update fires attributeCreated / attributeUpdated / attributeDeleted for the
  watched attributes it added / changed / removed (an instance is changed when the write stamped
  it: its modifiedAt is the write's time), and entityUpdated for any of those (or, with no
  watchedAttributes, a change of type or scope). The subscription notifies when one of its
  `notificationTrigger` fired; the first of `REASONS` that did is the `triggerReason`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cityhub.ngsild.context import TermMap
from cityhub.ngsild.entity import NGSI_LD_NULL, VALUE_MEMBER, leaf_key, leaves_lookup
from cityhub.ngsild.geo import geo_matches
from cityhub.ngsild.q import matches
from cityhub.ngsild.render import KEY_VALUES, NORMALIZED, render_entity
from cityhub.ngsild.scope import scope_matches
from cityhub.ngsild.subscription import (
    ATTRIBUTE_CREATED,
    ATTRIBUTE_DELETED,
    ATTRIBUTE_UPDATED,
    ENTITY_CREATED,
    ENTITY_DELETED,
    ENTITY_UPDATED,
    REASONS,
    Subscription,
)


@dataclass(frozen=True, slots=True)
class EntityChange:
    """One write's effect on one entity: the documents before and after (None: absent) and
    the attributes it created, changed and deleted."""

    entity_id: str
    at: str
    previous: dict | None
    current: dict | None
    created: frozenset[str]
    updated: frozenset[str]
    deleted: frozenset[str]
    #: types or scopes changed
    other_changed: bool

    @property
    def entity(self) -> dict:
        found = self.current if self.current is not None else self.previous
        assert found is not None
        return found

    @property
    def types(self) -> set[str]:
        types = set(self.current["type"]) if self.current is not None else set()
        if self.previous is not None:
            types.update(self.previous["type"])
        return types

    @property
    def attrs(self) -> frozenset[str]:
        return self.created | self.updated | self.deleted


def describe_change(entity_id: str, at: str, previous: dict | None, current: dict | None
                    ) -> EntityChange:
    before = previous["attrs"] if previous is not None else {}
    after = current["attrs"] if current is not None else {}
    created = frozenset(after.keys() - before.keys())
    deleted = frozenset(before.keys() - after.keys())
    updated = frozenset(iri for iri in after.keys() & before.keys()
                        if _instances_changed(before[iri], after[iri], at))
    other = (previous is not None and current is not None
             and (previous["type"] != current["type"]
                  or previous.get("scope") != current.get("scope")))
    return EntityChange(entity_id, at, previous, current, created, updated, deleted, other)


def _instances_changed(before: list[dict], after: list[dict], at: str) -> bool:
    if len(before) != len(after):
        return True
    if any(inst.get("modifiedAt") == at for inst in after):
        return True
    return before != after


# --------------------------------------------------------------------------- matching


def reason_for(sub: Subscription, change: EntityChange) -> str | None:
    """The triggerReason of the notification `change` causes, or None when it causes none.
    (Whether the subscription is live is the caller's business.)"""
    if sub.periodic:
        return None
    entity = change.entity
    if sub.selectors and not any(s.matches(entity) for s in sub.selectors):
        return None
    reason = _reason(sub, change)
    if reason is None or not filters_match(sub, entity):
        return None
    return reason


def _relevant(sub: Subscription, attrs: frozenset[str]) -> frozenset[str]:
    return attrs if sub.watched is None else attrs & sub.watched


def _reason(sub: Subscription, change: EntityChange) -> str | None:
    fired: set[str] = set()
    if change.previous is None:
        created = _relevant(sub, change.created)
        if created or sub.watched is None:
            fired.add(ENTITY_CREATED)
        if created:
            fired.add(ATTRIBUTE_CREATED)
    elif change.current is None:
        if sub.watched is None or _relevant(sub, change.deleted):
            fired.add(ENTITY_DELETED)
    else:
        for attrs, trigger in ((change.created, ATTRIBUTE_CREATED),
                               (change.updated, ATTRIBUTE_UPDATED),
                               (change.deleted, ATTRIBUTE_DELETED)):
            if _relevant(sub, attrs):
                fired.add(trigger)
        if fired or (sub.watched is None and change.other_changed):
            fired.add(ENTITY_UPDATED)
    for reason in REASONS:
        if reason in fired and reason in sub.triggers:
            return reason
    return None


def filters_match(sub: Subscription, entity: dict) -> bool:
    """Whether an entity satisfies the subscription's scopeQ, q and geoQ."""
    if sub.scopeq is not None and not scope_matches(sub.scopeq, entity.get("scope", ())):
        return False
    if sub.q is not None:
        lookup = leaves_lookup(entity)
        if not matches(sub.q, lambda p: lookup(leaf_key(p.attr, p.sub, p.compound))):
            return False
    if sub.geoq is not None:
        instances = entity["attrs"].get(sub.geoq.geoproperty, ())
        if not any(inst["type"] == "GeoProperty" and geo_matches(sub.geoq, inst["value"])
                   for inst in instances):
            return False
    return True


# --------------------------------------------------------------------------- notification data


def render_change(sub: Subscription, change: EntityChange, terms: TermMap) -> dict[str, Any]:
    """The entity of a notification about `change`: its state after the change (a deleted
    entity: id, type and deletedAt), with showChanges' previous values and, for
    attributeDeleted, the deleted attributes as urn:ngsi-ld:null with deletedAt."""
    at = change.at
    if change.current is None:
        previous = change.previous or {"id": change.entity_id, "type": []}
        stub = {"id": previous["id"], "type": previous["type"], "attrs": {}}
        out = render_entity(stub, terms, sub.options)
        out["deletedAt"] = at
        return out
    created_at = at if change.previous is None else None
    out = render_entity(change.current, terms, sub.options, created_at, at)
    if change.previous is None:
        return out
    compact = terms.compact
    fmt = sub.options.format
    if sub.show_changes and fmt != KEY_VALUES:
        for iri in change.updated:
            name = compact(iri)
            if name in out:
                out[name] = _with_previous(out[name], change.current["attrs"][iri],
                                           change.previous["attrs"][iri], compact)
    if ATTRIBUTE_DELETED in sub.triggers:
        pick, omit = sub.options.pick, sub.options.omit
        for iri in _relevant(sub, change.deleted):
            if (pick is None or iri in pick) and iri not in omit:
                out[compact(iri)] = _deleted_marker(fmt, at)
    return out


def render_current(sub: Subscription, entity: dict, terms: TermMap, created_at: str | None,
                   modified_at: str | None) -> dict[str, Any]:
    """An entity's current state as a periodic notification carries it."""
    return render_entity(entity, terms, sub.options, created_at, modified_at)


def _previous_member(member: str) -> str:
    return "previous" + member[0].upper() + member[1:]


def _with_previous(rendered: Any, current: list[dict], previous: list[dict],
                   compact: Callable[[str], str]) -> Any:
    """`rendered` (one instance or a list of them) with the previous value of each instance
    (showChanges: previousValue, previousObject, previousLanguageMap, ...)."""
    old = {inst.get("datasetId"): inst for inst in previous}
    items = rendered if isinstance(rendered, list) and len(current) > 1 else [rendered]
    out = []
    for item, inst in zip(items, current, strict=False):
        before = old.get(inst.get("datasetId"))
        if before is None or before["type"] != inst["type"]:
            out.append(item)
            continue
        member = VALUE_MEMBER[before["type"]]
        value = before[member]
        if member == "vocab":
            value = [compact(v) for v in value] if isinstance(value, list) else compact(value)
        item = dict(item) if isinstance(item, dict) else {"value": item}
        item[_previous_member(member)] = value
        out.append(item)
    return out if len(out) > 1 else out[0]


def _deleted_marker(fmt: str, at: str) -> Any:
    if fmt == KEY_VALUES:
        return NGSI_LD_NULL
    marker: dict[str, Any] = {"type": "Property"} if fmt == NORMALIZED else {}
    marker.update({"value": NGSI_LD_NULL, "deletedAt": at})
    return marker
