"""Temporal aggregation benchmark (issue 3). Prints one JSON object of figures.

Hourly `avg` through the HTTP API (`cityhub serve` in its own process) on each store:

1. one sensor, 30 days of 1-minute readings (43,200 instances): GET /temporal/entities/{id};
2. 500 sensors, one day of 1-minute readings each (720,000 instances): GET /temporal/entities
   ?type=...&limit=500.

p50 / p99 of repeated sequential requests, against a baseline in the same run: the hand-written
SQL `GROUP BY` a developer would write for the same answer, on the same tables, through a plain
driver connection (sqlite3 / asyncpg) from this process; ratio = baseline p50 / API p50.

The readings are loaded through the store's own history-append method (`append_history`: one
`executemany` on SQLite's writer thread, one binary COPY on PostgreSQL, per sensor), after the
entities are created with a batch upsert; then PostgreSQL's statistics are refreshed (ANALYZE,
what autovacuum does after a bulk load).

Usage: python bench/temporal.py [--repeat 60] [--sensors 500] [--days 30]
       [--postgres postgresql://postgres@127.0.0.1:5432/test] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from broker import free_port, start_server
from cityhub.ngsild.context import core_term_map
from cityhub.ngsild.entity import now_iso
from cityhub.ngsild.temporal import epoch_ms, from_epoch_ms
from cityhub.store.base import Put, Store

START = "2024-05-01T00:00:00.000Z"
MINUTE_MS = 60_000
TERMS = core_term_map()
TEMPERATURE = TERMS.expand("temperature")
SINGLE = "urn:ngsi-ld:TemperatureSensor:single"
FLEET_TYPE = "FleetSensor"


def fleet_id(index: int) -> str:
    return f"urn:ngsi-ld:FleetSensor:{index:04d}"


def readings(count: int, seed: int, now: str) -> list[dict[str, Any]]:
    """`count` one-minute temperature instances from START, stamped as a write at `now`."""
    base = epoch_ms(START)
    return [{"type": "Property", "value": round(15 + (i * 7919 + seed) % 1000 / 100, 2),
             "observedAt": from_epoch_ms(base + i * MINUTE_MS), "createdAt": now,
             "modifiedAt": now} for i in range(count)]


async def load(store: Store, sensors: int, days: int) -> dict[str, Any]:
    """Each sensor's latest reading as its entity (batch upserts, which record it in the
    history), the others through `append_history`, one call a sensor."""
    now = now_iso()
    sensors_and_readings = [(SINGLE, "TemperatureSensor", days * 1440)] + [
        (fleet_id(i), FLEET_TYPE, 1440) for i in range(sensors)]
    started = time.perf_counter()
    rows = 0
    for chunk in range(0, len(sensors_and_readings), 100):
        ops, older = [], []
        for seed, (entity_id, kind, count) in enumerate(sensors_and_readings[chunk:chunk + 100]):
            instances = readings(count, chunk + seed, now)
            ops.append(Put({"id": entity_id, "type": [TERMS.expand(kind)],
                            "attrs": {TEMPERATURE: instances[-1:]}}, now))
            older.append((entity_id, instances[:-1]))
        assert all(o.error is None for o in await store.write("", ops))
        rows += len(ops)
        for entity_id, instances in older:
            rows += await store.append_history("", entity_id, {TEMPERATURE: instances}, now)
    elapsed = time.perf_counter() - started
    return {"instances": rows, "seconds": round(elapsed, 1),
            "instances_per_s": round(rows / elapsed)}


# -- measuring ------------------------------------------------------------------------------


def percentiles(timings: list[float]) -> dict[str, float]:
    timings = sorted(timings)
    return {"p50_ms": round(statistics.median(timings), 2),
            "p99_ms": round(timings[max(0, int(len(timings) * 0.99) - 1)], 2)}


def over_http(url: str, path: str, params: dict[str, str], repeat: int,
              check: Callable[[Any], int]) -> dict[str, Any]:
    timings = []
    with httpx.Client(base_url=url, timeout=120) as client:
        for attempt in range(repeat + 3):  # three to warm up
            started = time.perf_counter()
            response = client.get(path, params=params)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise SystemExit(f"{path} -> {response.status_code} {response.text[:300]}")
            periods = check(response.json())
            if attempt >= 3:
                timings.append(elapsed)
    return {**percentiles(timings), "periods": periods, "requests": repeat}


def single_periods(body: dict[str, Any]) -> int:
    return len(body["temperature"]["avg"])


def fleet_periods(body: list[dict[str, Any]]) -> int:
    return sum(len(e["temperature"]["avg"]) for e in body)


def figure(api: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    if api["periods"] != baseline["periods"]:
        raise SystemExit(f"the API found {api['periods']} periods, the SQL {baseline['periods']}")
    return {"api": api, "baseline_sql": baseline,
            "ratio_baseline_to_api": round(baseline["p50_ms"] / api["p50_ms"], 3)}


def queries(days: int, sensors: int) -> dict[str, tuple[str, dict[str, str], Callable]]:
    aggregate = {"attrs": "temperature", "options": "aggregatedValues", "aggrMethods": "avg",
                 "aggrPeriodDuration": "PT1H", "timerel": "between", "timeAt": START}
    return {
        "single_sensor": (f"/ngsi-ld/v1/temporal/entities/{SINGLE}", {
            **aggregate, "endTimeAt": from_epoch_ms(epoch_ms(START) + days * 86_400_000)},
            single_periods),
        "fleet": ("/ngsi-ld/v1/temporal/entities", {
            **aggregate, "type": FLEET_TYPE, "limit": str(sensors),
            "endTimeAt": from_epoch_ms(epoch_ms(START) + 86_400_000)}, fleet_periods),
    }


def api_figures(url: str, days: int, sensors: int, repeat: int) -> dict[str, dict[str, Any]]:
    out = {}
    for name, (path, params, check) in queries(days, sensors).items():
        out[name] = over_http(url, path, params, repeat if name == "single_sensor"
                              else max(5, repeat // 3), check)
    return out


# -- the hand-written SQL, per store ----------------------------------------------------------

SQLITE_SINGLE = """
SELECT (observed_at - ?) / 3600000 AS hour, avg(num) FROM attr_history
WHERE eid = (SELECT eid FROM entities WHERE tenant = '' AND id = ?)
  AND kid = (SELECT nid FROM names WHERE name = ?) AND observed_at >= ? AND observed_at < ?
GROUP BY hour ORDER BY hour"""
SQLITE_FLEET = """
SELECT eid, (observed_at - ?) / 3600000 AS hour, avg(num) FROM attr_history
WHERE eid IN (SELECT t.eid FROM entity_types t JOIN names n ON n.nid = t.tid WHERE n.name = ?)
  AND kid = (SELECT nid FROM names WHERE name = ?) AND observed_at >= ? AND observed_at < ?
GROUP BY eid, hour ORDER BY eid, hour"""
POSTGRES_SINGLE = """
SELECT date_trunc('hour', observed_at) AS hour, avg(num) FROM attr_history
WHERE eid = (SELECT eid FROM entities WHERE tenant = '' AND id = $1)
  AND kid = (SELECT nid FROM names WHERE name = $2) AND observed_at >= $3 AND observed_at < $4
GROUP BY hour ORDER BY hour"""
POSTGRES_FLEET = """
SELECT eid, date_trunc('hour', observed_at) AS hour, avg(num) FROM attr_history
WHERE eid IN (SELECT t.eid FROM entity_types t JOIN names n ON n.nid = t.tid WHERE n.name = $1)
  AND kid = (SELECT nid FROM names WHERE name = $2) AND observed_at >= $3 AND observed_at < $4
GROUP BY eid, hour ORDER BY eid, hour"""


def timed(run: Callable[[], int], repeat: int) -> dict[str, Any]:
    timings, periods = [], 0
    for attempt in range(repeat + 3):
        started = time.perf_counter()
        periods = run()
        if attempt >= 3:
            timings.append((time.perf_counter() - started) * 1000)
    return {**percentiles(timings), "periods": periods, "requests": repeat}


def sqlite_baseline(path: str, days: int, repeat: int) -> dict[str, dict[str, Any]]:
    from cityhub.store.sqlite.schema import connect

    conn = connect(path, read_only=True)
    start, fleet_type = epoch_ms(START), TERMS.expand(FLEET_TYPE)
    single_end, fleet_end = start + days * 86_400_000, start + 86_400_000

    def single() -> int:
        return len(conn.execute(SQLITE_SINGLE, (start, SINGLE, TEMPERATURE, start,
                                                single_end)).fetchall())

    def fleet() -> int:
        return len(conn.execute(SQLITE_FLEET, (start, fleet_type, TEMPERATURE, start,
                                               fleet_end)).fetchall())

    try:
        return {"single_sensor": timed(single, repeat),
                "fleet": timed(fleet, max(5, repeat // 3))}
    finally:
        conn.close()


async def postgres_baseline(dsn: str, days: int, repeat: int) -> dict[str, dict[str, Any]]:
    import asyncpg

    from cityhub.store.postgres.temporal import _moment

    conn = await asyncpg.connect(dsn)
    start = _moment(START)
    fleet_type = TERMS.expand(FLEET_TYPE)
    single_end = _moment(from_epoch_ms(epoch_ms(START) + days * 86_400_000))
    fleet_end = _moment(from_epoch_ms(epoch_ms(START) + 86_400_000))
    out = {}
    try:
        for name, sql, args, count in (
            ("single_sensor", POSTGRES_SINGLE, (SINGLE, TEMPERATURE, start, single_end),
             repeat),
            ("fleet", POSTGRES_FLEET, (fleet_type, TEMPERATURE, start, fleet_end),
             max(5, repeat // 3)),
        ):
            timings, periods = [], 0
            for attempt in range(count + 3):
                started = time.perf_counter()
                periods = len(await conn.fetch(sql, *args))
                if attempt >= 3:
                    timings.append((time.perf_counter() - started) * 1000)
            out[name] = {**percentiles(timings), "periods": periods, "requests": count}
    finally:
        await conn.close()
    return out


# -- per store --------------------------------------------------------------------------------


def serve_and_measure(dsn: str, days: int, sensors: int, repeat: int
                      ) -> dict[str, dict[str, Any]]:
    port = free_port()
    server = start_server(["-m", "cityhub.cli", "serve", "--db", dsn, "--port", str(port)],
                          port)
    try:
        return api_figures(f"http://127.0.0.1:{port}", days, sensors, repeat)
    finally:
        server.terminate()
        server.wait()


async def load_into(store: Store, args: argparse.Namespace) -> dict[str, Any]:
    await store.open()
    try:
        return await load(store, args.sensors, args.days)
    finally:
        await store.close()


async def sqlite_figures(tmp: str, args: argparse.Namespace) -> dict[str, Any]:
    from cityhub.store.sqlite import SqliteStore

    path = f"{tmp}/temporal.db"
    loaded = await load_into(SqliteStore(path), args)
    api = serve_and_measure(f"sqlite:///{path}", args.days, args.sensors, args.repeat)
    baseline = sqlite_baseline(path, args.days, args.repeat)
    return {"load": loaded, **{k: figure(api[k], baseline[k]) for k in api}}


async def postgres_figures(args: argparse.Namespace) -> dict[str, Any]:
    import asyncpg

    from cityhub.store.postgres import PostgresStore

    try:
        admin = await asyncpg.connect(args.postgres, timeout=3)
    except Exception as exc:  # PostgreSQL is optional for the benchmark
        return {"skipped": f"PostgreSQL not reachable: {type(exc).__name__}"}
    schema = f"bench_temporal_{os.getpid()}"
    await admin.execute(f"CREATE SCHEMA {schema}")
    dsn = f"{args.postgres}{'&' if '?' in args.postgres else '?'}search_path={schema},public"
    try:
        loaded = await load_into(PostgresStore(dsn), args)
        await admin.execute(f"ANALYZE {schema}.attr_history, {schema}.entities, "
                            f"{schema}.entity_types, {schema}.names")
        api = serve_and_measure(dsn, args.days, args.sensors, args.repeat)
        baseline = await postgres_baseline(dsn, args.days, args.repeat)
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()
    return {"load": loaded, **{k: figure(api[k], baseline[k]) for k in api}}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--sensors", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--postgres", default=os.environ.get(
        "CITYHUB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    figures: dict[str, Any] = {
        "benchmark": "temporal", "cores": os.cpu_count(), "sqlite_version": sqlite3.sqlite_version,
        "single_sensor": f"hourly avg over {args.days} days of 1-minute readings "
                         f"({args.days * 1440} instances) of one sensor",
        "fleet": f"hourly avg over 1 day of 1-minute readings of {args.sensors} sensors "
                 f"({args.sensors * 1440} instances)",
    }
    with tempfile.TemporaryDirectory() as tmp:
        figures["sqlite"] = await sqlite_figures(tmp, args)
    figures["postgres"] = ({"skipped": "--no-postgres"} if args.no_postgres
                           else await postgres_figures(args))
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
