"""No personal value in clear can be read back through any API: entities, queries, the
temporal history, the dead-letter store, counters, devices and the public views."""

from __future__ import annotations

from conftest import ApiClient

PLATE = "12가3456"
MAC = "A4:5E:60:C2:11:9F"
CLEAR = (PLATE, "가3456", MAC, MAC.lower(), MAC.replace(":", ""), MAC.replace(":", "").lower())


def cityhub(api: ApiClient, path: str) -> str:
    return f"{api.hub_url}/cityhub/v1{path}"


def readable(api: ApiClient) -> list[str]:
    """Every answer of every read route of the hub for this tenant."""
    entity_ids = [e["id"] for e in api.get("/entities", params={"idPattern": ".*",
                                                                 "limit": "1000"}).json()]
    texts = []
    for params in ({"idPattern": ".*", "limit": "1000"},
                   {"idPattern": ".*", "limit": "1000", "options": "keyValues,sysAttrs"},
                   {"type": "Vehicle", "q": f'vehiclePlateIdentifier=="{PLATE}"'},
                   {"type": "CrowdFlowObserved", "q": "macAddress~=.*"},
                   {"type": "Vehicle", "format": "geojson"}):
        texts.append(api.get("/entities", params=params).text)
    for entity_id in entity_ids:
        texts.append(api.get(f"/entities/{entity_id}").text)
        texts.append(api.get(f"/temporal/entities/{entity_id}").text)
    texts.append(api.get("/temporal/entities", params={"idPattern": ".*",
                                                       "timerel": "after",
                                                       "timeAt": "2000-01-01T00:00:00Z"}).text)
    texts.append(api.get("/types", params={"details": "true"}).text)
    texts.append(api.get("/attributes", params={"details": "true"}).text)
    for path in ("/ingest/rejections", "/ingest/sources", "/devices",
                 "/public/entities?type=Vehicle", "/public/counts?type=CrowdFlowObserved"):
        texts.append(api.get(cityhub(api, path)).text)
    return texts


def test_no_personal_value_in_clear_through_any_api(api: ApiClient) -> None:
    devices = [
        {"deviceId": "anpr-1", "entityType": "Vehicle",
         "attributes": {"plate": {"name": "vehiclePlateIdentifier", "privacy": "pseudonymise"},
                        "speed": {"name": "speed", "min": 0, "max": 250}}},
        {"deviceId": "counter-1", "entityType": "CrowdFlowObserved",
         "attributes": {"mac": {"name": "macAddress"}}},  # personal by name: no flag needed
    ]
    assert api.post(cityhub(api, "/devices"), json=devices).status_code == 201
    body = [
        {"deviceId": "anpr-1", "plate": PLATE, "speed": 42},
        {"deviceId": "anpr-1", "plate": PLATE, "speed": 999},          # rejected: range
        {"deviceId": "anpr-1", "plate": PLATE, "colour": "red"},       # rejected: unknown
        {"deviceId": "counter-1", "mac": MAC},
        {"deviceId": "nobody", "plate": PLATE},                        # rejected: no device
        {"id": "urn:ngsi-ld:Vehicle:v9", "type": "Vehicle", "licensePlate": PLATE,
         "speed": "fast"},                                              # rejected: model
        {"id": "urn:ngsi-ld:Vehicle:v8", "type": "Vehicle", "licensePlate": PLATE,
         "speed": 10, "category": ["private"], "vehicleType": "car",
         "location": {"type": "Point", "coordinates": [127.29, 36.48]}},
    ]
    response = api.post(cityhub(api, "/ingest"), json=body)
    assert response.json()["accepted"] == 3 and response.json()["rejected"] == 4, response.text
    assert not any(clear in response.text for clear in CLEAR)
    texts = readable(api)
    assert any("pse:" in t for t in texts)  # the pseudonyms are there ...
    for text in texts:
        for clear in CLEAR:  # ... and the clear values nowhere
            assert clear not in text, (clear, text[:300])
