"""Subscriptions in the pure domain: what a change fires, names recorded across @contexts, the
stored form round trip, and the index keys."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.ngsild.context import compile_context, core_term_map
from cityhub.ngsild.entity import EntityParser
from cityhub.ngsild.errors import BadRequestData
from cityhub.ngsild.notification import describe_change, reason_for, render_change
from cityhub.ngsild.subscription import (
    Subscription,
    parse_subscription,
    patch_subscription,
    render_subscription,
    required_types,
)
from cityhub.ngsild.typeexpr import map_types, parse_type_expression

CORE = core_term_map()
T0, T1 = "2026-01-01T00:00:00.000Z", "2026-01-01T00:01:00.000Z"
OTHER = compile_context({"temperature": "https://example.org/ns#temp"}, lambda url: None)


def sub(**members: Any) -> Subscription:
    payload = {"type": "Subscription", "entities": [{"type": "Room"}],
               "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}}, **members}
    return parse_subscription(payload, CORE.expand, T0, generated_id="urn:ngsi-ld:S:1",
                              context=None)


def room(now: str, **attrs: Any) -> dict[str, Any]:
    return EntityParser(CORE, now).entity({"id": "urn:ngsi-ld:Room:1", "type": "Room", **attrs})


def updated(before: dict, now: str, **attrs: Any) -> dict:
    after = {**before, "attrs": dict(before["attrs"])}
    after["attrs"].update(EntityParser(CORE, now).entity({"id": before["id"], **attrs},
                                                         require_type=False)["attrs"])
    return after


BEFORE = room(T0, temperature=20, humidity=50)


@pytest.mark.parametrize(("triggers", "watched", "after", "expected"), [
    (None, None, updated(BEFORE, T1, temperature=21), "attributeUpdated"),
    (None, ["humidity"], updated(BEFORE, T1, temperature=21), None),
    (None, None, updated(BEFORE, T1, co2=400), "attributeCreated"),
    (["entityUpdated"], None, updated(BEFORE, T1, co2=400), "entityUpdated"),
    (["attributeDeleted"], None, {**BEFORE, "attrs": {
        k: v for k, v in BEFORE["attrs"].items() if not k.endswith("humidity")}},
     "attributeDeleted"),
    (None, None, BEFORE, None),  # written again unchanged: nothing was stamped
    (["entityDeleted"], None, None, "entityDeleted"),
    (None, None, None, None),
])
def test_what_an_update_fires(triggers: list[str] | None, watched: list[str] | None,
                              after: dict | None, expected: str | None) -> None:
    members: dict[str, Any] = {}
    if triggers:
        members["notificationTrigger"] = triggers
    if watched:
        members["watchedAttributes"] = watched
    change = describe_change(BEFORE["id"], T1, BEFORE, after)
    assert reason_for(sub(**members), change) == expected


def test_creation_fires_entity_and_attribute_created() -> None:
    change = describe_change(BEFORE["id"], T0, None, BEFORE)
    assert reason_for(sub(), change) == "attributeCreated"
    assert reason_for(sub(notificationTrigger=["entityCreated"]), change) == "entityCreated"
    assert reason_for(sub(watchedAttributes=["co2"]), change) is None
    assert reason_for(sub(q="temperature>25"), change) is None
    assert reason_for(sub(entities=[{"type": "Hall"}]), change) is None


def test_show_changes_and_deleted_attributes_in_the_data() -> None:
    after = updated(BEFORE, T1, temperature=21)
    change = describe_change(BEFORE["id"], T1, BEFORE, after)
    data = render_change(sub(notification={"endpoint": {"uri": "http://h/n"},
                                           "showChanges": True, "format": "concise"}),
                         change, CORE)
    assert data["temperature"] == {"value": 21, "previousValue": 20}
    assert data["humidity"] == 50


def test_names_keep_the_context_they_were_written_in() -> None:
    first = sub(watchedAttributes=["temperature"])
    assert first.watched == {CORE.expand("temperature")}
    patched = patch_subscription(first, {"q": "temperature>1"}, OTHER.expand, T1, CORE.expand)
    assert patched.watched == first.watched  # not re-read under the PATCH's @context
    assert patched.q is not None and patched.q.path.attr == "https://example.org/ns#temp"
    again = Subscription.from_doc(patched.to_doc(), CORE.expand)
    assert again.watched == patched.watched and again.q == patched.q
    shown = render_subscription(again, T1)
    assert shown["watchedAttributes"] == ["temperature"] and shown["q"] == "temperature>1"


def test_patch_validates_the_result_and_keeps_an_old_expiry() -> None:
    expiring = parse_subscription(
        {"type": "Subscription", "entities": [{"type": "Room"}], "expiresAt": T1,
         "notification": {"endpoint": {"uri": "http://h/n"}}},
        CORE.expand, T0, generated_id="urn:ngsi-ld:S:2", context=None)
    later = "2026-01-01T00:02:00.000Z"
    renamed = patch_subscription(expiring, {"subscriptionName": "x"}, CORE.expand, later,
                                 CORE.expand)
    assert renamed.status(later) == "expired"
    with pytest.raises(BadRequestData, match="not in the future"):
        patch_subscription(expiring, {"expiresAt": T0}, CORE.expand, later, CORE.expand)
    with pytest.raises(BadRequestData, match="timeInterval and watchedAttributes"):
        patch_subscription(sub(watchedAttributes=["a"]), {"timeInterval": 5}, CORE.expand, T1,
                           CORE.expand)


def test_required_types_index_every_match() -> None:
    def names(text: str) -> list[str]:
        return required_types(map_types(parse_type_expression(text), lambda n: n))

    assert names("A") == ["A"]
    assert names("A|B") == ["A", "B"]
    assert names("A;B") == ["A"]
    assert sorted(names("(A;B)|(C;D;E)|F")) == ["A", "C", "F"]
    keys = sub(entities=[{"type": "Room", "id": "urn:ngsi-ld:Room:1"}, {"type": "A|B"}])
    assert keys.index_keys() == [("id", "urn:ngsi-ld:Room:1"),
                                 ("type", CORE.expand("A")), ("type", CORE.expand("B"))]
