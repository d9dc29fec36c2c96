"""docs/security.md cannot rot: every access-control setting, environment variable, `cityhub
admin` command and built-in role is in it."""

from __future__ import annotations

import argparse
from pathlib import Path

from cityhub.security.policy import DEFAULT_ROLES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
SETTINGS = {"auth_file": ("--auth", "CITYHUB_AUTH_FILE"),
            "audit_file": ("--audit", "CITYHUB_AUDIT_FILE"),
            "allow_open": ("--allow-open", "CITYHUB_ALLOW_OPEN"),
            "cors_origins": ("--cors", "CITYHUB_CORS_ORIGINS"),
            "max_query_bytes": ("CITYHUB_MAX_QUERY_BYTES",)}


def test_every_setting_is_documented() -> None:
    from cityhub.settings import Settings

    fields = set(Settings.__dataclass_fields__)
    assert set(SETTINGS) <= fields
    for names in SETTINGS.values():
        for name in names:
            assert f"`{name}" in DOC, name


def test_every_admin_command_is_documented() -> None:
    from cityhub.security.commands import add_commands

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    admin = parser._subparsers._group_actions[0].choices["admin"]  # type: ignore[union-attr]
    kinds = admin._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for kind, sub in kinds.items():
        for verb in sub._subparsers._group_actions[0].choices:  # type: ignore[union-attr]
            assert f"cityhub admin --auth auth.json {kind} {verb}" in DOC, (kind, verb)


def test_every_built_in_role_is_documented() -> None:
    for role in DEFAULT_ROLES:
        assert f"| {role} " in DOC, role
