"""Bulk export formats of a dataset: CSV, GeoJSON and NGSI-LD, written piece by piece from
rendered entities, so a dataset of any size streams in constant memory. Pure: no I/O.

CSV: one row per entity, the header `id,type` then the dataset's attribute names in sorted
order (fixed before the first row, so every row has the same columns); values are keyValues,
a structured value (a GeoJSON geometry, an object, a list) as compact JSON.
GeoJSON: a FeatureCollection, the geometry from `location`, keyValues properties.
NGSI-LD (JSON-LD): a JSON array of normalized entities, each with the core @context.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

import orjson

from cityhub.ngsild.context import CORE_CONTEXT_URL


def csv_header(attributes: Iterable[str]) -> list[str]:
    return ["id", "type", *sorted(a for a in set(attributes) if a not in ("id", "type"))]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return orjson.dumps(value).decode()


class CsvWriter:
    def __init__(self, header: list[str]) -> None:
        self.header = header
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def _take(self) -> bytes:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode("utf-8")

    def start(self) -> bytes:
        self._writer.writerow(self.header)
        return self._take()

    def rows(self, entities: Iterable[dict[str, Any]]) -> bytes:
        for entity in entities:
            kind = entity.get("type")
            entity = {**entity, "type": ",".join(kind) if isinstance(kind, list) else kind}
            self._writer.writerow([_cell(entity.get(name)) for name in self.header])
        return self._take()

    def end(self) -> bytes:
        return b""


class JsonArrayWriter:
    """A JSON array (or a FeatureCollection's features) written item by item."""

    def __init__(self, opening: bytes = b"[", closing: bytes = b"]\n") -> None:
        self._opening = opening
        self._closing = closing
        self._first = True

    def start(self) -> bytes:
        return self._opening

    def rows(self, items: Iterable[dict[str, Any]]) -> bytes:
        parts = []
        for item in items:
            parts.append(orjson.dumps(item) if self._first else b"," + orjson.dumps(item))
            self._first = False
        return b"".join(parts)

    def end(self) -> bytes:
        return self._closing


def geojson_writer() -> JsonArrayWriter:
    return JsonArrayWriter(b'{"type":"FeatureCollection","features":[', b"]}\n")


def ngsi_ld_item(entity: dict[str, Any]) -> dict[str, Any]:
    return {**entity, "@context": CORE_CONTEXT_URL}
