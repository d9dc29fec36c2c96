"""The ingestion commands of `cityhub`: `cityhub import FILE --mapping M.yaml`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from cityhub.settings import Settings


def import_command(args: argparse.Namespace) -> int:
    """Import a CSV or GeoJSON file; print the counts as JSON. Exit 0 when every row was
    stored (or was a duplicate), 1 when some were rejected, 2 when nothing could start."""
    from cityhub.broker import Hub
    from cityhub.broker.entities import check_tenant
    from cityhub.ingest.files import import_file
    from cityhub.ingest.mapping import load_mapping
    from cityhub.ingest.pipeline import IngestPipeline
    from cityhub.ngsild.errors import NgsiLdError

    settings = Settings.from_env(db=args.db)
    try:
        mapping = load_mapping(args.mapping)
        tenant = None if args.tenant is None else check_tenant(
            "" if args.tenant == "default" else args.tenant)
    except (NgsiLdError, OSError) as exc:
        print(f"cityhub import: {getattr(exc, 'detail', exc)}", file=sys.stderr)
        return 2

    async def run() -> dict[str, Any]:
        hub = Hub.from_dsn(settings.db)
        await hub.start()
        try:
            pipeline = IngestPipeline.from_settings(hub, settings)
            report = await import_file(pipeline, args.file, mapping, tenant=tenant)
            return report.document()
        finally:
            await hub.stop()

    from cityhub.runtime import garbage_collector_tuned

    try:
        with garbage_collector_tuned():  # a bulk load allocates as a busy server does
            document = asyncio.run(run())
    except (NgsiLdError, OSError) as exc:
        print(f"cityhub import: {getattr(exc, 'detail', exc)}", file=sys.stderr)
        return 2
    document["errors"] = document["errors"][:args.show_errors]
    print(json.dumps(document, ensure_ascii=False))
    return 1 if document["rejected"] else 0


def add_commands(commands: Any) -> None:
    command = commands.add_parser("import", help="import a CSV or GeoJSON file as entities, "
                                  "by a YAML mapping (docs/ingest.md)")
    command.add_argument("file", help="the CSV or GeoJSON file")
    command.add_argument("--mapping", required=True, metavar="M.yaml",
                         help="the mapping of its rows to Smart Data Model entities")
    command.add_argument("--db", help="store DSN (as for serve); env CITYHUB_DB")
    command.add_argument("--tenant", help="the tenant to write into (default: the mapping's, "
                         "else the default tenant)")
    command.add_argument("--show-errors", type=int, default=20, metavar="N",
                         help="how many rejections to list in the output (default 20)")
    command.set_defaults(handler=import_command)
