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
    #: notifications: first retry delay, longest retry delay, when to give one up, and how
    #: long one attempt may take, in seconds (broker.delivery.DeliveryOptions)
    notify_retry_base_s: float = 0.5
    notify_retry_max_s: float = 60.0
    notify_max_age_s: float = 24 * 3600.0
    notify_timeout_s: float = 10.0
    #: history retention: a policy file (JSON or TOML, broker.retention) and/or a number of
    #: days of history every tenant keeps (None: kept for ever)
    retention_file: str | None = None
    retention_days: float | None = None
    #: ingestion (cityhub.ingest): the MQTT broker of the device gateway (None: no gateway),
    #: its persistent client id, a device provisioning file loaded at start, the pseudonym
    #: keys ("KEYID:SECRET,..."; the first makes new pseudonyms), the batching window (s),
    #: the decimals personal positions keep, the k of the public views, and stale-sensor
    #: detection (intervals of silence; the interval of devices that state none, s)
    mqtt: str | None = None
    mqtt_client_id: str = "cityhub-ingest"
    #: tenants whose device topics the gateway subscribes to (empty: every tenant's)
    mqtt_tenants: tuple[str, ...] = ()
    devices_file: str | None = None
    pseudonym_keys: str | None = None
    ingest_window_s: float = 0.05
    location_decimals: int = 3
    public_k: int = 5
    stale_intervals: int = 3
    stale_default_interval_s: float = 60.0
    #: the virtual city of `cityhub serve` (cityhub.city): load the default city when the
    #: store has none, run the simulator (None: only on the default embedded store, the
    #: demo; an explicitly configured store gets no simulated data unless asked), and the
    #: simulator's speed (simulated seconds per real second) and step (simulated seconds
    #: between two readings of a device)
    city: bool | None = None
    simulator: bool | None = None
    simulator_speed: float = 1.0
    simulator_step_s: float = 60.0
    #: where the simulator appends the ground truth of the faults it injects (JSON Lines)
    simulator_faults: str | None = None
    #: access control (cityhub.security, docs/security.md): the auth file (tenants, roles,
    #: hashed API keys, JWT keys; None: open mode), the append-only audit log (JSON Lines;
    #: None: next to the auth file), the largest query string accepted (bytes; larger: 414),
    #: CORS origins allowed ("*" or a list; empty: no CORS headers), and whether a
    #: non-loopback address may be served with no auth file
    auth_file: str | None = None
    audit_file: str | None = None
    max_query_bytes: int = 16 * 1024
    cors_origins: tuple[str, ...] = ()
    allow_open: bool = False
    #: open data (cityhub.opendata, docs/opendata.md): the catalogue file (JSON, TOML or
    #: YAML: catalogue title, publisher, dataset metadata; None: defaults)
    catalogue_file: str | None = None
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
        if "CITYHUB_RETENTION_FILE" in env:
            settings.retention_file = env["CITYHUB_RETENTION_FILE"]
        if "CITYHUB_RETENTION_DAYS" in env:
            settings.retention_days = float(env["CITYHUB_RETENTION_DAYS"])
        for name, variable in (("mqtt", "CITYHUB_MQTT"),
                               ("mqtt_client_id", "CITYHUB_MQTT_CLIENT_ID"),
                               ("devices_file", "CITYHUB_DEVICES"),
                               ("pseudonym_keys", "CITYHUB_PSEUDONYM_KEYS"),
                               ("simulator_faults", "CITYHUB_SIMULATOR_FAULTS")):
            if variable in env:
                setattr(settings, name, env[variable])
        if "CITYHUB_MQTT_TENANTS" in env:
            settings.mqtt_tenants = tuple(
                t.strip() for t in env["CITYHUB_MQTT_TENANTS"].split(",") if t.strip())
        if "CITYHUB_PUBLIC_K" in env:
            settings.public_k = int(env["CITYHUB_PUBLIC_K"])
        for name, variable in (("notify_retry_base_s", "CITYHUB_NOTIFY_RETRY_BASE"),
                               ("notify_retry_max_s", "CITYHUB_NOTIFY_RETRY_MAX"),
                               ("notify_max_age_s", "CITYHUB_NOTIFY_MAX_AGE"),
                               ("notify_timeout_s", "CITYHUB_NOTIFY_TIMEOUT"),
                               ("simulator_speed", "CITYHUB_SIMULATOR_SPEED"),
                               ("simulator_step_s", "CITYHUB_SIMULATOR_STEP")):
            if variable in env:
                setattr(settings, name, float(env[variable]))
        for name, variable in (("city", "CITYHUB_CITY"), ("simulator", "CITYHUB_SIMULATOR")):
            if variable in env:
                setattr(settings, name, env[variable].strip().lower() not in ("0", "false",
                                                                              "no", "off"))
        for name, variable in (("auth_file", "CITYHUB_AUTH_FILE"),
                               ("audit_file", "CITYHUB_AUDIT_FILE"),
                               ("catalogue_file", "CITYHUB_CATALOGUE_FILE")):
            if variable in env:
                setattr(settings, name, env[variable])
        if "CITYHUB_MAX_QUERY_BYTES" in env:
            settings.max_query_bytes = int(env["CITYHUB_MAX_QUERY_BYTES"])
        if "CITYHUB_CORS_ORIGINS" in env:
            settings.cors_origins = tuple(
                o.strip() for o in env["CITYHUB_CORS_ORIGINS"].split(",") if o.strip())
        if "CITYHUB_ALLOW_OPEN" in env:
            settings.allow_open = env["CITYHUB_ALLOW_OPEN"].strip().lower() in ("1", "true",
                                                                               "yes", "on")
        for name, value in overrides.items():
            if value is not None:
                setattr(settings, name, value)
        return settings
