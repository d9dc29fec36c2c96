"""Store contract, values: awkward numbers, texts and coordinates survive a batch write exactly
(document, q index, geometry and history), on every adapter. The SQLite adapter ships a batch's
rows to the database as one JSON array (store/sqlite/store.py), so a number or a text that JSON
text could alter would show here."""

from __future__ import annotations

import pytest

from cityhub.store.base import HistoryQuery, Put, Store

from .support import NOW, entity, found, geo, iri, new_tenant, point, q, urn

pytestmark = pytest.mark.anyio

#: (q literal, value): shortest-round-trip floats, a subnormal, integers past 2**53
NUMBERS = [("0.30000000000000004", 0.1 + 0.2), ("1.7976931348623157e299", 1.7976931348623157e299),
           ("5e-324", 5e-324), ("9007199254740993", 9007199254740993), ("-0.0001", -0.0001)]
TEXTS = ['세종 "Hansol" \\ 1동', "emoji \U0001f6b2 / tab\tend", "line\nbreak", "'; DROP TABLE x"]


async def test_numbers_texts_and_points_round_trip_through_a_batch(store: Store) -> None:
    tenant = new_tenant()
    lon, lat = 127.28912345678901, 36.480000000000004
    payloads = [{"id": f"N{i}", "type": "Reading", "reading": value,
                 "location": {"type": "GeoProperty", "value": point(lon + i * 1e-9, lat)}}
                for i, (_, value) in enumerate(NUMBERS)]
    payloads += [{"id": f"S{i}", "type": "Reading", "label": text}
                 for i, text in enumerate(TEXTS)]
    entities = [entity(p) for p in payloads]
    outcomes = await store.write(tenant, [Put(e, NOW, "create") for e in entities])
    assert [o.error for o in outcomes] == [None] * len(entities)

    stored = await store.get(tenant, [e["id"] for e in entities])
    assert [stored[e["id"]].entity for e in entities] == entities
    for i, (literal, _) in enumerate(NUMBERS):
        assert await found(store, tenant, q=q(f"reading=={literal}")) == [f"N{i}"], literal
    near = geo("near;maxDistance==1", point(lon, lat))
    assert await found(store, tenant, geoq=near) == [f"N{i}" for i in range(len(NUMBERS))]

    history = await store.history(tenant, HistoryQuery(
        tuple(urn(f"S{i}") for i in range(len(TEXTS))), (iri("label"),)))
    assert sorted(h.instance["value"] for h in history) == sorted(TEXTS)
    readings = await store.history(tenant, HistoryQuery(
        tuple(urn(f"N{i}") for i in range(len(NUMBERS))), (iri("reading"),)))
    assert sorted(h.instance["value"] for h in readings) == sorted(v for _, v in NUMBERS)
