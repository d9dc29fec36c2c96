"""The access-control commands of `cityhub`: `cityhub admin tenant|role|key ...`, editing the
auth file (`--auth FILE` or CITYHUB_AUTH_FILE). A running hub picks the changes up within a
second. A new API key is printed once; only its hash is kept."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from cityhub.ngsild.errors import NgsiLdError
from cityhub.security.config import add_key, read_document, tenant_key, write_document
from cityhub.security.policy import ALL, DEFAULT_ROLES, DEFAULT_TENANT_NAME, OPERATIONS


def _list(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def _tenant(name: str) -> str:
    from cityhub.broker.entities import check_tenant

    if name in (DEFAULT_TENANT_NAME, ALL):
        return name
    return tenant_key(check_tenant(name))


def admin(args: argparse.Namespace) -> int:
    path = args.auth or os.environ.get("CITYHUB_AUTH_FILE")
    if not path:
        print("cityhub admin: give --auth FILE (or CITYHUB_AUTH_FILE)", file=sys.stderr)
        return 2
    try:
        doc = read_document(path)
        shown: Any = None
        what, verb = args.what, args.verb
        if what == "tenant" and verb == "add":
            doc.setdefault("tenants", {})[_tenant(args.name)] = {
                "open_data": _list(args.open_data)}
        elif what == "tenant":
            shown = doc.get("tenants", {})
        elif what == "role" and verb == "add":
            doc.setdefault("roles", {})[args.name] = {
                "read": _list(args.read), "write": _list(args.write),
                "subscribe": _list(args.subscribe), "personal": args.personal,
                "admin": args.admin}
        elif what == "role":
            shown = {name: {op: getattr(role, op).names() for op in OPERATIONS}
                     | {"personal": role.personal, "admin": role.admin}
                     for name, role in DEFAULT_ROLES.items()} | doc.get("roles", {})
        elif what == "key" and verb == "add":
            roles = set(DEFAULT_ROLES) | set(doc.get("roles", {}))
            if args.role not in roles:
                print(f"cityhub admin: unknown role {args.role!r}", file=sys.stderr)
                return 2
            shown = {"id": args.name, "key": add_key(
                doc, args.name, args.role, [_tenant(t) for t in args.tenant], args.rate)}
        elif what == "key" and verb == "revoke":
            before = len(doc.get("keys", []))
            doc["keys"] = [k for k in doc.get("keys", []) if k["id"] != args.name]
            if len(doc["keys"]) == before:
                print(f"cityhub admin: no key {args.name!r}", file=sys.stderr)
                return 1
        else:
            shown = [{k: v for k, v in key.items() if k != "sha256"}
                     for key in doc.get("keys", [])]
        if verb in ("add", "revoke"):
            write_document(path, doc)
    except NgsiLdError as exc:
        print(f"cityhub admin: {exc.detail}", file=sys.stderr)
        return 2
    except (OSError, ValueError, KeyError) as exc:
        print(f"cityhub admin: cannot use {path}: {exc}", file=sys.stderr)
        return 2
    if shown is not None:
        print(json.dumps(shown, indent=2, sort_keys=True))
    return 0


#: the access-control options of `cityhub serve` (docs/security.md)
SERVE_OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--auth", {"metavar": "FILE", "help": "enforce access control with this auth file "
                "(docs/security.md); env CITYHUB_AUTH_FILE"}),
    ("--audit", {"metavar": "FILE", "help": "the audit log (JSON Lines; default next to the "
                 "auth file); env CITYHUB_AUDIT_FILE"}),
    ("--allow-open", {"action": "store_true", "help": "serve a non-loopback address with no "
                      "auth file (open to anyone); env CITYHUB_ALLOW_OPEN"}),
    ("--cors", {"metavar": "ORIGINS", "help": "CORS: allowed origins, comma-separated, or "
                "'*'; env CITYHUB_CORS_ORIGINS"}),
)


def add_serve_options(run: argparse.ArgumentParser) -> None:
    for flag, options in SERVE_OPTIONS:
        run.add_argument(flag, **options)


def add_commands(commands: Any) -> None:
    parser = commands.add_parser("admin", help="manage tenants, roles and API keys "
                                 "(the auth file; docs/security.md)")
    parser.add_argument("--auth", metavar="FILE", help="the auth file (created when missing); "
                        "env CITYHUB_AUTH_FILE")
    kinds = parser.add_subparsers(dest="what", required=True)
    tenant = kinds.add_parser("tenant", help="tenants and their open-data types")
    verbs = tenant.add_subparsers(dest="verb", required=True)
    add = verbs.add_parser("add", help="add (or redefine) a tenant; @default is the default")
    add.add_argument("name")
    add.add_argument("--open-data", metavar="TYPES", help="entity types anyone may read "
                     "(comma-separated short names)")
    verbs.add_parser("list", help="print the tenants")
    role = kinds.add_parser("role", help="roles: what each may read, write, subscribe to")
    verbs = role.add_subparsers(dest="verb", required=True)
    add = verbs.add_parser("add", help="add (or redefine) a role")
    add.add_argument("name")
    for op in OPERATIONS:
        add.add_argument(f"--{op}", metavar="TYPES", help=f"types it may {op}: names, '*' "
                         "(every type) or 'open' (the tenant's open data)")
    add.add_argument("--personal", action="store_true", help="sees personal attributes")
    add.add_argument("--admin", action="store_true", help="reads its tenants' audit log")
    verbs.add_parser("list", help="print the roles (built-in and the file's)")
    key = kinds.add_parser("key", help="API keys")
    verbs = key.add_subparsers(dest="verb", required=True)
    add = verbs.add_parser("add", help="make a key (printed once, stored hashed)")
    add.add_argument("name", help="the key's id (what the audit log names)")
    add.add_argument("--role", required=True)
    add.add_argument("--tenant", action="append", required=True, help="a tenant the key is "
                     "valid for (repeat; @default: the default tenant; '*': every tenant)")
    add.add_argument("--rate", type=float, help="requests per second (default: the file's)")
    revoke = verbs.add_parser("revoke", help="delete a key")
    revoke.add_argument("name")
    verbs.add_parser("list", help="print the keys (ids, roles, tenants; never a key)")
    parser.set_defaults(handler=admin)
