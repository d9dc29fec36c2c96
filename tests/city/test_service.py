"""The virtual city inside `cityhub serve`: loaded once into an empty store, then simulated."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from cityhub.city.service import CityOptions, CityService, with_city
from cityhub.city.virtual import stored_city

pytestmark = pytest.mark.anyio


async def _attr(hub: Any, tenant: str, entity_id: str, name: str) -> Any:
    stored = await hub.entities.retrieve(tenant, entity_id)
    for iri, instances in stored.entity["attrs"].items():
        if iri.rsplit("/", 1)[-1] == name:
            return instances[0]
    return None


async def test_the_default_city_is_loaded_and_simulated(hub: Any) -> None:
    service = CityService(hub, CityOptions(tenant="serve", speed=1000, step_s=10))
    service.start()
    try:
        await asyncio.wait_for(service.ready.wait(), 30)
        assert service.city is not None
        city = await stored_city(hub, "serve")
        assert city is not None and city["id"] == "urn:ngsi-ld:City:helsinki"
        aq = next(a for a in service.city.assets if a.type == "AirQualityObserved")
        deadline = time.monotonic() + 30
        while (pm25 := await _attr(hub, "serve", aq.entity_id, "pm25")) is None \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert pm25 is not None and pm25["unitCode"] == "GQ" and "observedAt" in pm25
        # static attributes survive the simulator's merges
        assert (await _attr(hub, "serve", aq.entity_id, "dataProvider"))["value"] == \
            "CityHub virtual city (synthetic)"
    finally:
        await service.stop()


async def test_a_store_with_a_city_is_not_loaded_again(hub: Any) -> None:
    first = CityService(hub, CityOptions(tenant="again", simulate=False))
    first.start()
    await asyncio.wait_for(first.ready.wait(), 30)
    await first.stop()
    before = await hub.entities.retrieve("again", "urn:ngsi-ld:City:helsinki")
    second = CityService(hub, CityOptions(tenant="again", simulate=False))
    second.start()
    await asyncio.wait_for(second.ready.wait(), 30)
    await second.stop()
    after = await hub.entities.retrieve("again", "urn:ngsi-ld:City:helsinki")
    assert after.version == before.version
    assert second.city is not None  # rebuilt from the stored recipe, for the simulator
    assert [a.entity_id for a in second.city.assets] == [a.entity_id for a in first.city.assets]


async def test_no_city_leaves_an_empty_store_empty(hub: Any) -> None:
    service = CityService(hub, CityOptions(tenant="empty", load_city=False))
    service.start()
    await asyncio.wait_for(service.ready.wait(), 30)
    await service.stop()
    assert service.city is None and await stored_city(hub, "empty") is None


async def test_the_lifespan_wrapper_starts_after_startup_and_stops_before_shutdown() -> None:
    events: list[str] = []

    class Service:
        def start(self) -> None:
            events.append("service started")

        async def stop(self) -> None:
            events.append("service stopped")

    async def app(scope: dict, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "lifespan.startup"
        events.append("app started")
        await send({"type": "lifespan.startup.complete"})
        assert (await receive())["type"] == "lifespan.shutdown"
        events.append("app stopping")
        await send({"type": "lifespan.shutdown.complete"})

    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive() -> dict:
        return inbox.pop(0)

    async def send(message: dict) -> None:
        events.append(message["type"])

    await with_city(app, Service())({"type": "lifespan"}, receive, send)  # type: ignore[arg-type]
    assert events == ["app started", "service started", "lifespan.startup.complete",
                      "service stopped", "app stopping", "lifespan.shutdown.complete"]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(tmp_path: Any, *args: str) -> tuple[Any, str]:
    import os
    import subprocess
    import sys
    import time

    import httpx

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
    env["CITYHUB_PORT"] = str(port)
    process = subprocess.Popen([sys.executable, "-m", "cityhub.cli", "serve", *args],
                               cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60  # generous: the machine may be busy
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/version", timeout=2).raise_for_status()
            return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    process.terminate()
    raise AssertionError("the hub did not start")


def _poll_city(url: str, seconds: float) -> list:
    import time

    import httpx

    deadline = time.monotonic() + seconds
    while True:
        found = httpx.get(url + "/ngsi-ld/v1/entities", params={"type": "City"},
                          timeout=30).json()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_the_demo_store_gets_the_city_and_a_named_store_only_when_asked() -> None:
    from cityhub.city.service import city_switches
    from cityhub.settings import Settings

    assert city_switches(Settings()) == (True, True)  # `cityhub serve`, no arguments
    assert city_switches(Settings(simulator=False)) == (True, False)
    named = "sqlite:///var/lib/cityhub/hub.db"
    assert city_switches(Settings(db=named)) == (False, False)
    assert city_switches(Settings(db=named, city=True)) == (True, True)
    assert city_switches(Settings(db=named, simulator=True)) == (False, True)


def test_serve_loads_and_simulates_a_living_city(tmp_path: Any) -> None:
    import httpx

    process, url = _serve(tmp_path, "--db", f"sqlite:///{tmp_path}/hub.db", "--city")
    try:
        assert _poll_city(url, 60)[0]["id"] == "urn:ngsi-ld:City:helsinki"
        readings: list = []
        for _ in range(300):
            readings = httpx.get(url + "/ngsi-ld/v1/entities", params={
                "type": "AirQualityObserved", "q": "pm25>0", "scopeQ": "/simulated"},
                timeout=30).json()
            if readings:
                break
            time.sleep(0.05)
        assert readings  # the simulator's first readings follow the city at once
    finally:
        process.terminate()
        process.wait(10)


def test_serve_on_an_explicit_store_adds_no_simulated_data(tmp_path: Any) -> None:
    process, url = _serve(tmp_path, "--db", f"sqlite:///{tmp_path}/explicit.db")
    try:
        assert _poll_city(url, 1.5) == []
    finally:
        process.terminate()
        process.wait(10)
