"""The virtual city inside `cityhub serve`: load the default city, run the simulator.

`CityService` runs as a background task of the server (the API answers at once; the city
appears a second or two later): it writes the default city unless the tenant already holds a
`City`, then steps the simulator into the broker core until the server stops. `with_city`
wraps the ASGI app so the service starts after the hub's own start-up and stops before its
shutdown, without the app knowing about it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cityhub.city.publish import FaultLog, HubSink, run_simulation
from cityhub.city.simulator import CitySimulator
from cityhub.city.virtual import (
    VirtualCity,
    default_city,
    rebuild,
    recipe_of,
    stored_city,
    write_city,
)
from cityhub.ngsild.errors import NgsiLdError
from cityhub.settings import DEFAULT_DB, Settings

if TYPE_CHECKING:
    from cityhub.broker import Hub

log = logging.getLogger("cityhub.city")


def city_switches(settings: Settings) -> tuple[bool, bool]:
    """(load the default city, run the simulator) for `cityhub serve` with `settings`: both on
    for the zero-configuration demo (the default embedded store), both off on a store the
    operator named, unless asked for; the simulator follows the city unless set itself."""
    demo = settings.db == DEFAULT_DB
    load_city = demo if settings.city is None else settings.city
    simulate = load_city if settings.simulator is None else settings.simulator
    return load_city, simulate


@dataclass(slots=True)
class CityOptions:
    load_city: bool = True
    simulate: bool = True
    tenant: str = ""
    #: simulated seconds per real second (1: real time)
    speed: float = 1.0
    #: simulated seconds between two readings of a device
    step_s: float = 60.0
    seed: int = 1
    fault_rate: float = 0.0005
    #: the JSON Lines file of injected faults (None: they are only logged)
    faults_file: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> CityOptions:
        load_city, simulate = city_switches(settings)
        return cls(load_city=load_city, simulate=simulate, speed=settings.simulator_speed,
                   step_s=settings.simulator_step_s, faults_file=settings.simulator_faults)


class CityService:
    def __init__(self, hub: Hub, options: CityOptions) -> None:
        self.hub = hub
        self.options = options
        self.city: VirtualCity | None = None
        self.simulator: CitySimulator | None = None
        self.ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="cityhub-city")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 10)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()

    async def _run(self) -> None:
        try:
            self.city = await self._city()
        except NgsiLdError as exc:
            log.error("virtual city not loaded: %s", exc.detail)
        except Exception:
            log.exception("virtual city not loaded")
        finally:
            self.ready.set()
        if self.city is None or not self.options.simulate or self._stop.is_set():
            return
        self.simulator = CitySimulator(self.city.assets, seed=self.options.seed,
                                       step_s=self.options.step_s,
                                       fault_rate=self.options.fault_rate,
                                       utc_offset_h=self.city.utc_offset_h)
        log.info("simulator: %d devices, a reading each %g s of simulated time, speed x%g",
                 len(self.simulator.devices), self.options.step_s, self.options.speed)
        try:
            await run_simulation(self.simulator, HubSink(self.hub, self.city.assets,
                                                         self.options.tenant),
                                 speed=self.options.speed, stop=self._stop,
                                 on_fault=FaultLog(self.options.faults_file))
        except Exception:  # the hub keeps serving without its simulator
            log.exception("the city simulator stopped")

    async def _city(self) -> VirtualCity | None:
        tenant = self.options.tenant
        stored = await stored_city(self.hub, tenant)
        if stored is not None:
            city = rebuild(recipe_of(stored))
            if city is None:
                log.warning("the store holds city %s, which cannot be rebuilt here for the "
                            "simulator", stored["id"])
            else:
                log.info("virtual city %s already in the store", stored["id"])
            return city
        if not self.options.load_city:
            return None
        city = default_city()
        summary = await write_city(self.hub, city, tenant)
        log.info("virtual city %s loaded: %d entities in %.1f s (OpenStreetMap data (c) "
                 "OpenStreetMap contributors, ODbL; assets simulated)", city.id, summary.total,
                 summary.seconds)
        return city


def with_city(app: Any, service: CityService) -> Any:
    """`app` with `service` started after its lifespan start-up and stopped before its
    shutdown (plain ASGI: the lifespan messages are watched as they pass)."""

    async def wrapped(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return

        async def watch_receive() -> dict:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await service.stop()
            return message

        async def watch_send(message: dict) -> None:
            if message["type"] == "lifespan.startup.complete":
                service.start()
            await send(message)

        await app(scope, watch_receive, watch_send)

    return wrapped

