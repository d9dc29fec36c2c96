"""Dashboard benchmark (issue 5). Prints one JSON object of figures.

A hub (`cityhub serve`, its own process, no simulator) holds a synthetic city of `--size`
blocks (46: the map draws some 5,000 entities; road junctions are not drawn). Debian's
headless Chromium (Playwright) opens the dashboard:

* load: time from the navigation to the first idle map with every layer drawn
  (`window.cityhub.loadMs`, measured in the page from its navigation start), and how many
  entities the map holds then;
* live: a load generator in this process updates the sensors round-robin at `--rate` entity
  updates/s for `--duration` s, as 10 batch updates a second (`entityOperations/upsert?
  options=update`, as the simulator writes), each a change of the value the map colours the
  sensor by; the page counts the entities its live stream delivered (`window.cityhub.received`)
  until they stop arriving; long tasks of the page's main thread are recorded by a
  PerformanceObserver (`longtask`, over 50 ms by definition) during the run.

Usage: python bench/dashboard.py [--size 40] [--rate 200] [--duration 60]
Run it under `flock /tmp/cityhub-bench.lock` on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from e2e.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from e2e.cityhub_process import city_hub  # noqa: E402

CLI = str(Path(sys.executable).parent / "cityhub")
#: the attribute each sensor type is coloured by, and a value range to write into it
COLOURED = {"AirQualityObserved": ("pm25", 0, 80),
            "TrafficFlowObserved": ("averageVehicleSpeed", 0, 50),
            "OffStreetParking": ("occupancy", 0, 1),
            "Streetlight": ("powerConsumption", 0, 150),
            "WasteContainer": ("fillingLevel", 0, 1)}
#: batch updates per second the load is sent as
BATCHES_PER_S = 10
LONG_TASKS = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longTasks.push(e.duration);
}).observe({ type: "longtask", buffered: true });
"""


async def sensors(client: httpx.AsyncClient) -> list[tuple[str, str, str, float, float]]:
    out = []
    for type_, (attr, low, high) in COLOURED.items():
        for offset in range(0, 100_000, 1000):
            page = (await client.get("/ngsi-ld/v1/entities", params={
                "type": type_, "limit": 1000, "offset": offset, "pick": "id"})).json()
            out += [(e["id"], type_, attr, low, high) for e in page]
            if len(page) < 1000:
                break
    return out


async def generate_load(client: httpx.AsyncClient,
                        targets: list[tuple[str, str, str, float, float]],
                        rate: float, duration: float) -> tuple[int, int]:
    """`rate` entity updates/s as BATCHES_PER_S batch updates (like the simulator's writes);
    returns (entity updates sent, updates the hub refused)."""
    per_batch = max(1, round(rate / BATCHES_PER_S))
    started = time.monotonic()
    tasks: list[asyncio.Task[httpx.Response]] = []
    i = 0
    while time.monotonic() - started < duration:
        batch = []
        for _ in range(per_batch):
            entity_id, type_, attr, low, high = targets[i % len(targets)]
            value = round(low + (high - low) * ((i * 7919) % 1000) / 1000, 3)
            batch.append({"id": entity_id, "type": type_,
                          attr: {"type": "Property", "value": value}})
            i += 1
        tasks.append(asyncio.create_task(client.post(
            "/ngsi-ld/v1/entityOperations/upsert?options=update", json=batch)))
        await asyncio.sleep(max(0.0, len(tasks) / BATCHES_PER_S - (time.monotonic() - started)))
    await asyncio.gather(*tasks, return_exceptions=True)
    failed = sum(per_batch for t in tasks
                 if t.exception() is not None or t.result().status_code >= 300)
    return i, failed


async def run(args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="cityhub-dash-"))
    with city_hub(folder, size=args.size) as (url, entities):
        async with httpx.AsyncClient(base_url=url, timeout=30,
                                     limits=httpx.Limits(max_connections=32)) as client:
            targets = await sensors(client)
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = await browser.new_page(viewport={"width": 1440, "height": 900})
                await page.add_init_script(LONG_TASKS)
                loads = []
                for _ in range(args.loads):
                    await page.goto(url + "/")
                    await page.wait_for_selector("body[data-ready=true]", timeout=60_000)
                    loads.append(await page.evaluate("() => window.cityhub.loadMs"))
                on_map = await page.evaluate("() => window.cityhub.entities.size")
                await page.wait_for_function("() => window.cityhub.live", timeout=10_000)
                await page.evaluate("() => { window.__longTasks.length = 0; }")
                started = time.monotonic()
                sent, failed = await generate_load(client, targets, args.rate, args.duration)
                load_s = time.monotonic() - started
                received, last = -1, time.monotonic()
                while time.monotonic() - last < 3 and time.monotonic() - started < load_s + 60:
                    now = await page.evaluate("() => window.cityhub.received")
                    if now != received:
                        received, last = now, time.monotonic()
                    await asyncio.sleep(0.25)
                long_tasks = await page.evaluate("() => window.__longTasks")
                flush_max = await page.evaluate("() => window.cityhub.flushMaxMs || 0")
                await browser.close()
    return {
        "benchmark": "dashboard",
        "city_entities": entities,
        "map_entities": on_map,
        "load_to_map_ms": {"runs": [round(x) for x in loads], "best": round(min(loads)),
                           "median": round(sorted(loads)[len(loads) // 2])},
        "live": {"rate_per_s": args.rate, "duration_s": args.duration, "sensors": len(targets),
                 "sent": sent, "failed": failed, "received_in_page": received,
                 "received_ratio": round(received / sent, 4) if sent else None,
                 "sending_took_s": round(load_s, 2)},
        "long_tasks": {"count": len(long_tasks),
                       "max_ms": round(max(long_tasks), 1) if long_tasks else 0,
                       "over_200ms": sum(1 for d in long_tasks if d >= 200),
                       "live_apply_max_ms": round(flush_max, 1)},
        "browser": "Debian Chromium, headless, SwiftShader WebGL",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=46, help="synthetic city size")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--loads", type=int, default=3, help="page loads timed")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), ensure_ascii=False))


if __name__ == "__main__":
    main()
