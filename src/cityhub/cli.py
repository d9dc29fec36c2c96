"""The `cityhub` command."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys

from cityhub import __version__
from cityhub.runtime import tune_garbage_collector
from cityhub.settings import DEFAULT_DB, DEFAULT_PORT, Settings

log = logging.getLogger("cityhub")
#: days of history the zero-configuration demo store keeps (its simulator never stops)
DEMO_RETENTION_DAYS = 7


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bound_demo_history(settings: Settings) -> bool:
    """Give the zero-configuration demo store a retention of DEMO_RETENTION_DAYS when nothing
    else is configured: its simulator records ~0.9 million instances a day, for ever."""
    from cityhub.city.service import city_switches

    if (settings.db != DEFAULT_DB or not city_switches(settings)[1]
            or settings.retention_file is not None or settings.retention_days is not None):
        return False
    settings.retention_days = DEMO_RETENTION_DAYS
    return True


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from cityhub.api.app import create_app
    from cityhub.ngsild.errors import BadRequestData

    settings = Settings.from_env(db=args.db, host=args.host, port=args.port,
                                 retention_file=args.retention,
                                 retention_days=args.retention_days,
                                 city=args.city, simulator=args.simulator,
                                 simulator_speed=args.sim_speed,
                                 mqtt=args.mqtt, devices_file=args.devices,
                                 auth_file=args.auth, audit_file=args.audit,
                                 catalogue_file=args.catalogue,
                                 allow_open=args.allow_open or None,
                                 cors_origins=tuple(o.strip() for o in args.cors.split(",")
                                                    if o.strip()) if args.cors else None)
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.auth_file is None:
        if not _is_loopback(settings.host) and not settings.allow_open:
            log.error("refusing to listen on %s with no access control: give --auth FILE "
                      "(docs/security.md), or --allow-open to run open on purpose",
                      settings.host)
            return 2
        if not _is_loopback(settings.host):
            log.warning("--allow-open: listening on %s with no access control; anyone who "
                        "reaches it may read and write every tenant", settings.host)
        log.warning("CityHub %s: OPEN MODE - no authentication; any client on %s may read and "
                    "write every tenant", __version__, settings.host)
    else:
        log.info("access control on: auth file %s", settings.auth_file)
    log.info("store: %s", settings.db.split("@")[-1])
    from cityhub.city.service import CityOptions, CityService, with_city

    if bound_demo_history(settings):
        log.info("demo store: history older than %d days is deleted (--retention-days)",
                 DEMO_RETENTION_DAYS)
    try:
        app = create_app(settings)
    except BadRequestData as exc:  # a configuration file the hub cannot use
        log.error("%s", exc.detail)
        return 2
    city = CityOptions.from_settings(settings)
    if city.load_city or city.simulate:
        app = with_city(app, CityService(app.state.hub, city))
    tune_garbage_collector()
    # open live streams (/cityhub/v1/live) never finish by themselves: shutting down waits at
    # most 5 s for the requests in flight, then ends them
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                access_log=args.access_log, lifespan="on", timeout_graceful_shutdown=5)
    return 0


def retention(args: argparse.Namespace) -> int:
    """Apply the history retention policy once; print what was deleted as JSON."""
    import asyncio
    import json

    from cityhub.broker.retention import Retention, RetentionPolicy
    from cityhub.ngsild.errors import NgsiLdError
    from cityhub.store.base import open_store

    settings = Settings.from_env(db=args.db, retention_file=args.policy,
                                 retention_days=args.days)
    try:
        policy = RetentionPolicy.configured(settings.retention_file, settings.retention_days)
        if policy is None:
            print("cityhub retention: give --policy FILE or --days N (or CITYHUB_RETENTION_FILE "
                  "/ CITYHUB_RETENTION_DAYS)", file=sys.stderr)
            return 2

        async def apply() -> dict[str, int]:
            store = open_store(settings.db)
            await store.open()
            try:
                return (await Retention(store, policy).apply()).deleted
            finally:
                await store.close()

        deleted = asyncio.run(apply())
    except NgsiLdError as exc:
        print(f"cityhub retention: {exc.detail}", file=sys.stderr)
        return 1
    print(json.dumps({"deleted": deleted, "total": sum(deleted.values())}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cityhub", description="CityHub smart-city data hub")
    parser.add_argument("--version", action="version", version=f"cityhub {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run the hub (NGSI-LD API on /ngsi-ld/v1)")
    run.add_argument("--db", help="store DSN: sqlite:///PATH (default sqlite:///cityhub.db) "
                                  "or postgresql://USER@HOST:PORT/DB; env CITYHUB_DB")
    run.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    run.add_argument("--port", type=int, help=f"port (default {DEFAULT_PORT})")
    run.add_argument("--access-log", action="store_true", help="log every request")
    run.add_argument("--retention", metavar="FILE", help="history retention policy (JSON "
                     "or TOML; docs/operations.md); env CITYHUB_RETENTION_FILE")
    run.add_argument("--retention-days", type=float, metavar="N", help="keep N days of "
                     "history in every tenant; env CITYHUB_RETENTION_DAYS")
    run.add_argument("--city", action=argparse.BooleanOptionalAction, help="load the "
                     "default virtual city into a store that has none (default: only on the "
                     "default store); env CITYHUB_CITY")
    run.add_argument("--simulator", action=argparse.BooleanOptionalAction, help="run the "
                     "city simulator (default: as --city); env CITYHUB_SIMULATOR")
    run.add_argument("--sim-speed", type=float, metavar="X", help="simulated seconds per real "
                     "second (default 1: real time); env CITYHUB_SIMULATOR_SPEED")
    run.add_argument("--mqtt", metavar="URL", help="run the MQTT device gateway on this broker "
                     "(mqtt://HOST:PORT; off by default); env CITYHUB_MQTT")
    run.add_argument("--catalogue", metavar="FILE", help="open-data catalogue metadata (JSON, "
                     "TOML or YAML; docs/opendata.md); env CITYHUB_CATALOGUE_FILE")
    run.add_argument("--devices", metavar="FILE", help="provision the devices of this JSON file "
                     "at start (docs/ingest.md); env CITYHUB_DEVICES")
    from cityhub.security.commands import add_serve_options

    add_serve_options(run)
    run.set_defaults(handler=serve)
    purge = commands.add_parser("retention", help="delete expired history once "
                                "(the retention policy) and exit")
    purge.add_argument("--db", help="store DSN (as for serve); env CITYHUB_DB")
    purge.add_argument("--policy", metavar="FILE", help="retention policy (JSON or TOML); "
                       "env CITYHUB_RETENTION_FILE")
    purge.add_argument("--days", type=float, metavar="N", help="keep N days of history in "
                       "every tenant; env CITYHUB_RETENTION_DAYS")
    purge.set_defaults(handler=retention)
    from cityhub.city.commands import add_commands as add_city_commands

    add_city_commands(commands)
    from cityhub.ingest.commands import add_commands as add_ingest_commands

    add_ingest_commands(commands)
    from cityhub.security.commands import add_commands as add_admin_commands

    add_admin_commands(commands)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
