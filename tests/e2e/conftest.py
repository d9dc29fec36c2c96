"""The dashboard in a real browser: a hub on a free port over a small synthetic city, and
Debian's Chromium driven by Playwright (never a browser Playwright downloads).

Skipped with a reason when Chromium or Playwright is missing; a failure under
CITYHUB_REQUIRE_SERVICES=1 (`.ci/run` installs both).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import require_service
from e2e.chromium import CHROMIUM, CHROMIUM_ARGS
from e2e.cityhub_process import city_hub

WEB = Path(__file__).resolve().parents[2] / "src" / "cityhub" / "web"
#: blocks per side of the test city: 6 x 6 blocks, 4 districts, about 400 entities
CITY_SIZE = 6


@pytest.fixture(scope="session")
def hub_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with city_hub(tmp_path_factory.mktemp("e2e"), size=CITY_SIZE, seed=3) as (url, _):
        yield url


# module scope: Playwright's sync API holds an event loop while it runs, which the asyncio tests
# after this package must not find still running
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_service("Playwright", "pip install playwright (the test extras)")
    if not os.access(CHROMIUM, os.X_OK):
        require_service("Chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, hub_url: str) -> Iterator[Any]:
    if not (WEB / "node_modules" / "maplibre-gl" / "dist" / "maplibre-gl.mjs").is_file():
        require_service("MapLibre GL JS", "run `npm ci --prefix src/cityhub/web`")
    context = browser.new_context(viewport={"width": 1400, "height": 860}, accept_downloads=True,
                                  base_url=hub_url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/")
    page.wait_for_selector("body[data-ready=true]", timeout=15_000)
    yield page
    context.close()
    assert not errors, errors
