"""The file importer: CSV and GeoJSON files into entities, streamed, by a YAML `mapping`.

Rows are read one at a time (CSV with the `csv` module, GeoJSON FeatureCollections with the
incremental parser `ijson`, GeoJSON Text Sequences (RFC 8142, `.geojsons`) and newline-delimited
GeoJSON (`.geojsonl`) a line at a time), converted, and written in batches through the pipeline,
so memory stays flat whatever the file's size. A feature larger than `MAX_FEATURE_BYTES` (a
sequence line) or with more than `MAX_POSITIONS` coordinate positions is rejected. A row that
does not convert (a broken CSV line, a cell that is not a number, no id, a feature that is not
an object) or that fails validation is rejected with its row number into the dead-letter store
and counted; it never stops the import. The source of the counters is
``file:<file name>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ijson
import orjson

from cityhub.ingest.mapping import CellError, Mapping, cached
from cityhub.ingest.pipeline import IngestPipeline, IngestReport, Record
from cityhub.ngsild.errors import BadRequestData

BATCH = 1000
#: rows converted between two yields to the event loop (the write in flight goes on)
YIELD_EVERY = 50
#: the longest feature of a GeoJSON text sequence (one line)
MAX_FEATURE_BYTES = 16 * 1024 * 1024
#: the most coordinate positions one feature's geometry may hold
MAX_POSITIONS = 100_000
RS = b"\x1e"  # RFC 8142's record separator
SEQUENCE_SUFFIXES = (".geojsons", ".geojsonl", ".geojsonseq", ".ndgeojson")
#: the longest CSV field accepted (csv's own default is 128 KiB)
csv.field_size_limit(1024 * 1024)


def detect_format(path: Path, mapping: Mapping) -> str:
    suffix = path.suffix.lower()
    if mapping.format == "geojson" and suffix in SEQUENCE_SUFFIXES:
        return "geojsonseq"  # "geojson" covers both forms; the extension tells which
    if mapping.format is not None:
        return mapping.format
    if suffix in SEQUENCE_SUFFIXES:
        return "geojsonseq"
    if suffix in (".geojson", ".json"):
        return "geojson"
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    raise BadRequestData(f"cannot tell the format of {path.name}; set format: in the mapping")


def csv_rows(path: Path, mapping: Mapping) -> Iterator[tuple[dict[str, str] | None, Any, str]]:
    """(row, geometry, problem): row None with a problem for a line that does not parse."""
    with path.open(encoding=mapping.encoding, errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter=mapping.delimiter)
        try:
            header = next(reader)
        except StopIteration:
            return
        header = [h.strip().lstrip("\ufeff") for h in header]
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield None, None, f"the line does not parse as CSV ({exc})"
                continue
            if not cells:
                continue
            if len(cells) != len(header):
                yield None, None, (f"the row has {len(cells)} fields, the header "
                                   f"{len(header)}")
                continue
            yield dict(zip(header, cells, strict=True)), None, ""


def _positions(coordinates: Any, limit: int) -> int:
    """How many positions a coordinates array holds (stops counting past `limit`)."""
    count, stack = 0, [coordinates]
    while stack and count <= limit:
        item = stack.pop()
        if isinstance(item, list):
            if item and not isinstance(item[0], list):
                count += 1
            else:
                stack.extend(item)
    return count


def feature_row(feature: Any) -> tuple[dict[str, str] | None, Any, str]:
    """(row, geometry, problem) of one GeoJSON feature."""
    if not isinstance(feature, dict):
        return None, None, "a feature must be an object"
    properties = feature.get("properties") or {}
    if not isinstance(properties, dict):
        return None, None, "a feature's properties must be an object"
    geometry = feature.get("geometry")
    if isinstance(geometry, dict) and _positions(geometry.get("coordinates"),
                                                 MAX_POSITIONS) > MAX_POSITIONS:
        return None, None, f"the feature's geometry has more than {MAX_POSITIONS} positions"
    row = {str(k): "" if v is None else v if isinstance(v, str) else str(v)
           for k, v in properties.items()}
    if "id" in feature and "id" not in row:
        row["id"] = str(feature["id"])
    return row, geometry, ""


def geojson_rows(path: Path) -> Iterator[tuple[dict[str, str] | None, Any, str]]:
    with path.open("rb") as handle:
        try:
            for feature in ijson.items(handle, "features.item", use_float=True):
                yield feature_row(feature)
        except ijson.JSONError as exc:
            yield None, None, f"the file stops being valid JSON ({str(exc)[:80]})"


def geojson_sequence_rows(path: Path) -> Iterator[tuple[dict[str, str] | None, Any, str]]:
    """Features of a GeoJSON Text Sequence (RFC 8142: RS, a feature, LF) or of
    newline-delimited GeoJSON (a feature a line); blank lines are skipped. A line that is
    not JSON, that is too long, or that holds an RS anywhere but first is one bad feature."""
    with path.open("rb") as handle:
        while True:
            line = handle.readline(MAX_FEATURE_BYTES + 1)
            if not line:
                return
            if len(line) > MAX_FEATURE_BYTES and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):  # skip the rest, a chunk at a time
                    line = handle.readline(MAX_FEATURE_BYTES)
                yield None, None, f"the feature is longer than {MAX_FEATURE_BYTES} bytes"
                continue
            text = line.removeprefix(RS).strip()
            if not text:
                continue
            if RS in text:
                yield None, None, "a record separator (RS) inside a feature"
                continue
            try:
                feature = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                yield None, None, f"the feature is not valid JSON ({str(exc)[:80]})"
                continue
            yield feature_row(feature)


class RowConverter:
    """Rows of one mapping into records: the mapping read once (each column's converter, its
    kind, unit and privacy; cached conversions of the time column and of the entity id) so a
    row costs only its cells."""

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        self.missing = mapping.missing
        #: (attribute, column, converter, kind, unitCode, privacy, constant) per attribute
        self.columns = tuple(
            (c.name, c.column or "", c.converter(), c.kind, c.unit_code, c.privacy, c.constant)
            for c in mapping.columns)
        self.observed = None if mapping.observed_at is None else (
            mapping.observed_at.column, cached(mapping.observed_at.convert))
        self.entity_id = cached(self._entity_id, 65_536) if len(mapping.id_columns) == 1 \
            else mapping.entity_id

    def _entity_id(self, value: str) -> str:
        return self.mapping.entity_id({self.mapping.id_columns[0]: value})

    def record(self, source: str, tenant: str, row: dict[str, str], geometry: Any) -> Record:
        """The record of one row (CellError when a cell does not convert)."""
        mapping, missing = self.mapping, self.missing
        values: dict[str, Any] = {}
        kinds: dict[str, str] = {}
        units: dict[str, str] = {}
        privacy: dict[str, str] = {}
        for name, column, convert, kind, unit, secret, constant in self.columns:
            if constant is not None:
                value = constant
            else:
                text = row.get(column)
                if text is None:
                    continue
                text = text.strip()
                if text in missing:
                    continue
                value = convert(text)
            values[name] = value
            if kind != "Property":
                kinds[name] = kind
            if unit is not None:
                units[name] = unit
            if secret is not None:
                privacy[name] = secret
        observed = None
        if self.observed is not None:
            time_column, convert_time = self.observed
            text = row.get(time_column, "").strip()
            if text and text not in missing:
                observed = convert_time(text)
        if observed is not None and mapping.fill_date_observed:
            values["dateObserved"] = observed
        if mapping.location is not None:
            lon, lat = (row.get(c, "").strip() for c in mapping.location)
            if lon and lat and lon not in missing and lat not in missing:
                try:
                    values["location"] = {"type": "Point",
                                          "coordinates": [float(lon), float(lat)]}
                except ValueError:
                    raise CellError("the location columns are not numbers") from None
        elif geometry is not None:
            values["location"] = geometry
        if "location" in values:
            kinds.setdefault("location", "GeoProperty")
        if len(mapping.id_columns) == 1:
            key = row.get(mapping.id_columns[0])
            if key is None or key in missing:
                raise CellError(f"the id needs column {mapping.id_columns[0]}")
            entity_id = self.entity_id(key)
        else:
            entity_id = mapping.entity_id(row)
        return Record(source, tenant, entity_id, mapping.entity_type, values, observed,
                      kinds=kinds, units=units, privacy=privacy, complete=True)


def row_record(mapping: Mapping, source: str, tenant: str, row: dict[str, str],
               geometry: Any) -> Record:
    """The record of one row (CellError when a cell does not convert)."""
    return RowConverter(mapping).record(source, tenant, row, geometry)


async def _write_batch(pipeline: IngestPipeline, records: list[Record], report: IngestReport,
                       indexes: list[int]) -> None:
    await pipeline.write_parallel(records, report, indexes)
    await pipeline.dead_letters.flush()


async def import_file(pipeline: IngestPipeline, path: Path | str, mapping: Mapping, *,
                      tenant: str | None = None, batch: int = BATCH) -> IngestReport:
    """Import every row of a CSV or GeoJSON file; the counts and the first rejections."""
    path = Path(path)
    source = f"file:{path.name}"
    tenant = tenant if tenant is not None else mapping.tenant or ""
    tenant = "" if tenant == "default" else tenant
    kind = detect_format(path, mapping)
    rows = (csv_rows(path, mapping) if kind == "csv" else geojson_rows(path)
            if kind == "geojson" else geojson_sequence_rows(path))
    report = IngestReport()
    converter = RowConverter(mapping)
    pending: list[Record] = []
    indexes: list[int] = []
    #: the batch being written while the next one is converted (one at a time, so an
    #: entity's rows are written in file order)
    writing: asyncio.Task[None] | None = None
    try:
        for number, (row, geometry, problem) in enumerate(rows, start=1):
            if number % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let the write in flight go on meanwhile
            record = None
            if row is not None:
                try:
                    record = converter.record(source, tenant, row, geometry)
                except CellError as exc:
                    problem = str(exc)
            if record is None:
                pipeline.counters.received(source)
                report.received += 1
                pipeline.reject(source, tenant, f"row {number}: {problem}", report=report,
                                index=number)
                continue
            if pipeline.prepare(record, report, number):
                pending.append(record)
                indexes.append(number)
            if len(pending) >= batch:
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(_write_batch(pipeline, pending, report, indexes))
                pending, indexes = [], []
    except BaseException:  # the file could not be read on: finish the write in flight
        if writing is not None:
            with contextlib.suppress(Exception):
                await writing
        raise
    if writing is not None:
        await writing
    if pending:
        await _write_batch(pipeline, pending, report, indexes)
    await pipeline.flush_side_effects()
    return report
