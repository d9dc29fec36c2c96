"""Pseudonyms (keyed, rotatable) and the public views' generalisation and k-suppression."""

from __future__ import annotations

import pytest

from cityhub.ingest.privacy import (
    Pseudonymiser,
    generalise_geometry,
    is_pseudonym,
    parse_keys,
    suppress_small,
)
from cityhub.ingest.publicview import cell_counts, public_entity
from cityhub.ngsild.errors import BadRequestData

OLD = "k1:first-key-0123456789"
NEW = "k2:second-key-0123456789"


def test_pseudonyms_are_keyed_stable_and_name_their_key() -> None:
    ring = Pseudonymiser(parse_keys(OLD))
    plate = ring.pseudonym("12가 3456")
    assert plate.startswith("pse:k1:") and "3456" not in plate
    assert ring.pseudonym("12가3456") == plate  # separators and case do not matter
    assert ring.pseudonym("aa:bb:cc:dd:ee:ff") == ring.pseudonym("AA-BB-CC-DD-EE-FF")
    other = Pseudonymiser(parse_keys("k1:another-key-0123456789"))
    assert other.pseudonym("12가 3456") != plate  # without the key, no match


def test_rotation_keeps_old_pseudonyms_checkable() -> None:
    before = Pseudonymiser(parse_keys(OLD)).pseudonym("AB-123")
    rotated = Pseudonymiser(parse_keys(f"{NEW},{OLD}"))
    after = rotated.pseudonym("AB-123")
    assert after.startswith("pse:k2:") and after != before
    assert rotated.matches("AB-123", before) and rotated.matches("AB-123", after)
    assert not rotated.matches("AB-124", before)
    assert not Pseudonymiser(parse_keys(NEW)).matches("AB-123", before)  # key k1 retired


@pytest.mark.parametrize("text", ["", "k1", "k1:short", "bad id:0123456789abcdef"])
def test_bad_keys_are_refused(text: str) -> None:
    with pytest.raises(BadRequestData):
        parse_keys(text)


def test_positions_are_generalised() -> None:
    assert generalise_geometry({"type": "Point", "coordinates": [127.123456, 36.987654]},
                               3) == {"type": "Point", "coordinates": [127.123, 36.988]}
    with pytest.raises(BadRequestData):
        generalise_geometry({"type": "Point"}, 3)


def test_small_groups_are_suppressed() -> None:
    assert suppress_small({"a": 5, "b": 4, "c": 1}, 5) == ({"a": 5}, 5)


def test_public_entity_drops_personal_values_and_coarsens_places() -> None:
    entity = {"id": "urn:ngsi-ld:Vehicle:v", "type": "Vehicle", "speed": 30,
              "vehiclePlateIdentifier": "pse:k1:00", "owner": ["pse:k1:11"],
              "location": {"type": "Point", "coordinates": [127.2912, 36.4811]}}
    public = public_entity(entity, 0.01)
    assert public == {"id": "urn:ngsi-ld:Vehicle:v", "type": "Vehicle", "speed": 30,
                      "location": {"type": "Point", "coordinates": [127.295, 36.485]}}
    assert not any(is_pseudonym(v) for v in public.values())


def test_cell_counts_are_k_anonymous() -> None:
    def at(i: int, lon: float, mac: str | None = None) -> dict:
        entity = {"id": f"urn:x:{i}", "location": {"type": "Point", "coordinates": [lon, 36.48]}}
        if mac is not None:
            entity["mac"] = mac
        return entity

    crowd = [at(i, 127.291) for i in range(6)] + [at(10 + i, 127.351) for i in range(2)]
    counted = cell_counts(crowd, 5, cell_degrees=0.01)
    assert [c["count"] for c in counted["cells"]] == [6]
    assert counted["suppressed"] == 2
    seen = [at(i, 127.291, f"pse:k1:{i % 4}") for i in range(12)]  # 4 distinct devices
    assert cell_counts(seen, 5, attr="mac")["cells"] == []
    assert cell_counts(seen, 4, attr="mac")["cells"][0]["count"] == 4
