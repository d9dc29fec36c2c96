"""Reliability benchmark (issue 6). Prints one JSON object of figures.

1. Faults, each against real `cityhub serve` processes under batch upserts from 4 clients
   (tests/reliability/faults.py, the code the tests run, with longer streams): SIGKILL on
   SQLite, SIGKILL on PostgreSQL, the hub's PostgreSQL connections terminated, PostgreSQL
   unreachable (a TCP proxy cut). For each: entity versions acknowledged vs found afterwards
   (must be equal), half-written entities (must be 0).
2. Fuzzing: bench/fuzz_api.py run as a subprocess (its fuzz_cases, fuzz_5xx, fuzz_hangs).
3. Load: wrk (64 connections, loopback only) sends a mix of GET /entities/{id} (85 %), q
   queries (10 %, `q=reading==X`) and batch upserts of 5 entities (5 %) to a hub over SQLite
   as fast as it answers, for --duration seconds (300 by default, as the issue asks):
   requests/s, errors (non-2xx and socket errors), the hub's RSS after a warm-up and at the
   end, and the drift.

Usage: python bench/reliability.py [--duration 300] [--writes 400] [--load-entities 10000]
       [--postgres postgresql://postgres@127.0.0.1:5432/test] [--skip-faults] [--skip-fuzz]
Run it under `flock /tmp/cityhub-bench.lock` so that no other benchmark shares the machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest  # a missing service is a pytest skip in the shared test helpers

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from broker.test_delivery_processes import HubProcess  # noqa: E402
from ingest.proxy import TcpProxy  # noqa: E402
from reliability.faults import (  # noqa: E402
    NGSI_LD,
    connections_dropped_run,
    postgres_hub_dsn,
    sigkill_run,
    through,
    unreachable_run,
    version,
)

_spec = importlib.util.spec_from_file_location("bench_broker", ROOT / "bench" / "broker.py")
assert _spec is not None and _spec.loader is not None
bench_broker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_broker)


# ------------------------------------------------------------------------------ faults


def fault(run: Callable[[], tuple[Any, dict[str, Any]]]) -> dict[str, Any]:
    try:
        verdict, extra = run()
    except (Exception, pytest.skip.Exception) as exc:
        return {"not_run": f"{type(exc).__name__}: {exc}"[:300]}
    figures = verdict.figures()
    return {**figures, "equal": figures["acknowledged"] == figures["found"], **extra}


def fault_figures(tmp: Path, writes: int, admin_dsn: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out["sigkill_sqlite"] = fault(lambda: sigkill_run(
        HubProcess, f"sqlite:///{tmp / 'sigkill.db'}", writes=writes, kills=3))

    def on_postgres(run: Callable[[str, str], tuple[Any, dict[str, Any]]]
                    ) -> Callable[[], tuple[Any, dict[str, Any]]]:
        def go() -> tuple[Any, dict[str, Any]]:
            with postgres_hub_dsn() as (dsn, name):
                return run(dsn, name)
        return go

    out["sigkill_postgres"] = fault(on_postgres(lambda dsn, _: sigkill_run(
        HubProcess, dsn, writes=writes, kills=3)))
    out["pg_connections_dropped"] = fault(on_postgres(lambda dsn, name: connections_dropped_run(
        HubProcess, dsn, admin_dsn, name, writes=writes, drops=3)))

    def unreachable(dsn: str, _: str) -> tuple[Any, dict[str, Any]]:
        target = urlsplit(admin_dsn)
        proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
        try:
            return unreachable_run(HubProcess, through(proxy, dsn), proxy, writes=writes,
                                   outage=5.0)
        finally:
            proxy.close()

    out["pg_unreachable"] = fault(on_postgres(unreachable))
    return out


# ------------------------------------------------------------------------------ fuzzing


def fuzz_figures() -> dict[str, Any]:
    script = ROOT / "bench" / "fuzz_api.py"
    if not script.exists():
        return {"not_run": "bench/fuzz_api.py does not exist yet"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=1800, cwd=ROOT)
    try:
        found = json.loads(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "")
    except ValueError:
        found = None
    if done.returncode != 0 or not isinstance(found, dict):
        return {"not_run": f"bench/fuzz_api.py failed (exit {done.returncode}): "
                           f"{done.stderr.strip()[-300:]}"}
    return {key: found.get(key) for key in ("fuzz_cases", "fuzz_5xx", "fuzz_hangs")}


# ------------------------------------------------------------------------------ load

LOAD_SCRIPT = """
math.randomseed(os.time())
local n = %d
request = function()
  local r = math.random()
  local i = math.random(0, n - 1)
  if r < 0.85 then
    return wrk.format("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:Meter:load-" .. i)
  elseif r < 0.95 then
    return wrk.format("GET", "/ngsi-ld/v1/entities?type=Meter&limit=20&q=reading%%3D%%3D" .. i * 10)
  end
  local batch = {}
  for k = 0, 4 do
    local id = "urn:ngsi-ld:Meter:load-" .. ((i + k) %% n)
    local v = math.random(0, 1000000)
    batch[#batch + 1] = string.format(
      '{"id":"%%s","type":"Meter","seq":{"type":"Property","value":%%d},'
      .. '"reading":{"type":"Property","value":%%d},'
      .. '"status":{"type":"Property","value":"v%%d"}}', id, v, v * 10, v)
  end
  return wrk.format("POST", "/ngsi-ld/v1/entityOperations/upsert",
                    {["Content-Type"] = "application/json"}, "[" .. table.concat(batch, ",") .. "]")
end
"""


def rss_mb(pid: int) -> dict[str, float]:
    """The process's resident memory in MiB: total, anonymous (the Python heap, SQLite's page
    cache) and file-backed (SQLite's memory-mapped database file, shared libraries)."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            found[key] = round(int(value.split()[0]) / 1024, 1)
    return {"rss": found["VmRSS"], "anon": found["RssAnon"], "file": found["RssFile"]}


def load_figures(tmp: Path, duration: int, entities: int) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        return {"not_run": "wrk is not installed (apt-get install wrk)"}
    hub = HubProcess(f"sqlite:///{tmp / 'load.db'}").start()
    assert hub.process is not None
    pid = hub.process.pid
    script = tmp / "load.lua"
    script.write_text(LOAD_SCRIPT % entities)
    try:
        with httpx.Client(base_url=hub.url + NGSI_LD, timeout=60) as http:
            for start in range(0, entities, 1000):
                batch = [version(f"urn:ngsi-ld:Meter:load-{i}", i)
                         for i in range(start, min(start + 1000, entities))]
                answer = http.post("/entityOperations/upsert", json=batch)
                assert answer.status_code in (201, 204), answer.text
        warm_up = max(5, min(30, duration // 10))
        bench_broker.wrk(hub.url + "/", warm_up, str(script))
        samples: list[tuple[float, float, float]] = []
        stop = threading.Event()
        started = time.monotonic()

        def sample() -> None:
            while not stop.wait(max(1.0, duration / 30)):
                rss = rss_mb(pid)
                samples.append((round(time.monotonic() - started), rss["rss"], rss["anon"]))

        rss_start = rss_mb(pid)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        result = bench_broker.wrk(hub.url + "/", duration, str(script))
        stop.set()
        sampler.join()
        rss_end = rss_mb(pid)
        middle = samples[len(samples) // 2] if samples else (0, rss_end["rss"], rss_end["anon"])
    finally:
        hub.stop()
    return {
        "duration_s": duration, "warm_up_s": warm_up, "connections": 64,
        "mix": "85% GET /entities/{id}, 10% q equality query limit 20, 5% batch upsert of 5",
        "entities_in_store": entities,
        "requests_per_s": result["requests_per_s"], "p99_ms": result["p99_ms"],
        "errors": result["errors"],
        "rss_start_mb": rss_start["rss"], "rss_end_mb": rss_end["rss"],
        "rss_drift_mb": round(rss_end["rss"] - rss_start["rss"], 1),
        "rss_anon_start_mb": rss_start["anon"], "rss_anon_end_mb": rss_end["anon"],
        "rss_file_start_mb": rss_start["file"], "rss_file_end_mb": rss_end["file"],
        "rss_max_mb": max([rss_end["rss"], *(mb for _, mb, _ in samples)]),
        # SQLite's page caches fill first; a leak would go on growing in the second half
        "rss_second_half_drift_mb": round(rss_end["rss"] - middle[1], 1),
        "rss_anon_second_half_drift_mb": round(rss_end["anon"] - middle[2], 1),
        "rss_samples_s_total_anon_mb": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=300)
    parser.add_argument("--writes", type=int, default=400,
                        help="entity versions acknowledged between two faults")
    parser.add_argument("--load-entities", type=int, default=10_000)
    parser.add_argument("--postgres", default=os.environ.get(
        "CITYHUB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--skip-faults", action="store_true")
    parser.add_argument("--skip-fuzz", action="store_true")
    args = parser.parse_args()
    os.environ["CITYHUB_TEST_POSTGRES"] = args.postgres
    figures: dict[str, Any] = {"benchmark": "reliability", "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        figures["faults"] = ({"not_run": "--skip-faults"} if args.skip_faults
                             else fault_figures(tmp, args.writes, args.postgres))
        figures["fuzz"] = {"not_run": "--skip-fuzz"} if args.skip_fuzz else fuzz_figures()
        figures["load"] = load_figures(tmp, args.duration, args.load_entities)
    faults = [f for f in figures["faults"].values() if isinstance(f, dict) and "equal" in f]
    figures["all_acknowledged_found"] = None if not faults else all(
        f["equal"] and f["half_written"] == 0 for f in faults)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
