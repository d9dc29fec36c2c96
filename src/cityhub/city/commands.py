"""`cityhub city ...`: import an OpenStreetMap extract, generate a synthetic city, simulate.

    cityhub city import FILE [--db DSN] [--tenant T] [--name NAME]
    cityhub city generate [--seed N] [--size N] [--db DSN] [--tenant T]
    cityhub city simulate [--db DSN] [--tenant T] [--speed X] [--step S] [--ticks N]
                          [--fault-rate P] [--faults FILE] [--mqtt HOST:PORT]
                          [--provisioning FILE]

Each prints one JSON object (what was written, how long it took) on standard output; an error
is one line on standard error and a non-zero exit code, and writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from cityhub.ngsild.errors import NgsiLdError


def add_commands(commands: Any) -> None:
    """Add the `city` command and its sub-commands to the `cityhub` parser's sub-parsers."""
    city = commands.add_parser("city", help="the city model and the virtual city")
    sub = city.add_subparsers(dest="city_command", required=True)

    imp = sub.add_parser("import", help="import an OpenStreetMap extract (.osm.pbf or .osm)")
    imp.add_argument("file", help="the extract")
    imp.add_argument("--name", help="the city's name (default: from the file name)")
    _common(imp)
    imp.set_defaults(handler=_import)

    gen = sub.add_parser("generate", help="write a synthetic city (deterministic by seed)")
    gen.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    gen.add_argument("--size", type=int, default=12,
                     help="blocks per side of the road grid (default 12, about 3 km)")
    _common(gen)
    gen.set_defaults(handler=_generate)

    sim = sub.add_parser("simulate", help="run the simulator on the tenant's city")
    _common(sim)
    sim.add_argument("--speed", type=float, default=1.0,
                     help="simulated seconds per real second (default 1; 0: as fast as "
                          "possible)")
    sim.add_argument("--step", type=float, default=60.0,
                     help="simulated seconds between two readings of a device (default 60)")
    sim.add_argument("--ticks", type=int, help="stop after this many steps (default: never)")
    sim.add_argument("--start", help="simulated start time, ISO 8601 (default: now)")
    sim.add_argument("--fault-rate", type=float, default=0.0005,
                     help="chance per device and step that a fault starts (default 0.0005)")
    sim.add_argument("--faults", help="append the injected faults (ground truth) to this "
                                      "JSON Lines file")
    sim.add_argument("--mqtt", metavar="HOST:PORT",
                     help="publish over MQTT like real devices instead of writing in-process")
    sim.add_argument("--provisioning", help="write the device provisioning file (JSON) here")
    sim.set_defaults(handler=_simulate)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="store DSN (default: CITYHUB_DB or sqlite:///cityhub.db)")
    parser.add_argument("--tenant", default="", help="NGSI-LD tenant (default: the default one)")
    parser.add_argument("--seed-assets", type=int, default=1, dest="asset_seed",
                        help="seed of the asset placement (default 1)")


def _run(args: argparse.Namespace, work: Any) -> int:
    from cityhub.broker.entities import check_tenant

    try:
        check_tenant(args.tenant)
        report = asyncio.run(work)
    except KeyboardInterrupt:  # the way to stop `simulate` without --ticks
        return 130
    except NgsiLdError as exc:
        print(f"cityhub city {args.city_command}: error: {exc.detail}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"cityhub city {args.city_command}: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # e.g. a store that cannot be opened: one line, not a traceback
        print(f"cityhub city {args.city_command}: error: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2))
    return 0


def _dsn(args: argparse.Namespace) -> str:
    from cityhub.settings import Settings

    return Settings.from_env(db=args.db).db


async def _write(args: argparse.Namespace, city: Any, parse_s: float) -> dict[str, Any]:
    from cityhub.broker import Hub
    from cityhub.city.virtual import write_city

    hub = Hub.from_dsn(_dsn(args))
    await hub.start()
    try:
        summary = await write_city(hub, city, args.tenant)
    finally:
        await hub.stop()
    return {"city": summary.city_id, "name": city.model.name, "origin": city.model.origin,
            "entities": summary.total, "counts": summary.counts,
            "skipped": len(summary.skipped),
            "skippedExamples": [f"{i}: {why}" for i, why in summary.skipped[:5]],
            "derivedDistricts": any(d.derived for d in city.model.districts),
            "readSeconds": round(parse_s, 3), "writeSeconds": round(summary.seconds, 3)}


def _import(args: argparse.Namespace) -> int:
    from cityhub.city.virtual import import_city

    async def work() -> dict[str, Any]:
        began = time.perf_counter()
        city = import_city(args.file, name=args.name, asset_seed=args.asset_seed)
        return await _write(args, city, time.perf_counter() - began)

    return _run(args, work())


def _generate(args: argparse.Namespace) -> int:
    from cityhub.city.virtual import synthetic_city

    async def work() -> dict[str, Any]:
        began = time.perf_counter()
        city = synthetic_city(args.seed, args.size, asset_seed=args.asset_seed)
        return await _write(args, city, time.perf_counter() - began)

    return _run(args, work())


def _simulate(args: argparse.Namespace) -> int:
    return _run(args, _simulation(args))


async def _simulation(args: argparse.Namespace) -> dict[str, Any]:
    from datetime import datetime

    from cityhub.broker import Hub
    from cityhub.city.publish import FaultLog, HubSink, MqttSink, provisioning, run_simulation
    from cityhub.city.simulator import CitySimulator
    from cityhub.city.virtual import default_city, rebuild, recipe_of, stored_city, write_city
    from cityhub.ngsild.entity import parse_datetime

    hub = Hub.from_dsn(_dsn(args))
    await hub.start()
    try:
        stored = await stored_city(hub, args.tenant)
        city = rebuild(recipe_of(stored)) if stored is not None else None
        if stored is not None and city is None:
            raise ValueError(f"the store holds city {stored['id']}, which cannot be rebuilt "
                             "here (was its extract moved?)")
        if city is None:
            city = default_city()
            if not args.mqtt:
                await write_city(hub, city, args.tenant)
        start: datetime | None = parse_datetime(args.start, "--start") if args.start else None
        simulator = CitySimulator(city.assets, seed=args.asset_seed, start=start,
                                  step_s=args.step, fault_rate=args.fault_rate,
                                  utc_offset_h=city.utc_offset_h)
        if args.provisioning:
            Path(args.provisioning).write_text(json.dumps(provisioning(city.assets, args.tenant),
                                                          indent=1))
        mqtt = None
        try:
            if args.mqtt:
                host, _, port = args.mqtt.rpartition(":")
                mqtt = MqttSink(host or "127.0.0.1", int(port or 1883), args.tenant)
                sink: Any = mqtt
            else:
                sink = HubSink(hub, city.assets, args.tenant)
            began = time.perf_counter()
            ticks = await run_simulation(simulator, sink, speed=args.speed, ticks=args.ticks,
                                         on_fault=FaultLog(args.faults))
        finally:
            if mqtt is not None:
                mqtt.close()
    finally:
        await hub.stop()
    return {"city": city.id, "devices": len(simulator.devices), "ticks": ticks,
            "faults": len(simulator.faults), "seconds": round(time.perf_counter() - began, 3)}
