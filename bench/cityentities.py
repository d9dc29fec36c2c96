"""Realistic city entities for the benchmarks (synthetic, deterministic by seed).

Sensors and street furniture scattered over a ~20 x 20 km area around Sejong (36.48 N,
127.29 E), each with a few properties and a GeoProperty, in NGSI-LD normalized form.
"""

from __future__ import annotations

import random
from typing import Any

CENTRE_LON, CENTRE_LAT = 127.29, 36.48
SPREAD_DEG = 0.11  # about +-10 km


def city_entity(i: int, rng: random.Random) -> dict[str, Any]:
    lon = CENTRE_LON + rng.uniform(-SPREAD_DEG, SPREAD_DEG)
    lat = CENTRE_LAT + rng.uniform(-SPREAD_DEG, SPREAD_DEG) * 0.8
    observed = f"2026-11-22T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z"
    location = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}
    kind = i % 3
    if kind == 0:
        return {
            "id": f"urn:ngsi-ld:AirQualityObserved:sejong-{i}",
            "type": "AirQualityObserved",
            "pm25": {"type": "Property", "value": round(rng.uniform(2, 80), 1),
                     "unitCode": "GQ", "observedAt": observed},
            "pm10": {"type": "Property", "value": round(rng.uniform(5, 150), 1),
                     "unitCode": "GQ", "observedAt": observed},
            "temperature": {"type": "Property", "value": round(rng.uniform(-10, 35), 1),
                            "unitCode": "CEL"},
            "location": location,
        }
    if kind == 1:
        return {
            "id": f"urn:ngsi-ld:TrafficFlowObserved:sejong-{i}",
            "type": "TrafficFlowObserved",
            "averageVehicleSpeed": {"type": "Property", "value": round(rng.uniform(0, 90), 1),
                                    "unitCode": "KMH", "observedAt": observed},
            "intensity": {"type": "Property", "value": rng.randrange(0, 2400),
                          "observedAt": observed},
            "congested": {"type": "Property", "value": rng.random() < 0.2},
            "refRoadSegment": {"type": "Relationship",
                               "object": f"urn:ngsi-ld:RoadSegment:sejong-{i // 3}"},
            "location": location,
        }
    return {
        "id": f"urn:ngsi-ld:ParkingSpot:sejong-{i}",
        "type": "ParkingSpot",
        "status": {"type": "Property", "value": rng.choice(["free", "occupied", "closed"]),
                   "observedAt": observed},
        "category": {"type": "Property", "value": ["onStreet"]},
        "refParkingSite": {"type": "Relationship",
                           "object": f"urn:ngsi-ld:OffStreetParking:sejong-{i // 50}"},
        "location": location,
    }


def city_entities(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [city_entity(i, rng) for i in range(count)]
