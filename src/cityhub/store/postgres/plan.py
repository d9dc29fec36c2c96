"""Planning one `write()` call: every operation's outcome and the rows to change, before any SQL.

The rules are those of `SqliteStore._apply`, replayed in the order of the operations on what the
database held when the transaction locked the rows (`Existing`):

* Put "create" fails with AlreadyExists when the id exists, "replace" with ResourceNotFound when
  it does not, and any Put with a stale `expected_version` with Conflict; Delete of a missing id
  is ResourceNotFound, with a stale `expected_version` Conflict. A failed operation changes
  nothing and the others still apply.
* Operations on the same id see each other: a second Put of an id created earlier in the batch
  updates it (version 2, `created` False, its createdAt kept); a Delete followed by a Put creates
  the entity anew. Each successful Put adds one to the version; the last state of each row wins.
* `WriteOutcome.previous` is the entity as stored before the call (None for an id that did not
  exist), filled only when the caller asked for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cityhub.ngsild.errors import AlreadyExists, Conflict, NgsiLdError, ResourceNotFound
from cityhub.store.base import Put, StoredEntity, WriteOp, WriteOutcome


@dataclass(slots=True)
class Existing:
    """An entity row as the write transaction found (and locked) it."""

    eid: int
    version: int
    created_at: str
    previous: StoredEntity | None = None


@dataclass(slots=True)
class RowWrite:
    """The final state of one entity row after all operations of the call."""

    entity_id: str
    put: Put
    #: the position of `put` among the operations
    position: int
    version: int
    created_at: str
    #: the stored row this replaces (same eid), or None for a new row
    eid: int | None
    #: the id of the row while planning (a stored eid, or negative for a new row)
    key: int = 0


@dataclass(slots=True)
class WritePlan:
    outcomes: list[WriteOutcome]
    #: final row states; new rows in the order their entities were created
    writes: list[RowWrite] = field(default_factory=list)
    #: stored rows that change or go away -> the version they had when locked
    touched: dict[int, int] = field(default_factory=dict)
    #: (position, row key) of every successful Put, for its history rows
    puts: list[tuple[int, int]] = field(default_factory=list)

    @property
    def new_rows(self) -> int:
        return sum(1 for w in self.writes if w.eid is None)


@dataclass(slots=True)
class _Slot:
    """One entity id while the operations are replayed."""

    key: int  # a stored eid, or a negative number for a row created in this call
    version: int
    created_at: str
    stored: Existing | None
    previous: StoredEntity | None


def op_entity_id(op: WriteOp) -> str:
    return op.entity["id"] if isinstance(op, Put) else op.entity_id


def plan_writes(
    ops: Sequence[WriteOp],
    existing: dict[str, Existing],
    rejected: dict[int, NgsiLdError] | None = None,
) -> WritePlan:
    """Outcomes and row changes for `ops`; `rejected` maps op positions failed beforehand."""
    rejected = rejected or {}
    state: dict[str, _Slot] = {
        entity_id: _Slot(row.eid, row.version, row.created_at, row, row.previous)
        for entity_id, row in existing.items()
    }
    final: dict[int, tuple[_Slot, Put | None, int]] = {}
    touched: dict[int, int] = {}
    puts: list[tuple[int, int]] = []
    outcomes: list[WriteOutcome] = []
    next_new = -1
    for position, op in enumerate(ops):
        entity_id = op_entity_id(op)
        current = state.get(entity_id)
        outcome = WriteOutcome(entity_id, previous=current.previous if current else None)
        outcomes.append(outcome)
        if position in rejected:
            outcome.error = rejected[position]
            continue
        if isinstance(op, Put):
            error = _check_put(op, current)
            if error is not None:
                outcome.error = error
            elif current is None:
                slot = _Slot(next_new, 1, op.now, None, None)
                next_new -= 1
                state[entity_id] = slot
                final[slot.key] = (slot, op, position)
                puts.append((position, slot.key))
                outcome.created = True
            else:
                current.version += 1
                final[current.key] = (current, op, position)
                puts.append((position, current.key))
                if current.stored is not None:
                    touched[current.key] = current.stored.version
        elif current is None:
            outcome.error = ResourceNotFound(f"entity {entity_id} does not exist")
        elif op.expected_version is not None and op.expected_version != current.version:
            outcome.error = Conflict(f"entity {entity_id} changed concurrently")
        else:
            final[current.key] = (current, None, position)
            if current.stored is not None:
                touched[current.key] = current.stored.version
            del state[entity_id]
    plan = WritePlan(outcomes, touched=touched, puts=puts)
    for slot, put, position in final.values():
        if put is None:  # deleted: its stored row (if any) is among `touched`
            continue
        plan.writes.append(RowWrite(
            put.entity["id"], put, position, slot.version, slot.created_at,
            slot.stored.eid if slot.stored else None, slot.key,
        ))
    return plan


def _check_put(op: Put, current: _Slot | None) -> NgsiLdError | None:
    entity_id = op.entity["id"]
    if op.mode == "create" and current is not None:
        return AlreadyExists(f"entity {entity_id} already exists")
    if op.mode == "replace" and current is None:
        return ResourceNotFound(f"entity {entity_id} does not exist")
    if op.expected_version is not None and (
        current is None or current.version != op.expected_version
    ):
        return Conflict(f"entity {entity_id} changed concurrently")
    return None
