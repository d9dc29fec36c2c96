"""YAML mappings: the worked example loads; hostile or wrong mappings are refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from cityhub.ingest.mapping import MAX_MAPPING_BYTES, load_mapping, parse_mapping
from cityhub.ngsild.errors import BadRequestData

from .conftest import EXAMPLES

BASE = {"entity": {"type": "AirQualityObserved", "id": "urn:ngsi-ld:AirQualityObserved:{s}"}}


def test_the_worked_example_loads() -> None:
    mapping = load_mapping(EXAMPLES / "airkorea" / "mapping.yaml")
    assert mapping.entity_type == "AirQualityObserved"
    assert mapping.id_columns == ("stationCode",)
    assert "-" in mapping.missing and mapping.fill_date_observed
    assert {c.name for c in mapping.columns} >= {"pm25", "pm10", "no2", "airQualityIndex"}


@pytest.mark.parametrize("text", [
    "!!python/object/apply:os.system ['echo owned']",
    "entity: !!python/object/new:os.system [ls]",
    "a: &a [1]\nb: *a\nentity: {type: X, id: !!binary aGVsbG8=}",
])
def test_hostile_yaml_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(BadRequestData):
        load_mapping(path)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("entity:\n  type: [unclosed\n")
    with pytest.raises(BadRequestData, match="line"):
        load_mapping(path)


def test_oversized_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("#" * (MAX_MAPPING_BYTES + 1))
    with pytest.raises(BadRequestData, match="at most"):
        load_mapping(path)


@pytest.mark.parametrize(("change", "fragment"), [
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"entity": {"type": "AirQualityObserved", "id": 5}}, "entity.id"),
    ({"entity": {"type": "AirQualityObserved", "id": "urn:x:{a.b}"}}, "entity.id"),
    ({"entity": {"type": "AirQualityObserved", "id": "no-columns"}}, "entity.id"),
    ({"entity": {"type": "Air Quality", "id": "urn:x:{a}"}}, "entity.type"),
    ({"attributes": {"pm25": {"column": "a", "type": "float"}}}, "type of pm25"),
    ({"attributes": {"pm25": {"column": "a", "value": 1}}}, "exactly one"),
    ({"attributes": {"pm25": {"column": "a", "privacy": "hide"}}}, "privacy of pm25"),
    ({"attributes": {"bad name": "a"}}, "plain name"),
    ({"observedAt": {"column": "t", "timezone": "KST"}}, "timezone"),
    ({"location": {"lon": "x"}}, "location.lat"),
    ({"delimiter": ";;"}, "delimiter"),
    ({"encoding": "no-such-codec"}, "encoding"),
    ({"format": "xls"}, "format"),
])
def test_wrong_mappings_name_the_problem(change: dict, fragment: str) -> None:
    with pytest.raises(BadRequestData, match=None) as caught:
        parse_mapping({**BASE, **change})
    assert fragment in caught.value.detail


def test_not_a_mapping_is_refused() -> None:
    for document in (None, [], "text"):
        with pytest.raises(BadRequestData):
            parse_mapping(document)
