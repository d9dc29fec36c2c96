"""Fixtures of the ingest tests: a broker core and an ingest pipeline over each store, the
MQTT broker (Mosquitto) when reachable, and hubs with the MQTT gateway on."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from cityhub.broker import Hub
from cityhub.ingest.pipeline import IngestPipeline
from cityhub.ingest.privacy import Pseudonymiser, parse_keys
from cityhub.ingest.quality import StaleWatch

DATA = Path(__file__).parent / "data"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KEYS = "k2:second-key-0123456789,k1:first-key-0123456789"
MQTT_HOST = os.environ.get("CITYHUB_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("CITYHUB_TEST_MQTT_PORT", "1883"))


@pytest.fixture
async def hub(store: Any) -> AsyncIterator[Hub]:
    """A broker core over each store adapter in turn (the store is opened by its fixture)."""
    yield Hub(store)


@pytest.fixture
async def pipeline(hub: Hub) -> AsyncIterator[IngestPipeline]:
    """A running pipeline with a short window, known keys and fast stale detection."""
    ingest = IngestPipeline(hub, pseudonymiser=Pseudonymiser(parse_keys(KEYS)),
                            window_s=0.01, housekeeping_s=3600,
                            stale=StaleWatch(default_interval_s=0.05, intervals=2))
    await ingest.start()
    try:
        yield ingest
    finally:
        await ingest.stop()


def mqtt_problem() -> str | None:
    try:
        with socket.create_connection((MQTT_HOST, MQTT_PORT), timeout=2):
            return None
    except OSError as exc:
        return f"cannot connect to {MQTT_HOST}:{MQTT_PORT} ({exc})"


@pytest.fixture
def mqtt_url() -> Iterator[str]:
    """mqtt://host:port of the test broker; skips (fails under CI) when it is unreachable."""
    from conftest import require_service

    problem = mqtt_problem()
    if problem is not None:
        require_service("MQTT broker (Mosquitto)", problem)
    yield f"mqtt://{MQTT_HOST}:{MQTT_PORT}"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
