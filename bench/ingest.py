"""Ingest benchmark (issue 4). Prints one JSON object of figures.

1. Sustained MQTT ingest: a publisher process sends JSON measurements of DEVICES provisioned
   air-quality sensors to Mosquitto at a fixed rate (QoS 1) for --seconds; the hub's gateway
   (in this process) takes them, checks them and writes them through the broker core. Figures:
   messages/s stored, end-to-end latency publish -> stored (committed, so queryable) p50/p99,
   and published == stored (zero loss, checked with the counters and one device's history).
   Baseline in the same run: the broker core's batch upsert (options=update) of the very same
   records, in batches of the size the pipeline wrote, from as many concurrent writers as the
   pipeline has (each entity to one writer, as there), on a fresh store; target >= 5,000 msg/s
   on 2 cores and ratio >= 0.5.
2. File import of --rows CSV rows (AirKorea-style, generated) with `cityhub import`'s code, in
   a child process: rows/s and the process's resident memory (all, anonymous, file-backed) at
   the start and at 10 %, 50 % and 100 % of the rows (flat: the file is streamed; the store's
   SQLite page cache, 64 MiB a connection, and memory map, 256 MiB, fill first), and its peak.

Usage: python bench/ingest.py [--seconds 5] [--rate 6000] [--rows 1000000]
       [--mqtt mqtt://127.0.0.1:1883] [--no-file] [--no-mqtt] [--postgres DSN]
With --postgres the same figures run again on PostgreSQL (each store in a scratch schema of
its own, dropped at the end), under the key "postgres".
Run the full figures under the bench lock:
       flock /tmp/cityhub-bench.lock python bench/ingest.py --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cityhub.ingest.mqtt_client import packet, utf8_string
from cityhub.runtime import tune_garbage_collector

ROOT = Path(__file__).resolve().parents[1]
DEVICES = 1000
TENANT = f"bench-{os.getpid()}"  # the gateway subscribes to this tenant only
MAPPING = ROOT / "examples" / "airkorea" / "mapping.yaml"


def device_records() -> list[dict[str, Any]]:
    return [{"deviceId": f"aq-{i:04d}", "entityType": "AirQualityObserved", "tenant": TENANT,
             "attributes": {"pm25": {"unitCode": "GQ", "min": 0, "max": 1000},
                            "pm10": {"unitCode": "GQ", "min": 0, "max": 2000},
                            "t": {"name": "temperature", "unitCode": "CEL"}}}
            for i in range(DEVICES)]


def payload(i: int, now: float, tenant: str) -> tuple[str, bytes]:
    moment = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
    device = f"aq-{i % DEVICES:04d}"
    body = (f'{{"pm25": {i % 500}, "pm10": {i % 900}, "t": {i % 35}.5, '
            f'"observedAt": "{moment.replace("+00:00", "Z")}"}}')
    return f"cityhub/{tenant}/{device}/attrs", body.encode()


# -- the publisher (a child process; a minimal MQTT 3.1.1 QoS 1 client, as wrk is for HTTP) --
def publisher(host: str, port: int, rate: float, seconds: float, tenant: str) -> None:
    """Publish `rate` messages/s for `seconds` at QoS 1; count the broker's PUBACKs."""
    import socket
    import threading

    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(packet(0x10, utf8_string("MQTT") + bytes([4, 0x02, 0, 60])
                         + utf8_string(f"bench-pub-{os.getpid()}")))
    assert sock.recv(4)[:2] == b"\x20\x02", "no CONNACK"
    acked = 0

    def read_acks() -> None:
        nonlocal acked
        buffer = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return
            buffer += chunk
            whole = len(buffer) - len(buffer) % 4  # PUBACKs are 4 bytes each
            acked += sum(1 for k in range(0, whole, 4) if buffer[k] == 0x40)
            buffer = buffer[whole:]

    reader = threading.Thread(target=read_acks, daemon=True)
    reader.start()
    started = time.time()
    sent = 0
    while True:
        now = time.time()
        if now - started >= seconds:
            break
        due = int((now - started) * rate)
        chunk = bytearray()
        while sent < due:
            topic, body = payload(sent, time.time(), tenant)
            packet_id = sent % 65535 + 1
            chunk += packet(0x32, utf8_string(topic) + packet_id.to_bytes(2, "big") + body)
            sent += 1
        if chunk:
            sock.sendall(chunk)
        time.sleep(0.001)
    deadline = time.time() + 60
    while acked < sent and time.time() < deadline:
        time.sleep(0.01)
    sock.sendall(packet(0xE0, b""))
    sock.close()
    print(json.dumps({"published": sent, "acked": acked, "seconds": time.time() - started}))


# -- 1. MQTT ----------------------------------------------------------------------------------
async def mqtt_figures(url: str, rate: float, seconds: float, dsn: str, baseline_dsn: str
                       ) -> dict[str, Any]:
    from urllib.parse import urlsplit

    from cityhub.broker import Hub
    from cityhub.ingest.mqtt import MqttGateway
    from cityhub.ingest.pipeline import TERMS, IngestPipeline, Record
    from cityhub.ingest.registry import parse_device
    from cityhub.ngsild.entity import now_iso
    from cityhub.ngsild.temporal import TemporalQuery

    tune_garbage_collector()  # the hub in this process runs as `cityhub serve` runs it
    hub = Hub.from_dsn(dsn)
    await hub.start()
    pipeline = IngestPipeline(hub)
    await pipeline.start()
    await pipeline.registry.provision([parse_device(r) for r in device_records()])
    latencies: list[float] = []
    arrivals: list[float] = []
    stored_records: list[Record] = []
    batch_sizes: list[int] = []
    original_write = pipeline.write_now

    async def counting_write(records: Any, *args: Any, **kwargs: Any) -> Any:
        batch_sizes.append(len(records))
        return await original_write(records, *args, **kwargs)

    pipeline.write_now = counting_write  # type: ignore[method-assign]

    def on_stored(record: Record) -> None:
        now_wall, now_mono = time.time(), time.monotonic()
        assert record.observed_at is not None
        sent = datetime.fromisoformat(record.observed_at).timestamp()
        latencies.append(now_wall - sent)
        arrivals.append(now_mono - record.arrived)
        if len(stored_records) < 200_000:
            stored_records.append(record)

    pipeline.on_stored = on_stored
    client_id = f"cityhub-bench-{os.getpid()}"
    gateway = MqttGateway(pipeline, url, client_id=client_id, tenants=(TENANT,))
    await gateway.start()
    assert await gateway.wait_connected(10)
    parts = urlsplit(url)
    started = time.perf_counter()
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--publisher", parts.hostname or "127.0.0.1",
        str(parts.port or 1883), str(rate), str(seconds), TENANT, stdout=subprocess.PIPE)
    out, _ = await child.communicate()
    published = json.loads(out)
    deadline = time.monotonic() + 120
    counts = pipeline.counters.get("mqtt")
    while counts.accepted + counts.rejected + counts.duplicates < published["acked"] \
            and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await pipeline.drain()
    elapsed = time.perf_counter() - started
    device = "urn:ngsi-ld:AirQualityObserved:aq-0007"
    history = await hub.temporal.retrieve(TENANT, device, (TERMS.expand("pm25"),),
                                          TemporalQuery())
    sent_to_device = len(range(7, published["published"], DEVICES))
    await gateway.stop()
    await pipeline.dead_letters.flush()
    rejections = (await pipeline.dead_letters.list(TENANT, 1000))[0] \
        + (await pipeline.dead_letters.list("", 1000))[0]
    reasons: dict[str, int] = {}
    for item in rejections:
        reasons[item["reason"][:120]] = reasons.get(item["reason"][:120], 0) + 1
    await pipeline.stop()
    await hub.stop()
    import aiomqtt

    async with aiomqtt.Client(parts.hostname or "127.0.0.1", parts.port or 1883,
                              identifier=client_id, clean_session=True):
        pass  # forget the persistent session

    # the baseline: the same records through the broker core's batch upsert, same batch size
    base = Hub.from_dsn(baseline_dsn)
    await base.start()
    size = max(1, round(statistics.mean(batch_sizes))) if batch_sizes else 100
    now = now_iso()
    fragments = [r.fragment(now) for r in stored_records]
    writers = len(pipeline.queues)
    streams: list[list[dict]] = [[] for _ in range(writers)]
    for fragment in fragments:  # as the pipeline: an entity always to the same writer
        streams[hash(fragment["id"]) % writers].append(fragment)

    async def write_stream(stream: list[dict]) -> None:
        for start in range(0, len(stream), max(1, size // writers)):
            chunk = stream[start:start + max(1, size // writers)]
            by_round: list[list[dict]] = []
            seen: dict[str, int] = {}
            for fragment in chunk:  # as the pipeline: an entity once per write
                n = seen.get(fragment["id"], 0)
                seen[fragment["id"]] = n + 1
                if n == len(by_round):
                    by_round.append([])
                by_round[n].append(fragment)
            for group in by_round:
                result = await base.batch.upsert(TENANT, group, TERMS, replace=False)
                assert not result.errors, result.errors[:1]

    base_started = time.perf_counter()
    await asyncio.gather(*(write_stream(stream) for stream in streams))
    base_elapsed = time.perf_counter() - base_started
    await base.stop()
    stored = counts.accepted
    rate_stored = stored / elapsed
    baseline_rate = len(fragments) / base_elapsed if fragments else 0.0
    latencies.sort()
    arrivals.sort()

    def pct(values: list[float], p: float) -> float:
        return round(values[min(len(values) - 1, int(len(values) * p))] * 1000, 1) \
            if values else 0.0

    return {
        "seconds": round(elapsed, 2), "target_rate": rate,
        "published": published["published"], "acked_by_broker": published["acked"],
        "stored": stored, "rejected": counts.rejected, "duplicates": counts.duplicates,
        "zero_loss": stored == published["published"] and counts.rejected == 0,
        "rejection_reasons": reasons,
        "device_history_matches": len(history.instances) == sent_to_device,
        "messages_per_s": round(rate_stored),
        "latency_ms": {"p50": pct(latencies, 0.50), "p99": pct(latencies, 0.99),
                       "max": pct(latencies, 1.0)},
        "gateway_to_stored_ms": {"p50": pct(arrivals, 0.50), "p99": pct(arrivals, 0.99)},
        "mean_batch": size,
        "baseline_batch_upsert_per_s": round(baseline_rate),
        "ratio": round(rate_stored / baseline_rate, 3) if baseline_rate else None,
    }


# -- 2. file import ---------------------------------------------------------------------------
def rss_mb() -> dict[str, float]:
    """Resident memory: in all, anonymous (the heap: what the importer holds) and file-backed
    (SQLite's memory-mapped database pages, which the kernel may drop)."""
    fields = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "RssAnon", "RssFile"):
                fields[name] = round(int(value.split()[0]) / 1024, 1)
    return {"rss": fields.get("VmRSS", 0.0), "anon": fields.get("RssAnon", 0.0),
            "file": fields.get("RssFile", 0.0)}


def peak_rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def write_csv(path: Path, rows: int) -> None:
    rng = random.Random(4)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["stationCode", "stationName", "sidoName", "dataTime", "so2Value",
                      "coValue", "o3Value", "no2Value", "pm10Value", "pm25Value", "khaiValue",
                      "khaiGrade", "latitude", "longitude"])
        for i in range(rows):
            station, hour = i % 1000, i // 1000
            day, hh = divmod(hour, 24)
            out.writerow([f"ST{station:04d}", f"측정소{station}", "세종",
                          f"2026-{1 + day // 28 % 12:02d}-{1 + day % 28:02d} {hh:02d}:00",
                          "0.003", "0.4", "0.031", "0.012", rng.randint(10, 90),
                          rng.randint(5, 60), rng.randint(30, 120), 2,
                          f"{36.4 + station % 40 * 0.005:.4f}",
                          f"{127.2 + station // 40 * 0.005:.4f}"])


async def file_child(csv_path: Path, dsn: str, rows: int) -> dict[str, Any]:
    from cityhub.broker import Hub
    from cityhub.ingest.files import import_file
    from cityhub.ingest.mapping import load_mapping
    from cityhub.ingest.pipeline import IngestPipeline

    tune_garbage_collector()  # as `cityhub import` does
    hub = Hub.from_dsn(dsn)
    await hub.start()
    pipeline = IngestPipeline(hub)
    marks = {int(rows * f): f for f in (0.1, 0.5)}
    memory: dict[str, dict[str, float]] = {"start": rss_mb()}
    original = pipeline.write_parallel

    async def sampling_write(records: Any, report: Any, indexes: Any) -> Any:
        result = await original(records, report, indexes)
        if report is not None:
            for mark, fraction in list(marks.items()):
                if report.received >= mark:
                    memory[f"{int(fraction * 100)}%"] = rss_mb()
                    del marks[mark]
        return result

    pipeline.write_parallel = sampling_write  # type: ignore[method-assign]
    started = time.perf_counter()
    report = await import_file(pipeline, csv_path, load_mapping(MAPPING), tenant="bench")
    elapsed = time.perf_counter() - started
    memory["100%"] = rss_mb()
    await hub.stop()
    return {"rows": report.received, "accepted": report.accepted,
            "rejected": report.rejected, "seconds": round(elapsed, 1),
            "rows_per_s": round(report.received / elapsed),
            "memory_mb": memory,
            # VmHWM: this process's own peak (ru_maxrss would count the parent's memory at
            # the fork, which the kernel carries over exec)
            "peak_rss_mb": peak_rss_mb()}


def file_figures(rows: int, workdir: Path, dsn: str) -> dict[str, Any]:
    csv_path = workdir / "readings.csv"
    if not csv_path.exists():
        write_csv(csv_path, rows)
    size_mb = round(csv_path.stat().st_size / 2**20, 1)
    result = subprocess.run(
        [sys.executable, __file__, "--file-child", str(csv_path), dsn, str(rows)],
        capture_output=True, text=True, check=True)
    figures = json.loads(result.stdout)
    figures["file_mb"] = size_mb
    return figures


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--publisher":
        host, port, rate, seconds, tenant = sys.argv[2:7]
        publisher(host, int(port), float(rate), float(seconds), tenant)
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--file-child":
        path, dsn, rows = sys.argv[2:5]
        print(json.dumps(asyncio.run(file_child(Path(path), dsn, int(rows)))))
        return
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if os.environ.get("SWITCH"):
        sys.setswitchinterval(float(os.environ["SWITCH"]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=6000.0)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--mqtt", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--no-file", action="store_true")
    parser.add_argument("--no-mqtt", action="store_true")
    parser.add_argument("--postgres", metavar="DSN",
                        help="also run the figures on PostgreSQL (scratch schemas, dropped)")
    args = parser.parse_args()
    figures: dict[str, Any] = {"bench": "ingest", "cores": os.cpu_count(), "store": "sqlite"}
    with tempfile.TemporaryDirectory(prefix="cityhub-bench-ingest-") as tmp:
        workdir = Path(tmp)

        def sqlite_dsn(name: str) -> str:
            return f"sqlite:///{workdir / name}.db"

        run_figures(args, workdir, sqlite_dsn, figures)
        if args.postgres:
            figures["postgres"] = {"store": "postgres"}
            with postgres_schemas(args.postgres) as postgres_dsn:
                run_figures(args, workdir, postgres_dsn, figures["postgres"])
    print(json.dumps(figures))


def run_figures(args: argparse.Namespace, workdir: Path, dsn: Any,
                figures: dict[str, Any]) -> None:
    if not args.no_mqtt:
        figures["mqtt"] = asyncio.run(mqtt_figures(args.mqtt, args.rate, args.seconds,
                                                   dsn("mqtt"), dsn("baseline")))
    if not args.no_file:
        figures["file_import"] = file_figures(args.rows, workdir, dsn("file"))


@contextlib.contextmanager
def postgres_schemas(admin_dsn: str) -> Iterator[Any]:
    """dsn(name): a fresh scratch schema per store; all are dropped at the end."""
    import asyncpg

    made: list[str] = []

    async def execute(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def dsn(name: str) -> str:
        schema = f"bench_ingest_{os.getpid()}_{name}"
        asyncio.run(execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))
        made.append(schema)
        return f"{admin_dsn}{'&' if '?' in admin_dsn else '?'}search_path={schema},public"

    try:
        yield dsn
    finally:
        for schema in made:
            asyncio.run(execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))


if __name__ == "__main__":
    main()
