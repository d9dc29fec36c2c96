"""GET /cityhub/v1/live over HTTP, as any app sees it: a server-sent-events stream made of an
ordinary subscription, removed when the client goes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx


def events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    name, data = "", ""
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and name:
            yield name, data
            name, data = "", ""


def subscriptions(hub_url: str) -> list[dict]:
    return list(httpx.get(f"{hub_url}/ngsi-ld/v1/subscriptions?limit=1000").json())


def test_a_change_arrives_as_an_entities_event(hub_url: str) -> None:
    entity = {"id": "urn:ngsi-ld:AirQualityObserved:live-1", "type": "AirQualityObserved",
              "pm25": {"type": "Property", "value": 5.0}}
    assert httpx.post(f"{hub_url}/ngsi-ld/v1/entities", json=entity).status_code == 201
    with httpx.stream("GET", f"{hub_url}/cityhub/v1/live?type=AirQualityObserved&attrs=pm25",
                      timeout=5) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = events(response.iter_lines())
        name, data = next(stream)
        assert name == "stream"
        subscription_id = json.loads(data)["subscriptionId"]
        assert subscription_id in {s["id"] for s in subscriptions(hub_url)}
        started = time.monotonic()
        httpx.post(f"{hub_url}/ngsi-ld/v1/entities/{entity['id']}/attrs",
                   json={"pm25": {"type": "Property", "value": 42.0}})
        name, data = next(stream)
        assert name == "entities"
        assert json.loads(data) == [{"id": entity["id"], "type": "AirQualityObserved",
                                     "pm25": 42.0}]
        assert time.monotonic() - started < 2
    for _ in range(50):  # the client went away: its subscription goes too
        if subscription_id not in {s["id"] for s in subscriptions(hub_url)}:
            break
        time.sleep(0.1)
    assert subscription_id not in {s["id"] for s in subscriptions(hub_url)}


def test_bad_streams_are_refused_and_change_nothing(hub_url: str) -> None:
    before = subscriptions(hub_url)
    for query in ("", "?attrs=pm25", "?type=(A", "?type=A&nope=1"):
        response = httpx.get(f"{hub_url}/cityhub/v1/live{query}")
        assert response.status_code == 400, query
        assert response.json()["type"].startswith("https://uri.etsi.org/ngsi-ld/errors/")
    assert subscriptions(hub_url) == before


def test_the_receiver_knows_only_open_streams(hub_url: str) -> None:
    response = httpx.post(f"{hub_url}/cityhub/v1/live/not-a-stream", json={"data": []})
    assert response.status_code == 404
