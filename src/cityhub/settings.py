"""Configuration of a hub, from command-line options and CITYHUB_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_DB = "sqlite:///cityhub.db"
DEFAULT_PORT = 1026


@dataclass(slots=True)
class Settings:
    #: the store: sqlite:///PATH (embedded default) or postgresql://USER@HOST:PORT/DB
    db: str = DEFAULT_DB
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    #: largest request body accepted, in bytes (larger: 413)
    max_body_bytes: int = 8 * 1024 * 1024
    #: seconds to wait for a remote JSON-LD @context before answering 503
    context_fetch_timeout: float = 5.0
    #: URL prefixes remote @contexts may be fetched from (None: any http(s) URL; empty: none)
    context_allow: tuple[str, ...] | None = None
    #: the hub's public base URL, for the URLs of hosted @contexts (None: from the request)
    public_url: str | None = None
    log_level: str = "info"
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        settings = cls()
        env = os.environ
        if "CITYHUB_DB" in env:
            settings.db = env["CITYHUB_DB"]
        if "CITYHUB_HOST" in env:
            settings.host = env["CITYHUB_HOST"]
        if "CITYHUB_PORT" in env:
            settings.port = int(env["CITYHUB_PORT"])
        if "CITYHUB_MAX_BODY_BYTES" in env:
            settings.max_body_bytes = int(env["CITYHUB_MAX_BODY_BYTES"])
        if "CITYHUB_CONTEXT_FETCH_TIMEOUT" in env:
            settings.context_fetch_timeout = float(env["CITYHUB_CONTEXT_FETCH_TIMEOUT"])
        if "CITYHUB_CONTEXT_ALLOW" in env:
            value = env["CITYHUB_CONTEXT_ALLOW"].strip()
            settings.context_allow = None if value == "*" else tuple(
                p.strip() for p in value.split(",") if p.strip())
        if "CITYHUB_PUBLIC_URL" in env:
            settings.public_url = env["CITYHUB_PUBLIC_URL"].rstrip("/")
        if "CITYHUB_LOG_LEVEL" in env:
            settings.log_level = env["CITYHUB_LOG_LEVEL"]
        for name, value in overrides.items():
            if value is not None:
                setattr(settings, name, value)
        return settings
