"""What a write records besides the entities: attribute history and, when asked, change records.

Both adapters write these rows inside the write's own transaction, so history and change
records exist exactly when the entity write they describe does (nothing is recorded for an
operation that failed, and a crash loses neither half).

* **History** (`attr_history`, the temporal API's data): every attribute instance a Put
  changed. An instance is changed by a write when its `modifiedAt` is the write's `now`: the
  parser stamps every instance of a fragment with it, and instances a merge leaves alone keep
  their own. Its time is its `observedAt`, else that modification time. Rows are keyed by the
  entity's row id (`eid`) and the attribute's interned name id (`kid`), so a series is a range
  of one small index; deleting an entity deletes its history (as Stellio does: the temporal
  entity is the entity). SQLite keeps times as integer milliseconds since the epoch
  (`ngsild.temporal.epoch_ms`), PostgreSQL as timestamptz.
* **Change records** (`change_outbox`, the source of notifications): one row per successful
  operation with the entity document before and after it, so that a notification due at a
  crash is still sent after the restart. Only written when the caller asks (`record_changes`):
  a tenant without subscriptions pays nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from cityhub.store.base import Put, WriteOp, WriteOutcome

#: one attr_history row without its tenant and entity id:
#: (attr IRI, datasetId, observed_at, created_at, modified_at, num, instance JSON)
HistoryRow = tuple[str, str | None, str, str, str, float | None, bytes]
#: one change_outbox row without its tenant: (entity id, at, previous JSON, current JSON)
ChangeRow = tuple[str, str, bytes | None, bytes | None]


def history_rows(entity: dict[str, Any], now: str) -> list[HistoryRow]:
    """The instances of `entity` that the write at `now` changed, as history rows."""
    rows: list[HistoryRow] = []
    for iri, instances in entity["attrs"].items():
        for inst in instances:
            if inst.get("modifiedAt") != now:
                continue
            rows.append((iri, inst.get("datasetId"), inst.get("observedAt") or now,
                         inst.get("createdAt") or now, now, numeric(inst.get("value")),
                         orjson.dumps(inst)))
    return rows


def put_history_rows(put: Put) -> list[HistoryRow]:
    """The history rows a Put records: the instances it changes and those it carries."""
    rows = history_rows(put.entity, put.now)
    if put.history:
        rows.extend(history_rows({"attrs": put.history}, put.now))
    return rows


def numeric(value: Any) -> float | None:
    """The number aggregations see in a value: ints and floats, not booleans."""
    kind = type(value)
    if kind is float:
        return value
    if kind is int and -(2**63) <= value < 2**63:
        return float(value)
    return None


def change_rows(
    ops: Sequence[WriteOp],
    outcomes: Sequence[WriteOutcome],
    stored: dict[str, bytes],
    documents: Sequence[bytes | None],
    deleted_at: str,
) -> list[ChangeRow]:
    """One change row per successful operation, in operation order.

    `stored` maps the ids of entities that existed before the write to their JSON document;
    `documents[i]` is the JSON the i-th operation writes (None for a Delete). A later
    operation on the same id sees the document an earlier one wrote."""
    rows: list[ChangeRow] = []
    latest: dict[str, bytes | None] = dict(stored)
    for op, outcome, document in zip(ops, outcomes, documents, strict=True):
        if outcome.error is not None:
            continue
        previous = latest.get(outcome.entity_id)
        at = op.now if isinstance(op, Put) else deleted_at
        rows.append((outcome.entity_id, at, previous, document))
        latest[outcome.entity_id] = document
    return rows


__all__ = ["ChangeRow", "HistoryRow", "change_rows", "history_rows", "numeric",
           "put_history_rows"]
