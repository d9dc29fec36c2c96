"""`render_entity` with the default options (its specialised code) gives exactly what the
general code gives: the same members in the same order, for every kind of attribute."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from cityhub.ngsild.context import compile_context, core_term_map
from cityhub.ngsild.entity import EntityParser
from cityhub.ngsild.render import DEFAULT_OPTIONS, RenderOptions, render_entity

NOW = "2026-12-01T00:00:00.000Z"
TERMS = core_term_map()
#: equal in effect to DEFAULT_OPTIONS (lang "*" keeps every language map), not equal to it:
#: render_entity takes its general code
GENERAL = RenderOptions(lang="*")
CITY = Path(__file__).parent.parent / "api" / "payloads" / "city.json"

EVERY_KIND: dict[str, Any] = {
    "id": "urn:ngsi-ld:Thing:every-kind",
    "type": ["AirQualityObserved", "https://example.org/Other"],
    "scope": ["/sejong/hansol", "/sejong"],
    "temperature": [
        {"type": "Property", "value": 21.5, "unitCode": "CEL",
         "observedAt": "2026-11-30T10:00:00Z", "datasetId": "urn:ngsi-ld:Dataset:a",
         "accuracy": {"type": "Property", "value": 0.5,
                      "source": {"type": "Property", "value": "lab"}}},
        {"type": "Property", "value": 21.9, "datasetId": "urn:ngsi-ld:Dataset:b"},
    ],
    "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [127.2, 36.5]}},
    "refDevice": {"type": "Relationship", "object": "urn:ngsi-ld:Device:d1",
                  "objectType": "Device"},
    "name": {"type": "LanguageProperty", "languageMap": {"en": "Lake park", "ko": "호수공원"}},
    "readings": {"type": "ListProperty", "valueList": [1, 2, 3]},
    "neighbours": {"type": "ListRelationship",
                   "objectList": ["urn:ngsi-ld:Thing:a", "urn:ngsi-ld:Thing:b"]},
    "settings": {"type": "JsonProperty", "json": {"mode": "eco", "levels": [1, None]}},
    "category": {"type": "VocabProperty", "vocab": ["Property", "https://example.org/kind"]},
    "status": {"type": "VocabProperty", "vocab": "Relationship"},
    "https://example.org/unmapped": {"type": "Property", "value": {"nested": True}},
}


def stored(payload: dict[str, Any]) -> dict[str, Any]:
    return EntityParser(TERMS, NOW).entity(payload)


def city_entities() -> list[dict[str, Any]]:
    document = json.loads(CITY.read_text("utf-8"))
    items = document if isinstance(document, list) else [document]
    return [item for item in items if isinstance(item, dict) and "id" in item]


@pytest.mark.parametrize("payload", [EVERY_KIND, *city_entities()],
                         ids=lambda p: p.get("id", "?")[-24:])
def test_default_rendering_is_the_general_rendering(payload: dict[str, Any]) -> None:
    entity = stored(payload)
    default = render_entity(entity, TERMS, DEFAULT_OPTIONS, NOW, NOW)
    assert orjson.dumps(default) == orjson.dumps(render_entity(entity, TERMS, GENERAL, NOW, NOW))
    # an equal options object takes the specialised code too
    assert orjson.dumps(render_entity(entity, TERMS, RenderOptions())) == orjson.dumps(default)


def test_default_rendering_compacts_with_the_given_terms() -> None:
    terms = compile_context({"temp": "https://uri.etsi.org/ngsi-ld/default-context/temperature",
                             "Dev": "https://uri.etsi.org/ngsi-ld/default-context/Device"},
                            lambda url: None)
    entity = stored(EVERY_KIND)
    default = render_entity(entity, terms, DEFAULT_OPTIONS)
    assert "temp" in default and "temperature" not in default
    assert default["refDevice"]["objectType"] == "Dev"
    assert default["type"] == ["AirQualityObserved", "https://example.org/Other"]
    assert default["temp"][0]["accuracy"]["source"] == {"type": "Property", "value": "lab"}
    assert orjson.dumps(default) == orjson.dumps(render_entity(entity, terms, GENERAL))


def test_system_attributes_are_left_out_by_default() -> None:
    default = render_entity(stored(EVERY_KIND), TERMS, DEFAULT_OPTIONS, NOW, NOW)
    assert "createdAt" not in default and "modifiedAt" not in default
    assert all("createdAt" not in v for v in default.values() if isinstance(v, dict))
