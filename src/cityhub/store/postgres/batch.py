"""The rows one write sends to PostgreSQL, built from the operations and the write plan.

Three steps, so that the expensive one can run while the database works:

* `encode_documents`: each Put's document as JSON, or a per-operation BadRequestData when
  PostgreSQL cannot hold it (U+0000 in a string: `text` and `jsonb` refuse it; SQLite stores it);
* `index_entities`: each Put's index rows (`store.rows.entity_rows`), its history rows
  (`store.changes`) and every name they use — the costly part, which a large write computes
  in a worker thread;
* `write_rows`: once the plan and the new eids are known, the entity rows to insert or update;
  `WriteRows` then generates the index rows while COPY sends them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from cityhub.ngsild.errors import BadRequestData, NgsiLdError
from cityhub.store.base import Put, WriteOp
from cityhub.store.changes import HistoryRow, put_history_rows
from cityhub.store.postgres.plan import WritePlan
from cityhub.store.postgres.schema import EncodedJson, ewkb
from cityhub.store.rows import EntityRows, entity_rows


class _KindBytes(dict[str, bytes]):
    """Leaf kind -> the one byte asyncpg sends for a "char" column."""

    def __missing__(self, kind: str) -> bytes:
        self[kind] = kind.encode()
        return self[kind]


_KIND_BYTE = _KindBytes()


def encode_documents(ops: list[WriteOp]) -> tuple[dict[int, EncodedJson], dict[int, NgsiLdError]]:
    """(position -> JSON document) of the storable Puts, (position -> error) of the others."""
    docs: dict[int, EncodedJson] = {}
    rejected: dict[int, NgsiLdError] = {}
    for position, op in enumerate(ops):
        if not isinstance(op, Put):
            continue
        try:
            doc = EncodedJson(orjson.dumps(op.entity))
        except orjson.JSONEncodeError as exc:
            rejected[position] = BadRequestData(f"entity {op.entity['id']}: {exc}")
            continue
        if b"\\u0000" in doc and _has_nul(op.entity):
            rejected[position] = BadRequestData(
                f"entity {op.entity['id']} contains the character U+0000, which cannot be stored"
            )
            continue
        docs[position] = doc
    return docs, rejected


@dataclass(slots=True)
class EntityIndex:
    """The index and history rows of every storable Put (by position) and the names they use."""

    rows: dict[int, EntityRows]
    names: set[str]
    history: dict[int, list[HistoryRow]] = field(default_factory=dict)

    @property
    def leaf_count(self) -> int:
        return sum(len(rows.leaves) for rows in self.rows.values())


def index_entities(ops: list[WriteOp], positions: Any) -> EntityIndex:
    """The index rows of the Puts at `positions` (pure computation; safe in a worker thread)."""
    index = EntityIndex({}, set())
    for position in positions:
        op = ops[position]
        assert isinstance(op, Put)
        rows = entity_rows(op.entity)
        index.names.update(rows.names)
        index.rows[position] = rows
        history = index.history[position] = put_history_rows(op)
        index.names.update(row[0] for row in history)
    return index


@lru_cache(maxsize=4096)
def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass(slots=True)
class WriteRows:
    """Every row one write inserts or updates; index rows are generated as they are sent."""

    #: rows to insert: (eid, tenant, id, created_at, modified_at, version, doc)
    entities: list[tuple[Any, ...]]
    #: rows to update in place: (eid, modified_at, version, doc, locked version)
    updates: list[tuple[int, str, int, EncodedJson, int]]
    #: (eid, put, position) of every entity written
    placed: list[tuple[int, Put, int]]
    #: (eid, position) of every successful Put whose entity is not deleted by the same write
    recorded: list[tuple[int, int]] = field(default_factory=list)

    def types(self, names: dict[str, int]) -> Iterator[tuple[int, int]]:
        """entity_types rows: (tid, eid)."""
        for eid, put, _ in self.placed:
            for name in dict.fromkeys(put.entity["type"]):
                yield names[name], eid

    def leaves(
        self, index: EntityIndex, names: dict[str, int]
    ) -> Iterator[tuple[int, int, bytes, float, str, str | None]]:
        """attr_index rows: (eid, kid, kind, num, txt, atype), kind as one byte ("char")."""
        kinds = _KIND_BYTE
        for eid, _, position in self.placed:
            for key, kind, num, txt, atype in index.rows[position].leaves:
                yield eid, names[key], kinds[kind], num, txt, atype

    def geometries(
        self, index: EntityIndex, names: dict[str, int]
    ) -> Iterator[tuple[int, int, bytes]]:
        """geo_index rows: (eid, kid, EWKB)."""
        for eid, _, position in self.placed:
            for key, geometry, _ in index.rows[position].geometries:
                yield eid, names[key], ewkb(geometry)

    def history(
        self, index: EntityIndex, names: dict[str, int], *, as_text: bool
    ) -> list[tuple[Any, ...]]:
        """attr_history rows of every Put placed (each successful Put, also one a later Put of
        the same batch hides): (eid, kid, dataset_id, observed_at, created_at, modified_at,
        num, instance). Times stay text with `as_text` (the statement casts them), else become
        datetimes (binary COPY)."""
        moment = str if as_text else _moment
        return [
            (eid, names[attr], dataset, moment(observed), moment(created), moment(modified),
             num, EncodedJson(inst))
            for eid, position in self.recorded
            for attr, dataset, observed, created, modified, num, inst in index.history[position]
        ]

    def type_count(self) -> int:
        return sum(len(put.entity["type"]) for _, put, _ in self.placed)

    def geometry_count(self, index: EntityIndex) -> int:
        return sum(len(index.rows[position].geometries) for _, _, position in self.placed)


def write_rows(
    tenant: str,
    plan: WritePlan,
    docs: dict[int, EncodedJson],
    new_eids: list[int],
    *,
    in_place: bool,
) -> WriteRows:
    """The entity rows of `plan`: new entities get `new_eids` in order; with `in_place`,
    changed entities are updated, otherwise inserted again under their eid."""
    rows = WriteRows([], [], [])
    fresh = iter(new_eids)
    eids: dict[int, int] = {}  # row key -> eid
    for write in plan.writes:
        doc = docs[write.position]
        if write.eid is not None and in_place:
            eid = write.eid
            rows.updates.append((eid, write.put.now, write.version, doc, plan.touched[eid]))
        else:
            eid = next(fresh) if write.eid is None else write.eid
            rows.entities.append(
                (eid, tenant, write.entity_id, write.created_at, write.put.now, write.version,
                 doc)
            )
        rows.placed.append((eid, write.put, write.position))
        eids[write.key] = eid
    # a Put's row key has no eid when a later Delete of the same write removed the entity
    rows.recorded = [(eids[key], position) for position, key in plan.puts if key in eids]
    return rows


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False
