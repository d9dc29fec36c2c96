"""Broker benchmark (issue: foundation). Prints one JSON object of figures.

1. Batch upsert of N realistic city entities through the broker core, on SQLite (and on
   PostgreSQL when reachable), against a baseline that writes the very same table rows with a
   plain `executemany` (SQLite) / `COPY` (PostgreSQL) loop.
2. GET /entities/{id} over HTTP under 64 concurrent connections (wrk), against a minimal JSON
   endpoint of the same framework served the same way, in the same run.
3. geoQ near;maxDistance==500 and a q numeric range query over M entities through the API:
   p50 and p99 latency.

Usage: python bench/broker.py [--entities 100000] [--query-entities 200000] [--duration 10]
       [--postgres postgresql://postgres@127.0.0.1:5432/test] [--no-http | --only-http]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from cityentities import city_entities

from cityhub.broker import Hub
from cityhub.ngsild.context import core_term_map
from cityhub.runtime import tune_garbage_collector

BATCH = 1000
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "4"))
SQLITE_TABLES = ("names", "tenants", "entities", "entity_types", "attr_index", "geo_points",
                 "geo_rtree", "attr_history")


async def upsert_through_broker(dsn: str, payload: list[dict]) -> tuple[float, Hub]:
    hub = Hub.from_dsn(dsn)
    await hub.start()
    started = time.perf_counter()
    await upsert_concurrently(hub, payload)
    elapsed = time.perf_counter() - started
    return elapsed, hub


async def upsert_concurrently(hub: Hub, payload: list[dict]) -> None:
    """Batches of BATCH entities from CLIENTS concurrent writers, as ingest gateways send them
    (the broker parses one batch while the store commits another)."""
    terms = core_term_map()
    batches = [payload[i:i + BATCH] for i in range(0, len(payload), BATCH)]

    async def client(mine: list[list[dict]]) -> None:
        for batch in mine:
            result = await hub.batch.upsert("", batch, terms)
            if result.errors:
                raise SystemExit(f"upsert failed: {result.errors[:1]}")

    await asyncio.gather(*(client(batches[k::CLIENTS]) for k in range(CLIENTS)))


def sqlite_baseline(source: str, target: str) -> float:
    """Write the broker's own rows again with plain executemany, one transaction per batch."""
    src = sqlite3.connect(source)
    rows = {t: src.execute(f"SELECT * FROM {t}").fetchall() for t in SQLITE_TABLES}
    src.close()
    from cityhub.store.sqlite.schema import connect, create_schema

    conn = connect(target)
    create_schema(conn)
    entity_count = len(rows["entities"])
    batches = max(1, entity_count // BATCH)
    started = time.perf_counter()
    for part in range(batches):
        conn.execute("BEGIN")
        for table, table_rows in rows.items():
            chunk = len(table_rows) // batches + 1
            part_rows = table_rows[part * chunk:(part + 1) * chunk]
            if part_rows:
                marks = ",".join("?" * len(part_rows[0]))
                conn.executemany(f"INSERT INTO {table} VALUES ({marks})", part_rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


async def postgres_figures(dsn: str, payload: list[dict]) -> dict:
    try:
        import asyncpg

        probe = await asyncpg.connect(dsn, timeout=3)
        await probe.close()
    except Exception as exc:  # PostgreSQL is optional for the benchmark
        return {"skipped": f"PostgreSQL not reachable: {type(exc).__name__}"}
    from cityhub.store.postgres import PostgresStore

    schema = f"bench_{os.getpid()}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        store = PostgresStore(dsn, schema=schema)
        hub = Hub(store)
        await hub.start()
        started = time.perf_counter()
        await upsert_concurrently(hub, payload)
        elapsed = time.perf_counter() - started
        await hub.stop()
        baseline = await postgres_copy_baseline(admin, schema)
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()
    return {
        "entities_per_s": round(len(payload) / elapsed),
        "baseline_copy_entities_per_s": round(len(payload) / baseline),
        "ratio_to_baseline": round(baseline / elapsed, 3),
    }


async def postgres_copy_baseline(conn, schema: str) -> float:  # type: ignore[no-untyped-def]
    """COPY the broker's own rows (binary, as the server dumps them) into empty copies of its
    tables with the same indexes; only the COPY FROM is timed."""
    tables = [r["tablename"] for r in await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = $1", schema)]
    copy = f"{schema}_copy"
    await conn.execute(f"CREATE SCHEMA {copy}")
    try:
        dumps = {}
        for table in tables:
            await conn.execute(
                f"CREATE TABLE {copy}.{table} (LIKE {schema}.{table} INCLUDING DEFAULTS "
                "INCLUDING INDEXES)")
            buffer = io.BytesIO()
            await conn.copy_from_table(table, schema_name=schema, output=buffer,
                                       format="binary")
            dumps[table] = buffer.getvalue()
        started = time.perf_counter()
        for table, data in dumps.items():
            await conn.copy_to_table(table, schema_name=copy, source=io.BytesIO(data),
                                     format="binary")
        return time.perf_counter() - started
    finally:
        await conn.execute(f"DROP SCHEMA {copy} CASCADE")


# -- HTTP ------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(args: list[str], port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/version", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("server did not start")


WRK_SCRIPT = """
math.randomseed(os.time())
request = function()
  local i = math.random(0, %d)
  local kinds = {"AirQualityObserved", "TrafficFlowObserved", "ParkingSpot"}
  return wrk.format("GET", "%s" .. kinds[(i %% 3) + 1] .. ":sejong-" .. i)
end
"""


def wrk(url: str, duration: int, script: str | None = None) -> dict:
    # one wrk thread: on 2 cores the load generator gets one and the server the other
    command = ["wrk", "-t1", "-c64", f"-d{duration}s", "--latency"]
    if script:
        command += ["-s", script]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rps = float(next(line.split()[1] for line in out.splitlines()
                     if line.startswith("Requests/sec")))
    p99 = next(line.split()[1] for line in out.splitlines() if line.strip().startswith("99%"))
    errors = sum(int(part.split(":")[1]) for line in out.splitlines()
                 if "Socket errors" in line for part in line.split(",")[0:4] if ":" in part)
    non2xx = next((int(line.split(":")[1]) for line in out.splitlines()
                   if "Non-2xx" in line), 0)
    return {"requests_per_s": rps, "p99_ms": _ms(p99), "errors": errors + non2xx}


def _ms(text: str) -> float:
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return round(float(text[: -len(unit)]) * factor, 2)
    return float(text)


def latency(client: httpx.Client, paths: list[str]) -> dict:
    timings, sizes = [], []
    for path in paths:
        started = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path} -> {response.status_code} {response.text[:200]}")
        sizes.append(len(response.json()))
    timings.sort()
    return {
        "p50_ms": round(statistics.median(timings), 2),
        "p99_ms": round(timings[int(len(timings) * 0.99) - 1], 2),
        "mean_results": round(statistics.mean(sizes), 1),
        "requests": len(paths),
    }


def http_figures(db_path: str, count: int, duration: int) -> dict:
    if shutil.which("wrk") is None:
        return {"skipped": "wrk is not installed (apt-get install wrk)"}
    hub_port, base_port = free_port(), free_port()
    hub = start_server(["-m", "cityhub.cli", "serve", "--db", f"sqlite:///{db_path}",
                        "--port", str(hub_port)], hub_port)
    base = start_server([str(Path(__file__).parent / "minimal_app.py"), str(base_port)],
                        base_port)
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(WRK_SCRIPT % (count - 1, "/ngsi-ld/v1/entities/urn:ngsi-ld:"))
        wrk(f"http://127.0.0.1:{hub_port}/", 2, script.name)  # warm-up
        wrk(f"http://127.0.0.1:{base_port}/", 2)
        ours = wrk(f"http://127.0.0.1:{hub_port}/", duration, script.name)
        baseline = wrk(f"http://127.0.0.1:{base_port}/", duration)
        os.unlink(script.name)
        rng = random.Random(3)
        with httpx.Client(base_url=f"http://127.0.0.1:{hub_port}", timeout=30) as client:
            geo_paths = [
                "/ngsi-ld/v1/entities?type=AirQualityObserved,TrafficFlowObserved,ParkingSpot"
                "&georel=near;maxDistance==500&geometry=Point&limit=100"
                f"&coordinates=[{127.29 + rng.uniform(-0.1, 0.1):.5f},"
                f"{36.48 + rng.uniform(-0.08, 0.08):.5f}]"
                for _ in range(300)
            ]
            q_paths = []
            for _ in range(300):
                low = rng.uniform(2, 78)
                q_paths.append(f"/ngsi-ld/v1/entities?type=AirQualityObserved"
                               f"&q=pm25=={low:.1f}..{low + 2:.1f}&limit=100")
            latency(client, geo_paths[:20] + q_paths[:20])  # warm-up
            geo = latency(client, geo_paths)
            rangeq = latency(client, q_paths)
    finally:
        hub.terminate()
        base.terminate()
        hub.wait()
        base.wait()
    return {
        "get_entity": {**ours, "connections": 64, "duration_s": duration},
        "baseline_minimal_json": baseline,
        "get_entity_ratio_to_baseline": round(ours["requests_per_s"] /
                                              baseline["requests_per_s"], 3),
        "geoq_near_500m_limit100": geo,
        "q_numeric_range_limit100": rangeq,
        "entities_in_store": count,
    }


async def upsert_figures(figures: dict, tmp: str, args: argparse.Namespace) -> None:
    payload = city_entities(args.entities)
    elapsed, hub = await upsert_through_broker(f"sqlite:///{tmp}/hub.db", payload)
    await hub.stop()
    baseline = sqlite_baseline(f"{tmp}/hub.db", f"{tmp}/baseline.db")
    figures["upsert_sqlite"] = {
        "entities": args.entities,
        "entities_per_s": round(args.entities / elapsed),
        "baseline_executemany_entities_per_s": round(args.entities / baseline),
        "ratio_to_baseline": round(baseline / elapsed, 3),
    }
    figures["upsert_postgres"] = await postgres_figures(args.postgres, payload)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--query-entities", type=int, default=200_000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--postgres", default=os.environ.get(
        "CITYHUB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--only-http", action="store_true",
                        help="skip the upsert figures: only the HTTP and query figures")
    args = parser.parse_args()
    tune_garbage_collector()  # the broker in this process runs as `cityhub serve` runs it
    figures: dict = {"benchmark": "broker", "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.only_http:
            await upsert_figures(figures, tmp, args)
        if not args.no_http:
            query_db = f"{tmp}/query.db"
            _, hub = await upsert_through_broker(f"sqlite:///{query_db}",
                                                 city_entities(args.query_entities, seed=11))
            await hub.stop()
            figures["http_sqlite"] = http_figures(query_db, args.query_entities, args.duration)
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
