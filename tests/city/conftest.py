"""Fixtures of the city tests: the Helsinki extract read once, hubs over each store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cityhub.broker import Hub
from cityhub.city.model import CityModel
from cityhub.city.osm import read_osm
from cityhub.city.virtual import VirtualCity, default_city, default_extract

PAYLOADS = Path(__file__).parent / "payloads"


@pytest.fixture(scope="session")
def helsinki() -> CityModel:
    """The model of the shipped central-Helsinki extract (read once; do not modify)."""
    return read_osm(default_extract(), name="Helsinki")


@pytest.fixture(scope="session")
def helsinki_city() -> VirtualCity:
    """The default virtual city: Helsinki plus its simulated assets (do not modify)."""
    return default_city()


@pytest.fixture
async def hub(store: Any) -> AsyncIterator[Hub]:
    """A broker core over each store adapter in turn (the store is opened by its fixture)."""
    yield Hub(store)
