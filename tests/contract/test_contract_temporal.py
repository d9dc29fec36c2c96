"""Store contract, the attribute history: what writes record, time ranges, timeproperty,
lastN, aggregation in the database (checked against values computed here), appending,
correcting and deleting instances, and retention, on every adapter."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityhub.broker.retention import Retention, RetentionPolicy
from cityhub.ngsild.entity import EntityParser, format_datetime
from cityhub.ngsild.errors import ResourceNotFound
from cityhub.ngsild.temporal import (
    AGGREGATION_METHODS,
    epoch_ms,
    from_epoch_ms,
    parse_instance_id,
    parse_temporal_query,
)
from cityhub.store.base import Delete, HistoryQuery, HistorySelector, Put, RetentionCut, Store

from .support import TERMS, entity, iri, new_tenant, urn

pytestmark = pytest.mark.anyio

T, H, S = iri("temperature"), iri("humidity"), iri("status")
B = "urn:ngsi-ld:Dataset:b"
DAY = "2024-05-01T"
PROPERTY_SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def at(hhmm: str) -> str:
    return f"{DAY}{hhmm}:00.000Z"


def reading(value: Any, observed: str | None, now: str, **extra: Any) -> dict[str, Any]:
    """One instance of `temperature`, parsed as a write would stamp it at `now`."""
    raw = {"value": value, **extra}
    if observed is not None:
        raw["observedAt"] = observed
    return EntityParser(TERMS, now).instance("temperature", raw)


async def update(store: Store, tenant: str, name: str, now: str, **attrs: Any) -> None:
    """Upsert entity `name` with `attrs` (short names) written at `now`."""
    payload = {"id": name, "type": "Sensor", **attrs}
    [outcome] = await store.write(tenant, [Put(entity(payload, now), now)])
    assert outcome.error is None, outcome.error


async def series(store: Store, tenant: str, name: str, values: list[Any], start: str = at("10:00"),
                 step_s: int = 60, attr: str = T, dataset: str | None = None) -> None:
    """Entity `name` with one reading of `attr` every `step_s` seconds from `start`: the first
    written as the entity, the others appended to its history."""
    now = "2024-06-01T00:00:00.000Z"
    times = [from_epoch_ms(epoch_ms(start) + i * step_s * 1000) for i in range(len(values))]
    extra = {"datasetId": dataset} if dataset else {}
    instances = [reading(v, t, now, **extra) for v, t in zip(values, times, strict=True)]
    if not (await store.get(tenant, [urn(name)])):
        await update(store, tenant, name, now, status="on")
    assert await store.append_history(tenant, urn(name), {attr: instances}, now) == len(values)


def query(*names: str, attrs: tuple[str, ...] = (), limit: int = 50_000, **temporal: Any
          ) -> HistoryQuery:
    return HistoryQuery(tuple(urn(n) for n in names), attrs, parse_temporal_query(**temporal),
                        limit)


async def values(store: Store, tenant: str, *names: str, **options: Any) -> list[tuple]:
    """(entity, attribute, value, time) of the instances a query finds, in the store's order."""
    found = await store.history(tenant, query(*names, **options))
    return [(f.entity_id.rsplit(":", 1)[-1], f.attr.rsplit("/", 1)[-1],
             f.instance.get("value"), f.time) for f in found]


# ------------------------------------------------------------------- what writes record


async def test_each_write_records_the_instances_it_changed(store: Store) -> None:
    tenant = new_tenant()
    await update(store, tenant, "A", at("10:00"), temperature={"value": 20, "observedAt":
                                                               at("09:59")}, status="on")
    await update(store, tenant, "A", at("10:01"), temperature=21, status="on")
    found = await values(store, tenant, "A")
    assert sorted(found) == sorted([
        ("A", "temperature", 20, at("09:59")), ("A", "temperature", 21, at("10:01")),
        ("A", "status", "on", at("10:00")), ("A", "status", "on", at("10:01"))])
    for name in ("temperature", "status"):  # each attribute's instances in time order
        times = [time for _, attr, _, time in found if attr == name]
        assert times == sorted(times)


async def test_instance_ids_are_unique_and_name_their_rows(store: Store) -> None:
    tenant = new_tenant()
    await series(store, tenant, "A", [1, 2, 3])
    found = await store.history(tenant, query("A", attrs=(T,)))
    hids = [parse_instance_id(f.instance_id) for f in found]
    assert len(set(hids)) == 3
    one = await store.history_instance(tenant, urn("A"), T, hids[1])
    assert one is not None and one.instance["value"] == 2 and one.time == at("10:01")
    assert await store.history_instance(tenant, urn("A"), H, hids[1]) is None
    assert await store.history_instance(new_tenant(), urn("A"), T, hids[1]) is None


async def test_tenants_and_unknown_entities_see_nothing(store: Store) -> None:
    tenant, other = new_tenant(), new_tenant()
    await series(store, tenant, "A", [1, 2])
    await update(store, other, "A", at("12:00"), temperature=9)
    assert [v for _, _, v, _ in await values(store, other, "A", attrs=(T,))] == [9]
    assert await values(store, tenant, "Nope") == []
    assert tenant in await store.tenants() and other in await store.tenants()


async def test_deleting_an_entity_deletes_its_history(store: Store) -> None:
    tenant = new_tenant()
    await series(store, tenant, "A", [1, 2])
    await store.write(tenant, [Delete(urn("A"))])
    await update(store, tenant, "A", at("12:00"), temperature=9)
    assert [v for _, _, v, _ in await values(store, tenant, "A", attrs=(T,))] == [9]


async def test_every_put_of_a_batch_leaves_history_and_failed_ones_none(store: Store) -> None:
    tenant = new_tenant()
    now = at("10:00")
    first = entity({"id": "A", "type": "Sensor", "temperature": 1}, now)
    second = entity({"id": "A", "type": "Sensor", "temperature": 2}, now)
    clash = entity({"id": "A", "type": "Sensor", "temperature": 3}, now)
    gone = entity({"id": "B", "type": "Sensor", "temperature": 4}, now)
    outcomes = await store.write(tenant, [
        Put(first, now, "create"), Put(second, now), Put(clash, now, "create"),
        Put(gone, now), Delete(urn("B"))])
    assert [o.error is None for o in outcomes] == [True, True, False, True, True]
    # both successful Puts of A, none of the refused create; B's history went with B
    assert sorted(v for _, _, v, _ in await values(store, tenant, "A", attrs=(T,))) == [1, 2]
    assert await values(store, tenant, "B") == []


async def test_a_put_records_the_history_it_carries_or_nothing(store: Store) -> None:
    tenant = new_tenant()
    now = at("12:00")
    latest = entity({"id": "A", "type": "Sensor", "temperature": {
        "value": 3, "observedAt": at("11:00")}}, now)
    older = {T: [reading(1, at("09:00"), now), reading(2, at("10:00"), now)]}
    [outcome] = await store.write(tenant, [Put(latest, now, "create", history=older)])
    assert outcome.error is None
    assert [v for _, _, v, _ in await values(store, tenant, "A", attrs=(T,))] == [1, 2, 3]
    [refused] = await store.write(tenant, [Put(latest, now, "create", history=older)])
    assert refused.error is not None  # AlreadyExists: and not one instance more
    assert len(await values(store, tenant, "A", attrs=(T,))) == 3


# ------------------------------------------------------------------------- time ranges


async def test_time_ranges_are_half_open(store: Store) -> None:
    tenant = new_tenant()
    await series(store, tenant, "A", [0, 1, 2, 3, 4])  # 10:00 .. 10:04

    async def found(**temporal: Any) -> list[Any]:
        return [v for _, _, v, _ in await values(store, tenant, "A", attrs=(T,), **temporal)]

    assert await found() == [0, 1, 2, 3, 4]
    assert await found(timerel="before", time_at=at("10:02")) == [0, 1]
    assert await found(timerel="after", time_at=at("10:02")) == [2, 3, 4]
    assert await found(timerel="between", time_at=at("10:01"), end_time_at=at("10:03")) == [1, 2]
    assert await found(timerel="after", time_at=at("11:00")) == []


async def test_timeproperty_selects_the_time_compared(store: Store) -> None:
    tenant = new_tenant()
    for now, value, observed in ((at("10:00"), 1, "2020-01-01T00:00:00Z"),
                                 (at("11:00"), 2, "2020-01-02T00:00:00Z")):
        await update(store, tenant, "A", now, temperature={"value": value,
                                                           "observedAt": observed})

    async def found(prop: str, timerel: str, time: str) -> list[tuple[Any, str]]:
        return [(v, t) for _, _, v, t in await values(
            store, tenant, "A", attrs=(T,), timeproperty=prop, timerel=timerel, time_at=time)]

    assert await found("observedAt", "after", "2020-01-01T12:00:00Z") == [
        (2, "2020-01-02T00:00:00.000Z")]
    assert await found("modifiedAt", "after", at("10:30")) == [(2, at("11:00"))]
    assert await found("createdAt", "before", at("10:30")) == [(1, at("10:00"))]


async def test_last_n_keeps_the_latest_of_each_series_in_time_order(store: Store) -> None:
    tenant = new_tenant()
    await series(store, tenant, "A", [1, 2, 3, 4])
    await series(store, tenant, "A", [10, 20, 30], dataset=B)
    await series(store, tenant, "C", [7, 8, 9])
    found = await store.history(tenant, query("A", "C", attrs=(T,), last_n="2"))
    got = [(f.entity_id[-1], f.instance.get("datasetId", ""), f.instance["value"])
           for f in found]
    assert sorted(got) == sorted([("A", "", 3), ("A", "", 4), ("A", B, 20), ("A", B, 30),
                                  ("C", "", 8), ("C", "", 9)])
    assert [v for e, d, v in got if (e, d) == ("A", "")] == [3, 4]
    assert [v for e, _, v in got if e == "C"] == [8, 9]
    before = await values(store, tenant, "A", attrs=(T,), last_n="1", timerel="before",
                          time_at=at("10:02"))
    assert [v for _, _, v, _ in before] == [2, 20]


async def test_the_store_returns_at_most_one_more_than_the_limit(store: Store) -> None:
    tenant = new_tenant()
    await series(store, tenant, "A", list(range(10)))
    assert len(await store.history(tenant, query("A", attrs=(T,), limit=3))) == 4


# ------------------------------------------------------------------------- aggregation


def expected(numbers: list[float], method: str) -> Any:
    """`method` over the numeric values of a period, computed here."""
    if method == "totalCount":
        return len(numbers)
    if method == "distinctCount":
        return len(set(numbers))
    if not numbers:
        return None
    return {
        "sum": lambda: math.fsum(numbers),
        "avg": lambda: statistics.fmean(numbers),
        "min": lambda: min(numbers),
        "max": lambda: max(numbers),
        "sumsq": lambda: math.fsum(x * x for x in numbers),
        "stddev": lambda: statistics.stdev(numbers) if len(numbers) > 1 else None,
    }[method]()


def check(got: Any, want: Any) -> None:
    if want is None or got is None:
        assert got is want is None or (got, want) == (None, None), (got, want)
    else:
        assert got == pytest.approx(want, rel=1e-9, abs=1e-9)


async def test_hourly_aggregation_matches_values_computed_here(store: Store) -> None:
    tenant = new_tenant()
    readings = [20 + (i * 7919 % 13) / 4 for i in range(180)]  # 10:00 .. 12:59, one a minute
    await series(store, tenant, "A", readings)
    methods = ",".join(AGGREGATION_METHODS)
    temporal = dict(aggregated=True, aggr_methods=methods, aggr_period="PT1H")
    periods = await store.aggregate_history(tenant, query("A", attrs=(T,), **temporal))
    assert [(p.start, p.end) for p in periods] == [
        (at("10:00"), at("11:00")), (at("11:00"), at("12:00")), (at("12:00"), at("13:00"))]
    for hour, period in enumerate(periods):
        chunk = readings[hour * 60:(hour + 1) * 60]
        for method in AGGREGATION_METHODS:
            check(period.values[method], expected(chunk, method))


async def test_periods_count_from_time_at_and_one_period_spans_the_interval(store: Store) -> None:
    tenant = new_tenant()
    await series(store, tenant, "A", list(range(10)), step_s=600)  # 10:00 .. 11:30
    shifted = await store.aggregate_history(tenant, query(
        "A", attrs=(T,), aggregated=True, aggr_methods="sum", aggr_period="PT1H",
        timerel="between", time_at=at("10:15"), end_time_at=at("11:45")))
    assert [(p.start, p.end, p.values["sum"]) for p in shifted] == [
        (at("10:15"), at("11:15"), 2 + 3 + 4 + 5 + 6 + 7),
        (at("11:15"), at("11:45"), 8 + 9)]
    whole = await store.aggregate_history(tenant, query(
        "A", attrs=(T,), aggregated=True, aggr_methods="totalCount,max"))
    assert [(p.start, p.end, p.values) for p in whole] == [
        (at("10:00"), at("11:30"), {"totalCount": 10, "max": 9})]
    after = await store.aggregate_history(tenant, query(
        "A", attrs=(T,), aggregated=True, aggr_methods="totalCount", timerel="after",
        time_at=at("11:00")))
    assert [(p.start, p.end, p.values) for p in after] == [
        (at("11:00"), at("11:30"), {"totalCount": 4})]


async def test_last_n_periods_and_datasets_apart(store: Store) -> None:
    tenant = new_tenant()
    await series(store, tenant, "A", [1, 2, 3, 4], step_s=3600)
    await series(store, tenant, "A", [10, 20], step_s=3600, dataset=B)
    periods = await store.aggregate_history(tenant, query(
        "A", attrs=(T,), aggregated=True, aggr_methods="avg", aggr_period="PT1H", last_n="2"))
    got = sorted((p.dataset_id or "", p.start, p.values["avg"]) for p in periods)
    assert got == [("", at("12:00"), 3), ("", at("13:00"), 4), (B, at("10:00"), 10),
                   (B, at("11:00"), 20)]


async def test_non_numbers_count_but_do_not_sum(store: Store) -> None:
    tenant = new_tenant()
    await series(store, tenant, "A", ["on", "off", "on", True, 2, {"x": 1}, [1, 2], 2.0])
    [period] = await store.aggregate_history(tenant, query(
        "A", attrs=(T,), aggregated=True, aggr_methods=",".join(AGGREGATION_METHODS)))
    assert period.values["totalCount"] == 8
    # "on", "off", true, 2 (and 2.0), {"x": 1}, [1, 2]
    assert period.values["distinctCount"] == 6
    assert (period.values["sum"], period.values["avg"], period.values["stddev"]) == (4, 2, 0)
    [strings] = await store.aggregate_history(tenant, query(
        "A", attrs=(S,), aggregated=True, aggr_methods="sum,avg,stddev,totalCount"))
    assert strings.values == {"sum": None, "avg": None, "stddev": None, "totalCount": 1}


@PROPERTY_SETTINGS
@given(
    readings=st.lists(st.one_of(st.integers(-1000, 1000),
                                st.floats(-1e3, 1e3, allow_nan=False).map(lambda x: round(x, 3))),
                      min_size=1, max_size=40),
    step_s=st.integers(1, 900),
    period_s=st.sampled_from([0, 60, 300, 3600, 5400]),
    offset_s=st.integers(-3600, 3600),
)
async def test_aggregation_agrees_with_python_on_random_series(
    store: Store, readings: list[float], step_s: int, period_s: int, offset_s: int
) -> None:
    tenant = new_tenant()
    await series(store, tenant, "A", readings, step_s=step_s)
    start = epoch_ms(at("10:00")) + offset_s * 1000
    temporal: dict[str, Any] = dict(aggregated=True, aggr_methods=",".join(AGGREGATION_METHODS))
    if period_s:
        temporal["aggr_period"] = f"PT{period_s}S"
    if offset_s > 0:
        temporal.update(timerel="after", time_at=from_epoch_ms(start))
    periods = await store.aggregate_history(tenant, query("A", attrs=(T,), **temporal))
    origin = start if offset_s > 0 else 0
    buckets: dict[int, list[float]] = {}
    for i, value in enumerate(readings):
        t = epoch_ms(at("10:00")) + i * step_s * 1000
        if offset_s > 0 and t < start:
            continue
        buckets.setdefault((t - origin) // (period_s * 1000) if period_s else 0, []).append(value)
    assert len(periods) == len(buckets)
    for period, (index, chunk) in zip(periods, sorted(buckets.items()), strict=True):
        if period_s:
            assert period.start == from_epoch_ms(origin + index * period_s * 1000)
        for method in AGGREGATION_METHODS:
            check(period.values[method], expected([float(x) for x in chunk], method))


# ---------------------------------------------------------------- appending and changing


async def test_appended_instances_need_the_entity_and_keep_their_members(store: Store) -> None:
    tenant = new_tenant()
    now = "2024-06-01T00:00:00.000Z"
    with pytest.raises(ResourceNotFound):
        await store.append_history(tenant, urn("A"), {T: [reading(1, at("10:00"), now)]}, now)
    await update(store, tenant, "A", now, status="on")
    inst = reading(1, at("10:00"), now, unitCode="CEL", datasetId=B)
    inst[iri("accuracy")] = {"type": "Property", "value": 0.5, "createdAt": now,
                             "modifiedAt": now}
    assert await store.append_history(tenant, urn("A"), {T: [inst]}, now) == 1
    [found] = await store.history(tenant, query("A", attrs=(T,)))
    assert found.instance == inst and found.time == at("10:00")


async def test_modifying_an_instance_changes_what_queries_and_aggregations_see(
    store: Store,
) -> None:
    tenant = new_tenant()
    await series(store, tenant, "A", [1, 2, 3])
    found = await store.history(tenant, query("A", attrs=(T,)))
    hid = parse_instance_id(found[1].instance_id)
    old = found[1].instance
    changed = {**old, "value": 50, "observedAt": at("11:00"), "modifiedAt": at("12:00")}
    assert await store.modify_history(tenant, urn("A"), T, hid, changed, old["modifiedAt"])
    # a second writer that read the old instance loses
    assert not await store.modify_history(tenant, urn("A"), T, hid, changed, old["modifiedAt"])
    assert not await store.modify_history(new_tenant(), urn("A"), T, hid, changed,
                                          at("12:00"))
    assert [(v, t) for _, _, v, t in await values(store, tenant, "A", attrs=(T,))] == [
        (1, at("10:00")), (3, at("10:02")), (50, at("11:00"))]
    [total] = await store.aggregate_history(tenant, query("A", attrs=(T,), aggregated=True,
                                                          aggr_methods="sum"))
    assert total.values["sum"] == 54


async def test_deleting_recorded_instances(store: Store) -> None:
    tenant = new_tenant()
    await series(store, tenant, "A", [1, 2])
    await series(store, tenant, "A", [3, 4], dataset=B)
    await series(store, tenant, "A", [5], attr=H)

    async def left() -> list[Any]:
        return sorted(v for _, _, v, _ in await values(store, tenant, "A", attrs=(T, H)))

    hid = parse_instance_id((await store.history(tenant, query("A", attrs=(H,))))[0].instance_id)
    assert await store.delete_history(tenant, HistorySelector(urn("A"), T, hid=hid)) == 0
    assert await store.delete_history(tenant, HistorySelector(urn("A"), H, hid=hid)) == 1
    assert await store.delete_history(tenant, HistorySelector(urn("A"), T, B,
                                                              all_datasets=False)) == 2
    assert await left() == [1, 2]
    assert await store.delete_history(tenant, HistorySelector(urn("A"), T, None,
                                                              all_datasets=False)) == 2
    assert await left() == []
    assert await store.delete_history(tenant, HistorySelector(urn("A"))) == 1  # status
    assert await store.delete_history(tenant, HistorySelector(urn("Nope"))) == 0


# --------------------------------------------------------------------------- retention


async def typed(store: Store, tenant: str, name: str, types: list[str], days_ago: list[int],
                now: datetime) -> None:
    """Entity `name` of `types` with one reading `days_ago` days before `now` each."""
    stamp = format_datetime(now)
    payload = {"id": name, "type": types, "status": "on"}
    [outcome] = await store.write(tenant, [Put(entity(payload, stamp), stamp)])
    assert outcome.error is None
    instances = [reading(d, format_datetime(now - timedelta(days=d, hours=1)), stamp)
                 for d in days_ago]
    await store.append_history(tenant, urn(name), {T: instances}, stamp)


async def kept(store: Store, tenant: str, name: str) -> list[int]:
    return sorted(v for _, _, v, _ in await values(store, tenant, name, attrs=(T,)))


async def test_retention_cuts_delete_by_tenant_type_and_age(store: Store) -> None:
    tenant = new_tenant()
    now = datetime(2024, 6, 1, tzinfo=UTC)
    ages = [1, 5, 20, 100]
    await typed(store, tenant, "Air", ["AirQualityObserved"], ages, now)
    await typed(store, tenant, "Both", ["AirQualityObserved", "Streetlight"], ages, now)
    await typed(store, tenant, "Other", ["Parking"], ages, now)
    cut = RetentionCut(tenant, format_datetime(now - timedelta(days=10)),
                       (iri("AirQualityObserved"),), (iri("Streetlight"),))
    assert await store.expire_history(cut, 1) == 1  # batches
    assert await store.expire_history(cut, 100) == 1
    assert await kept(store, tenant, "Air") == [1, 5]
    assert await kept(store, tenant, "Both") == ages
    assert await store.expire_history(RetentionCut(new_tenant(), format_datetime(now)), 100) == 0


async def test_a_policy_applies_the_most_specific_rule_and_the_longest_type(store: Store) -> None:
    tenant, other = new_tenant(), new_tenant()
    now = datetime(2024, 6, 1, tzinfo=UTC)
    ages = [1, 5, 20, 100, 400]
    for where in (tenant, other):
        await typed(store, where, "Air", ["AirQualityObserved"], ages, now)
        await typed(store, where, "Light", ["Streetlight"], ages, now)
        await typed(store, where, "Both", ["AirQualityObserved", "Streetlight"], ages, now)
        await typed(store, where, "Other", ["Parking"], ages, now)
    policy = RetentionPolicy.from_document({"rules": [
        {"days": 30},
        {"type": "AirQualityObserved", "days": 2},
        {"tenant": tenant, "days": 10},
        {"tenant": tenant, "type": "AirQualityObserved", "days": 365},
        {"type": "Streetlight", "days": 50},
    ]})
    report = await Retention(store, policy).apply(now)
    assert await kept(store, tenant, "Air") == [1, 5, 20, 100]
    assert await kept(store, tenant, "Light") == [1, 5, 20]
    assert await kept(store, tenant, "Both") == [1, 5, 20, 100]
    assert await kept(store, tenant, "Other") == [1, 5]
    assert await kept(store, other, "Air") == [1]
    assert await kept(store, other, "Light") == [1, 5, 20]
    assert await kept(store, other, "Both") == [1, 5, 20]
    assert await kept(store, other, "Other") == [1, 5, 20]
    assert report.deleted[tenant] == 1 + 2 + 1 + 3
    assert (await Retention(store, policy).apply(now)).total == 0
