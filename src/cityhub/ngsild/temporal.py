"""The temporal API's pure part (ETSI GS CIM 009 v1.8, clauses 4.5.7-4.5.9, 4.5.19, 4.11, 5.7.3).

No I/O here. This module parses what a temporal request says and renders what the store found:

* **Temporal query** (`parse_temporal_query`): `timerel` (before | after | between) with
  `timeAt` / `endTimeAt`, `timeproperty` (observedAt | createdAt | modifiedAt), `lastN`, and the
  aggregation `aggrMethods` / `aggrPeriodDuration`. A time interval is half-open: before is
  ``t < timeAt``, after is ``t >= timeAt``, between is ``timeAt <= t < endTimeAt``; no timerel
  is the whole history.
* **Durations** (`parse_duration`): ISO 8601 ``PnW``, ``PnDTnHnMnS`` (fractional seconds to the
  millisecond), as milliseconds. Years and months have no fixed length and are refused (a
  period of ``P30D`` says what it means). ``PT0S`` is the whole interval, as the specification
  defines the default.
* **Aggregation periods**: period k covers ``[origin + k*d, origin + (k+1)*d)`` clipped to the
  interval; the origin is the interval's start (after, between) or 1970-01-01T00:00:00Z (before,
  no timerel), so ``PT1H`` gives whole UTC hours and ``P1D`` UTC days. Only periods holding at
  least one instance are listed.
* **Payloads** (`TemporalPayloadParser`): a temporal entity or fragment maps each attribute to
  one instance or an array of instances (any datasetIds, repeated), each parsed like an
  attribute of an entity; a member `instanceId` sent by the client is ignored.
* **Representations** (`render_temporal_entity`, `render_aggregated_entity`): normalized (every
  attribute an array of instances, each with its `instanceId`), simplified
  (`options=temporalValues`: ``{"type": ..., "values": [[value, time], ...]}``, the member named
  after the kind) and aggregated (``{"type": ..., "avg": [[value, startAt, endAt], ...]}``).
  An attribute with instances of several datasetIds becomes an array of such objects, each with
  its `datasetId`.

Aggregation methods: `totalCount` (instances), `distinctCount` (distinct values), and over the
numeric values only (numbers, not booleans; other instances are ignored; a period without one
gives null): `sum`, `avg`, `min`, `max`, `sumsq` (sum of squares) and `stddev` (the sample
standard deviation, n - 1; null for a single value).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from cityhub.ngsild.context import TermMap
from cityhub.ngsild.entity import (
    ENTITY_MEMBERS,
    LANGUAGE_PROPERTY,
    LIST_PROPERTY,
    LIST_RELATIONSHIP,
    PROPERTY,
    RELATIONSHIP,
    VOCAB_PROPERTY,
    EntityParser,
    check_name,
    normalise_datetime,
)
from cityhub.ngsild.errors import BadRequestData, ResourceNotFound
from cityhub.ngsild.render import (
    KEY_VALUES,
    NORMALIZED,
    RenderOptions,
    render_instance,
)

TIMERELS = ("before", "after", "between")
TIME_PROPERTIES = ("observedAt", "createdAt", "modifiedAt")
AGGREGATION_METHODS = (
    "totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq",
)
#: the methods computed over numeric values only
NUMERIC_METHODS = frozenset({"sum", "avg", "min", "max", "stddev", "sumsq"})
INSTANCE_ID_PREFIX = "urn:ngsi-ld:Instance:"
#: most instances (or aggregation periods) one answer may hold; more is a TooManyResults
MAX_INSTANCES = 50_000
#: the longest aggregation period accepted (about 100 years), in milliseconds
MAX_DURATION_MS = 100 * 366 * 86_400_000

#: the simplified representation's member holding each kind's [value, time] pairs
TEMPORAL_VALUES_MEMBER = {
    PROPERTY: "values",
    "GeoProperty": "values",
    RELATIONSHIP: "objects",
    LANGUAGE_PROPERTY: "languageMaps",
    LIST_PROPERTY: "valueLists",
    LIST_RELATIONSHIP: "objectLists",
    "JsonProperty": "jsons",
    VOCAB_PROPERTY: "vocabs",
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MS = timedelta(milliseconds=1)
_DURATION = re.compile(
    r"P(?:(?P<years>\d{1,12})Y)?(?:(?P<months>\d{1,12})M)?(?:(?P<weeks>\d{1,12})W)?"
    r"(?:(?P<days>\d{1,12})D)?"
    r"(?:T(?:(?P<hours>\d{1,12})H)?(?:(?P<minutes>\d{1,12})M)?"
    r"(?:(?P<seconds>\d{1,12})(?:[.,](?P<fraction>\d{1,9}))?S)?)?"
)
_UNIT_MS = {"weeks": 7 * 86_400_000, "days": 86_400_000, "hours": 3_600_000,
            "minutes": 60_000, "seconds": 1000}
#: "+09:00" in an unencoded query string arrives as " 09:00"
_SPACED_OFFSET = re.compile(r"T[^ ]* \d{2}(:?\d{2})?$")


# --------------------------------------------------------------------------- times


def parse_time(text: Any, what: str) -> str:
    """An ISO 8601 date-time parameter in the hub's canonical UTC form."""
    if isinstance(text, str) and _SPACED_OFFSET.search(text):
        text = text.replace(" ", "+")
    return normalise_datetime(text, what)


@lru_cache(maxsize=4096)
def epoch_ms(text: str) -> int:
    """Milliseconds since 1970-01-01T00:00:00Z of a canonical UTC time."""
    moment = datetime.fromisoformat(text)
    return (moment - _EPOCH) // _MS


@lru_cache(maxsize=4096)
def from_epoch_ms(ms: int) -> str:
    """The canonical UTC time `ms` milliseconds after 1970-01-01T00:00:00Z (cached: the bounds
    of aggregation periods repeat across the series of one answer)."""
    return (_NAIVE_EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds") + "Z"


@dataclass(frozen=True, slots=True)
class TimeInterval:
    """Half-open: `start` <= t < `end`; None leaves that side open."""

    start: str | None = None
    end: str | None = None


def parse_timerel(timerel: str | None, time_at: str | None, end_time_at: str | None
                  ) -> TimeInterval:
    """Clause 4.11: the interval `timerel` with `timeAt` / `endTimeAt` selects."""
    if timerel is None:
        if time_at is not None or end_time_at is not None:
            raise BadRequestData("timeAt and endTimeAt need timerel (before, after or between)")
        return TimeInterval()
    if timerel not in TIMERELS:
        raise BadRequestData(f"timerel must be before, after or between, not {timerel[:40]!r}")
    if time_at is None:
        raise BadRequestData(f"timerel={timerel} needs timeAt")
    start = parse_time(time_at, "timeAt")
    if timerel != "between":
        if end_time_at is not None:
            raise BadRequestData("endTimeAt is only used with timerel=between")
        return TimeInterval(end=start) if timerel == "before" else TimeInterval(start=start)
    if end_time_at is None:
        raise BadRequestData("timerel=between needs endTimeAt")
    end = parse_time(end_time_at, "endTimeAt")
    if end <= start:
        raise BadRequestData("endTimeAt must be later than timeAt")
    return TimeInterval(start, end)


def parse_timeproperty(text: str | None) -> str:
    if text is None:
        return "observedAt"
    if text not in TIME_PROPERTIES:
        raise BadRequestData(
            f"timeproperty must be observedAt, createdAt or modifiedAt, not {text[:40]!r}")
    return text


def parse_last_n(value: Any) -> int | None:
    """lastN: a positive integer (text from a URL, or a JSON number from a body)."""
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 9:
        number = int(value)
    elif type(value) is int and 0 <= value < 10**9:
        number = value
    else:
        raise BadRequestData("lastN must be a positive integer")
    if number < 1:
        raise BadRequestData("lastN must be a positive integer")
    return number


# --------------------------------------------------------------------------- durations


def parse_duration(text: Any) -> int:
    """An ISO 8601 duration in milliseconds (0 for PT0S: the whole interval)."""
    if not isinstance(text, str) or len(text) > 80:
        raise BadRequestData("aggrPeriodDuration must be an ISO 8601 duration such as PT1H")
    match = _DURATION.fullmatch(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise BadRequestData(
            f"aggrPeriodDuration {text!r} is not an ISO 8601 duration (such as PT1H, P1D, PT15M)")
    parts = match.groupdict()
    if int(parts["years"] or 0) or int(parts["months"] or 0):
        raise BadRequestData(
            "aggrPeriodDuration in years or months is not supported: they have no fixed length; "
            "give the period in weeks, days, hours, minutes or seconds (P30D, PT1H)")
    total = sum(int(parts[unit] or 0) * ms for unit, ms in _UNIT_MS.items())
    fraction = parts["fraction"]
    if fraction:
        digits = fraction.ljust(3, "0")
        if digits[3:].strip("0"):
            raise BadRequestData("aggrPeriodDuration is finer than a millisecond")
        total += int(digits[:3])
    if total > MAX_DURATION_MS:
        raise BadRequestData("aggrPeriodDuration is longer than 100 years")
    return total


def format_duration(ms: int) -> str:
    """The ISO 8601 duration of `ms` milliseconds (days, hours, minutes, seconds)."""
    if ms == 0:
        return "PT0S"
    days, rest = divmod(ms, 86_400_000)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    text = "P" + (f"{days}D" if days else "")
    if hours or minutes or seconds or millis:
        text += "T" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
        if seconds or millis:
            text += f"{seconds}.{millis:03d}S" if millis else f"{seconds}S"
    return text


# --------------------------------------------------------------------------- the query


@dataclass(frozen=True, slots=True)
class Aggregation:
    methods: tuple[str, ...]
    #: length of one period in milliseconds; 0: one period, the whole interval
    period_ms: int = 0


@dataclass(frozen=True, slots=True)
class TemporalQuery:
    interval: TimeInterval = field(default_factory=TimeInterval)
    timeproperty: str = "observedAt"
    #: per attribute (and datasetId), only the latest N instances (or periods)
    last_n: int | None = None
    #: None: instances; else aggregated values
    aggregation: Aggregation | None = None

    @property
    def origin_ms(self) -> int:
        """Where aggregation periods start counting from."""
        return epoch_ms(self.interval.start) if self.interval.start is not None else 0


def parse_aggr_methods(text: Any) -> tuple[str, ...]:
    if isinstance(text, list) and all(isinstance(item, str) for item in text):
        items = text
    elif isinstance(text, str):
        items = [item.strip() for item in text.split(",")]
    else:
        raise BadRequestData("aggrMethods must be a comma-separated list of methods")
    if not items or not all(items):
        raise BadRequestData("aggrMethods has an empty item")
    for item in items:
        if item not in AGGREGATION_METHODS:
            raise BadRequestData(
                f"unknown aggregation method {item[:40]!r} (use {', '.join(AGGREGATION_METHODS)})")
    return tuple(dict.fromkeys(items))


def parse_temporal_query(
    *,
    timerel: str | None = None,
    time_at: str | None = None,
    end_time_at: str | None = None,
    timeproperty: str | None = None,
    last_n: Any = None,
    aggregated: bool = False,
    aggr_methods: Any = None,
    aggr_period: Any = None,
) -> TemporalQuery:
    """Everything a temporal request says about time, checked (each error a BadRequestData)."""
    interval = parse_timerel(timerel, time_at, end_time_at)
    aggregation = None
    if aggregated:
        if aggr_methods is None:
            raise BadRequestData("options=aggregatedValues needs aggrMethods")
        period = parse_duration(aggr_period) if aggr_period is not None else 0
        aggregation = Aggregation(parse_aggr_methods(aggr_methods), period)
    elif aggr_methods is not None or aggr_period is not None:
        raise BadRequestData("aggrMethods and aggrPeriodDuration need options=aggregatedValues")
    return TemporalQuery(interval, parse_timeproperty(timeproperty), parse_last_n(last_n),
                         aggregation)


def period_bounds(query: TemporalQuery, index: int, first: str, last: str) -> tuple[str, str]:
    """(startAt, endAt) of aggregation period `index`; `first` / `last` are the earliest and
    latest instance times in it (the bounds of an open interval's single period)."""
    aggregation = query.aggregation
    assert aggregation is not None
    interval = query.interval
    if aggregation.period_ms == 0:
        return interval.start or first, interval.end or last
    start_ms = query.origin_ms + index * aggregation.period_ms
    end = from_epoch_ms(start_ms + aggregation.period_ms)
    if interval.end is not None and interval.end < end:
        end = interval.end
    return from_epoch_ms(start_ms), end


def instance_time(inst: dict, timeproperty: str) -> str:
    """An instance's time by `timeproperty` (observedAt: else its modifiedAt, as recorded)."""
    if timeproperty == "observedAt":
        return inst.get("observedAt") or inst["modifiedAt"]
    return inst[timeproperty]


# --------------------------------------------------------------------------- instance ids


def instance_id(hid: int) -> str:
    return f"{INSTANCE_ID_PREFIX}{hid}"


def parse_instance_id(text: str) -> int:
    """The history row an instanceId names (one the hub did not hand out: ResourceNotFound)."""
    number = text.removeprefix(INSTANCE_ID_PREFIX)
    if number == text or not number.isascii() or not number.isdigit() or len(number) > 18:
        raise ResourceNotFound(f"no attribute instance {text[:200]}")
    return int(number)


# --------------------------------------------------------------------------- payloads


class TemporalPayloadParser:
    """A temporal entity or fragment in normal form: attribute IRI -> list of instances (any
    number, datasetIds repeating), each parsed as an entity's attribute would be."""

    def __init__(self, terms: TermMap, now: str) -> None:
        self.parser = EntityParser(terms, now)
        self.fragments = EntityParser(terms, now, partial=True)

    def entity(self, payload: Any, *, require_id: bool = True, require_type: bool = True
               ) -> tuple[dict, dict[str, list[dict]]]:
        """(the entity's id / type / scope in normal form, its attributes' instances)."""
        if not isinstance(payload, dict):
            raise BadRequestData("a temporal entity must be a JSON object")
        head = {key: value for key, value in payload.items()
                if key in ("id", "type", "scope")}
        entity = self.parser.entity(head, require_id=require_id, require_type=require_type)
        return entity, self.attributes(payload)

    def attributes(self, payload: dict) -> dict[str, list[dict]]:
        attrs: dict[str, list[dict]] = {}
        for name, value in payload.items():
            if name in ENTITY_MEMBERS:
                continue
            iri = self.parser.expand(check_name(name))
            attrs.setdefault(iri, []).extend(self.instances(name, value))
        return attrs

    def instances(self, name: str, value: Any) -> list[dict]:
        items = value if isinstance(value, list) else [value]
        if not items:
            raise BadRequestData(f"attribute {name!r} has no instance")
        out = []
        for item in items:
            if isinstance(item, dict) and "instanceId" in item:
                item = {k: v for k, v in item.items() if k != "instanceId"}
            out.append(self.parser.instance(name, item))
        return out

    def fragment(self, name: str, value: Any) -> dict:
        """One instance fragment (the body of a PATCH of an attribute instance): members it
        omits stay as they are."""
        if isinstance(value, list):
            if len(value) != 1:
                raise BadRequestData(f"attribute {name!r} must hold exactly one instance here")
            value = value[0]
        if not isinstance(value, dict):
            raise BadRequestData(f"the instance of {name!r} must be a JSON object")
        value = {k: v for k, v in value.items() if k != "instanceId"}
        return self.fragments.instance(name, value)


# --------------------------------------------------------------------------- results


@dataclass(slots=True)
class HistoryInstance:
    """One attribute instance of the history."""

    entity_id: str
    attr: str
    instance_id: str
    #: the value of the query's timeproperty
    time: str
    #: the instance in the entity normal form
    instance: dict


@dataclass(slots=True)
class AggregatedPeriod:
    """The aggregated values of one attribute (and datasetId) over one period."""

    entity_id: str
    attr: str
    dataset_id: str | None
    start: str
    end: str
    #: method -> value
    values: dict[str, Any]


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True, slots=True)
class TemporalRenderOptions:
    #: "normalized" or "temporalValues" (aggregated values have their own renderer)
    simplified: bool = False
    sys_attrs: bool = False
    lang: str | None = None
    timeproperty: str = "observedAt"


def _head(entity: dict, terms: TermMap, sys_attrs: bool, created_at: str | None,
          modified_at: str | None) -> dict[str, Any]:
    types = [terms.compact(t) for t in entity["type"]]
    out: dict[str, Any] = {"id": entity["id"], "type": types[0] if len(types) == 1 else types}
    if "scope" in entity:
        out["scope"] = entity["scope"]
    if sys_attrs:
        if created_at:
            out["createdAt"] = created_at
        if modified_at:
            out["modifiedAt"] = modified_at
    return out


def render_temporal_entity(
    entity: dict,
    instances: Iterable[HistoryInstance],
    terms: TermMap,
    options: TemporalRenderOptions = TemporalRenderOptions(),
    created_at: str | None = None,
    modified_at: str | None = None,
) -> dict[str, Any]:
    """Clause 4.5.7 / 4.5.9: an entity's history, its id and types from `entity` (its current
    state); `instances` in time order within each attribute."""
    out = _head(entity, terms, options.sys_attrs, created_at, modified_at)
    compact = terms.compact
    if not options.simplified:
        render = RenderOptions(format=NORMALIZED, sys_attrs=options.sys_attrs, lang=options.lang)
        for item in instances:
            rendered = render_instance(item.instance, compact, render)
            rendered["instanceId"] = item.instance_id
            out.setdefault(compact(item.attr), []).append(rendered)
        return out
    simple = RenderOptions(format=KEY_VALUES, lang=options.lang)
    # attribute -> (datasetId, kind) -> its simplified object
    series: dict[str, dict[tuple[str | None, str], dict[str, Any]]] = {}
    for item in instances:
        inst = item.instance
        kind = inst["type"]
        key = (inst.get("datasetId"), kind)
        group = series.setdefault(item.attr, {}).get(key)
        if group is None:
            group = {"type": kind, TEMPORAL_VALUES_MEMBER[kind]: []}
            if key[0] is not None:
                group["datasetId"] = key[0]
            series[item.attr][key] = group
        group[TEMPORAL_VALUES_MEMBER[kind]].append(
            [_simple_value(inst, compact, simple), item.time])
    for attr, groups in series.items():
        out[compact(attr)] = _one_or_list(list(groups.values()))
    return out


def _simple_value(inst: dict, compact: Any, options: RenderOptions) -> Any:
    kind = inst["type"]
    if kind == LANGUAGE_PROPERTY and (options.lang is None or options.lang == "*"):
        return inst["languageMap"]
    if kind == VOCAB_PROPERTY:
        vocab = inst["vocab"]
        return [compact(v) for v in vocab] if isinstance(vocab, list) else compact(vocab)
    return render_instance(inst, compact, options)


def _one_or_list(groups: list[dict[str, Any]]) -> Any:
    if len(groups) == 1 and "datasetId" not in groups[0]:
        return groups[0]
    return groups


def render_aggregated_entity(
    entity: dict,
    periods: Iterable[AggregatedPeriod],
    methods: Sequence[str],
    terms: TermMap,
    sys_attrs: bool = False,
    created_at: str | None = None,
    modified_at: str | None = None,
) -> dict[str, Any]:
    """Clause 4.5.19: per attribute (and datasetId), each method's [value, startAt, endAt] list;
    the attribute's type is the one the current entity gives it (else Property)."""
    out = _head(entity, terms, sys_attrs, created_at, modified_at)
    kinds = {(iri, inst.get("datasetId")): inst["type"]
             for iri, insts in entity["attrs"].items() for inst in insts}
    series: dict[str, dict[str | None, dict[str, Any]]] = {}
    for period in periods:
        groups = series.setdefault(period.attr, {})
        group = groups.get(period.dataset_id)
        if group is None:
            group = {"type": kinds.get((period.attr, period.dataset_id), PROPERTY)}
            if period.dataset_id is not None:
                group["datasetId"] = period.dataset_id
            for method in methods:
                group[method] = []
            groups[period.dataset_id] = group
        for method in methods:
            group[method].append([period.values.get(method), period.start, period.end])
    for attr, by_dataset in series.items():
        out[terms.compact(attr)] = _one_or_list(list(by_dataset.values()))
    return out
