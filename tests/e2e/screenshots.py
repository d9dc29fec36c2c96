"""Screenshots of the dashboard's main views for docs/screenshots/ (not a test).

    python tests/e2e/screenshots.py http://127.0.0.1:1026 docs/screenshots

Run it against `cityhub serve` (the default city, with its simulator) in Debian's Chromium.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from e2e.chromium import CHROMIUM, CHROMIUM_ARGS


def main(url: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900}, base_url=url)
        page.goto("/")
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=out / "map.png")
        sensor = page.evaluate("""() => [...window.cityhub.entities.values()]
            .find((e) => e.type === 'AirQualityObserved').id""")
        page.evaluate("(id) => window.cityhub.select(id)", sensor)
        page.wait_for_selector("#panel .chart svg, #panel .chart p", timeout=10_000)
        page.wait_for_timeout(500)
        page.screenshot(path=out / "entity-panel.png")
        page.keyboard.press("Escape")
        page.locator("#views button[data-view=districts]").click()
        page.wait_for_timeout(800)
        page.screenshot(path=out / "districts.png")
        page.locator("#views button[data-view=catalogue]").click()
        page.wait_for_selector("tr[data-type]")
        page.locator("tr[data-type=AirQualityObserved] summary").click()
        page.wait_for_timeout(500)
        page.screenshot(path=out / "catalogue.png")
        page.locator("#views button[data-view=map]").click()
        page.locator("#lang").click()
        page.wait_for_timeout(800)
        page.screenshot(path=out / "map-ko.png")
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
