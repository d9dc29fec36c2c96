"""The dashboard in Chromium: the map's rendered layers, live updates, the entity chart, the
language switch and the GeoJSON export (CityHub issue 5)."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any


def api(url: str, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def rendered(page: Any, layer: str) -> int:
    return int(page.evaluate(
        "(layer) => window.cityhub.map.queryRenderedFeatures({layers: [layer]}).length", layer))


def first_sensor(hub_url: str) -> dict[str, Any]:
    found = api(f"{hub_url}/ngsi-ld/v1/entities?type=AirQualityObserved&options=keyValues&limit=1")
    assert found, "the synthetic city has air-quality sensors"
    return dict(found[0])


def set_pm25(hub_url: str, entity_id: str, value: float) -> None:
    api(f"{hub_url}/ngsi-ld/v1/entities/{entity_id}/attrs", "POST",
        {"pm25": {"type": "Property", "value": value, "unitCode": "GQ"}})


def test_map_renders_districts_roads_and_sensors(page: Any, hub_url: str) -> None:
    districts = api(f"{hub_url}/ngsi-ld/v1/entities?type=District&options=keyValues&limit=100")
    assert rendered(page, "districts-fill") >= len(districts) > 0
    assert rendered(page, "roads") > 20
    assert rendered(page, "AirQualityObserved") > 0
    assert page.locator("input[data-layer=roads]").is_checked()
    page.locator("label:has(input[data-layer=roads])").click()
    page.wait_for_function(
        "() => window.cityhub.map.getLayoutProperty('roads', 'visibility') === 'none'")
    # queryRenderedFeatures answers from the last drawn frame: wait for the frame without roads
    page.wait_for_function(
        "() => window.cityhub.map.queryRenderedFeatures({layers: ['roads']}).length === 0",
        timeout=3000)
    assert rendered(page, "roads") == 0


def test_sensor_update_through_the_api_appears_within_2_s(page: Any, hub_url: str) -> None:
    page.wait_for_function("() => window.cityhub.live", timeout=5000)
    sensor = first_sensor(hub_url)
    started = time.monotonic()
    set_pm25(hub_url, sensor["id"], 87.5)
    page.wait_for_function(
        """(id) => window.cityhub.entities.get(id).pm25 === 87.5 &&
             window.cityhub.map.getFeatureState({source: 'sensors', id}).v === 87.5""",
        arg=sensor["id"], timeout=2000)
    assert time.monotonic() - started < 2.0
    assert page.evaluate("() => window.cityhub.received") >= 1


def test_each_sensor_layer_is_switched_on_and_off_alone(page: Any, hub_url: str) -> None:
    # the sensor types share one map source; each keeps its own layer, toggle and highlight
    others = [box.get_attribute("data-layer") for box in page.locator("li.sensor input").all()]
    others = [layer for layer in others if layer != "AirQualityObserved" and rendered(page, layer)]
    assert others, "the test city has sensors of more than one type on the map"
    page.locator("label:has(input[data-layer=AirQualityObserved])").click()
    page.wait_for_function(
        "() => window.cityhub.map.queryRenderedFeatures({layers: ['AirQualityObserved']})"
        ".length === 0", timeout=3000)
    assert all(rendered(page, layer) > 0 for layer in others)
    page.locator("label:has(input[data-layer=AirQualityObserved])").click()
    page.wait_for_function(
        "() => window.cityhub.map.queryRenderedFeatures({layers: ['AirQualityObserved']})"
        ".length > 0", timeout=3000)
    sensor = first_sensor(hub_url)
    page.evaluate("(id) => window.cityhub.select(id)", sensor["id"])
    assert page.evaluate("""(id) => {
        const map = window.cityhub.map;
        const source = map.getLayer('AirQualityObserved').source;
        return map.getFeatureState({source, id}).selected;
    }""", sensor["id"]) is True
    page.keyboard.press("Escape")


def test_clicking_a_sensor_opens_its_history_chart(page: Any, hub_url: str) -> None:
    sensor = first_sensor(hub_url)
    for value in (11.0, 14.5, 19.0):
        set_pm25(hub_url, sensor["id"], value)
    page.wait_for_function("(id) => window.cityhub.entities.get(id).pm25 === 19", arg=sensor["id"])
    # only the air-quality layer, so no other sensor at the same spot takes the click
    for box in page.locator("li.sensor input[data-layer]").all():
        if box.get_attribute("data-layer") != "AirQualityObserved" and box.is_checked():
            box.uncheck()
    lon, lat = sensor["location"]["coordinates"]
    point = page.evaluate("([lon, lat]) => window.cityhub.map.project([lon, lat])", [lon, lat])
    box = page.locator("#map canvas").bounding_box()
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    panel = page.locator("#panel")
    panel.wait_for(state="visible", timeout=3000)
    assert sensor["id"] in panel.locator(".entity-id").inner_text()
    assert panel.locator(".attr-select").input_value() in ("pm25", "pm10", "no2")
    panel.locator(".attr-select").select_option("pm25")
    page.wait_for_function(
        "() => Number(document.querySelector('#panel .chart')?.dataset.points) >= 3")
    assert panel.locator(".chart svg path.line").count() == 1
    panel.locator("[data-range='24h']").click()
    assert panel.locator("[data-range='24h']").get_attribute("aria-pressed") == "true"
    page.keyboard.press("Escape")
    panel.wait_for(state="hidden")


def test_language_switch(page: Any) -> None:
    tab = page.locator("#views button[data-view=map]")
    assert tab.inner_text() == "Live map"
    page.locator("#lang").click()
    page.wait_for_function("() => document.documentElement.lang === 'ko'")
    assert tab.inner_text() == "실시간 지도"
    assert page.locator("label:has(input[data-layer=roads])").inner_text().strip() == "도로"
    page.locator("#lang").press("Enter")  # the switch is a keyboard-usable button
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    assert tab.inner_text() == "Live map"


def test_district_choropleth_has_a_legend(page: Any) -> None:
    page.locator("#views button[data-view=districts]").click()
    page.locator("#choropleth-legend").wait_for()
    assert page.locator(".district-table tr").count() >= 1
    filled = page.evaluate("""() => {
        const ids = Object.keys(window.cityhub.districtValues);
        const map = window.cityhub.map;
        return ids.filter((id) => map.getFeatureState({source: 'districts', id}).fill).length;
    }""")
    assert filled >= 1
    page.locator("#indicator").select_option("parking")
    page.wait_for_function("() => window.cityhub.indicator === 'parking'")


def test_catalogue_exports_valid_geojson(page: Any, hub_url: str) -> None:
    page.locator("#views button[data-view=catalogue]").click()
    row = page.locator("tr[data-type=District]")
    row.wait_for()
    count = int(row.locator("td.num").inner_text().replace(",", ""))
    with page.expect_download() as info:
        row.locator("button[data-format=geojson]").click()
    download = info.value
    assert download.suggested_filename == "district.geojson"
    collection = json.loads(download.path().read_text(encoding="utf-8"))
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == count > 0
    assert all(f["type"] == "Feature" and f["geometry"]["type"] in ("Polygon", "MultiPolygon")
               for f in collection["features"])
    with page.expect_download() as info:
        row.locator("button[data-format=csv]").click()
    lines = info.value.path().read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("id,type") and len(lines) == count + 1


def test_a_map_with_every_layer_hidden_draws_nothing(page: Any) -> None:
    # a frame costs what it draws (SwiftShader here): no invisible sky quad, no background pass
    draws = page.evaluate("""async () => {
        const map = window.cityhub.map;
        for (const layer of map.getStyle().layers) {
            map.setLayoutProperty(layer.id, 'visibility', 'none');
        }
        await new Promise((resolve) => { map.once('idle', resolve); map.triggerRepaint(); });
        const gl = map.painter.context.gl;
        const drawElements = gl.drawElements;
        let calls = 0;
        gl.drawElements = (...args) => { calls += 1; return drawElements.apply(gl, args); };
        map.triggerRepaint();
        await new Promise((resolve) => map.once('render', resolve));
        gl.drawElements = drawElements;
        return calls;
    }""")
    assert draws == 0
