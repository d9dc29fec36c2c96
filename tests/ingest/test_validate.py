"""Validation against the shipped Smart Data Models rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cityhub.ingest.sdm_rules import RULES_FILE, derive, load_rules
from cityhub.ingest.validate import record_errors

SHARED_MODELS = Path(__file__).resolve().parents[3] / "shared" / "smart-data-models"
REQUIRED_TYPES = ["AirQualityObserved", "WeatherObserved", "TrafficFlowObserved",
                  "OffStreetParking", "ParkingSpot", "Streetlight", "WasteContainer",
                  "EVChargingStation", "Device", "Alert", "IngestSource", "IngestRejection"]


@pytest.mark.parametrize("entity_type", REQUIRED_TYPES)
def test_rules_ship_for_every_model(entity_type: str) -> None:
    assert load_rules()[entity_type], entity_type


@pytest.mark.skipif(not SHARED_MODELS.is_dir(), reason="the reference schemas are not here")
def test_shipped_rules_are_derived_from_the_schemas() -> None:
    shipped = json.loads(RULES_FILE.read_text("utf-8"))
    assert shipped == json.loads(json.dumps(derive(SHARED_MODELS)))
    assert "CC-BY-4.0" in shipped["attribution"]


def test_valid_observation_passes() -> None:
    assert record_errors("AirQualityObserved", {"pm25": 12.5, "pm10": 20,
                                                "refDevice": "urn:ngsi-ld:Device:a"}) == []


@pytest.mark.parametrize(("attrs", "fragment"), [
    ({"pm25": -1}, "below the model's minimum"),
    ({"pm25": "high"}, "must be a number"),
    ({"pm25": True}, "must be a number"),
    ({"pm25": float("nan")}, "finite"),
    ({"reliability": 1.5}, "above the model's maximum"),
    ({"location": {"type": "Circle"}}, "GeoJSON"),
    ({"refDevice": 5}, "URI"),
])
def test_invalid_attributes_are_reasons(attrs: dict, fragment: str) -> None:
    [reason] = record_errors("AirQualityObserved", attrs)
    assert fragment in reason


def test_enumerations_are_checked() -> None:
    assert record_errors("ParkingSpot", {"status": "free"}) == []
    [reason] = record_errors("ParkingSpot", {"status": "maybe"})
    assert "status" in reason and "not one of" in reason
    assert record_errors("Device", {"controlledProperty": ["temperature", "nonsense"]})


def test_complete_records_need_the_required_attributes() -> None:
    [reason] = record_errors("Alert", {"description": "x"}, complete=True)
    assert "alertSource" in reason and "category" in reason and "dateIssued" in reason
    assert record_errors("Alert", {"description": "x"}) == []  # an update may be partial


def test_extensions_and_unknown_types_get_generic_checks() -> None:
    assert record_errors("AirQualityObserved", {"vendorField": "anything"}) == []
    assert record_errors("SomethingElse", {"x": 1}) == []
    assert record_errors("SomethingElse", {"x": float("inf")})


def _sample_values() -> list[object]:
    return [0, 1, -1, 2.5, -0.5, 1e9, 10**6, float("nan"), float("inf"), True, False, None,
            "", "free", "occupied", "urn:ngsi-ld:Device:a", "plain", [], ["temperature"],
            ["nonsense"], ["temperature", 3], {}, {"type": "Point", "coordinates": [1, 2]},
            {"type": "Circle"}, {"type": ["Point"], "coordinates": []}, {"value": 1}]


def test_compiled_checks_give_the_rules_verdicts() -> None:
    """The compiled fast path answers as the rules read one by one, for every attribute of
    every shipped model and values of every kind (valid, out of range, wrong type, ...)."""
    from cityhub.ingest.validate import record_errors_by_rules

    compared = 0
    for entity_type, rules in load_rules().items():
        names = [*rules, "vendorExtension"]
        for name in names:
            for value in _sample_values():
                attrs = {name: value}
                assert record_errors(entity_type, attrs) == \
                    record_errors_by_rules(entity_type, attrs), (entity_type, name, value)
                compared += 1
        whole = {name: 1 for name in list(rules)[:3]}
        assert record_errors(entity_type, whole, complete=True) == \
            record_errors_by_rules(entity_type, whole, complete=True)
    assert compared > 10_000
