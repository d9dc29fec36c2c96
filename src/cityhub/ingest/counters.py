"""Per-source ingest counters, exposed as `IngestSource` entities.

A source is one way records arrive: ``mqtt`` (the gateway), ``http`` (bulk ingest) or
``file:<name>`` (an import). Each counts the records it received, accepted (stored), rejected
(into the dead-letter store) and dropped as duplicates, and when it last saw one. The counts
live in the process and are written as entities (default tenant,
``urn:ngsi-ld:IngestSource:<source>``) when they change, at most once per flush interval.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cityhub.ngsild.entity import format_datetime

_UNSAFE = re.compile(r"[^A-Za-z0-9._:\-]")


@dataclass(slots=True)
class Counts:
    """Records received, and what became of them: received = accepted + rejected +
    duplicates."""

    received: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0


@dataclass(slots=True)
class SourceCount(Counts):
    #: broker disconnections the source lived through (MQTT)
    disconnects: int = 0
    #: when it last received a record (time.time()); formatted only when the counters are
    #: written, not for every record
    seen_at: float | None = None

    @property
    def last_seen(self) -> str | None:
        if self.seen_at is None:
            return None
        return format_datetime(datetime.fromtimestamp(self.seen_at, UTC))


def source_entity_id(source: str) -> str:
    return "urn:ngsi-ld:IngestSource:" + _UNSAFE.sub("_", source)[:200]


def channel_of(source: str) -> str:
    channel = source.split(":", 1)[0]
    return channel if channel in ("mqtt", "http", "file") else "http"


class SourceCounters:
    def __init__(self) -> None:
        self.counts: dict[str, SourceCount] = {}
        self._dirty: set[str] = set()

    def get(self, source: str) -> SourceCount:
        count = self.counts.get(source)
        if count is None:
            count = self.counts[source] = SourceCount()
        return count

    def received(self, source: str, n: int = 1) -> None:
        count = self.get(source)
        count.received += n
        count.seen_at = time.time()
        self._dirty.add(source)

    def add(self, source: str, *, accepted: int = 0, rejected: int = 0,
            duplicates: int = 0, disconnects: int = 0) -> None:
        count = self.get(source)
        count.disconnects += disconnects
        count.accepted += accepted
        count.rejected += rejected
        count.duplicates += duplicates
        self._dirty.add(source)

    def take_changed(self) -> list[dict[str, Any]]:
        """The IngestSource entities of the sources that changed since the last call."""
        out = []
        for source in sorted(self._dirty):
            c = self.counts[source]
            entity: dict[str, Any] = {
                "id": source_entity_id(source), "type": "IngestSource",
                "name": {"type": "Property", "value": source},
                "channel": {"type": "Property", "value": channel_of(source)},
                "received": {"type": "Property", "value": c.received},
                "accepted": {"type": "Property", "value": c.accepted},
                "rejected": {"type": "Property", "value": c.rejected},
                "duplicates": {"type": "Property", "value": c.duplicates},
                "disconnects": {"type": "Property", "value": c.disconnects},
            }
            last_seen = c.last_seen
            if last_seen is not None:
                entity["lastSeen"] = {"type": "Property", "value": last_seen}
            out.append(entity)
        self._dirty.clear()
        return out
