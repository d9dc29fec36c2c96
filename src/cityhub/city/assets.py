"""City assets placed on a city model: sensors, parking, lights, bins, chargers, cameras, units.

`place_assets(model, seed)` returns the simulated assets of a city, deterministic by seed, as
`Asset`s: each becomes one Smart Data Model entity (or a CityHub type for emergency units), and
the ones that measure something are devices with a device id and a list of `Measurement`s (the
keys a device sends, the NGSI-LD attribute each maps to, its unit and expected range), which is
what the simulator emits and what the MQTT gateway's provisioning file says.

Where the source has the thing (an OSM parking lot, charging station, waste basket, police or
fire station) the asset goes there; otherwise it is placed by rule (one air-quality station per
district, traffic counters on the most important segments, cameras at the busiest junctions).
A city with no police or fire station gets one of each, marked `derived`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from cityhub.city.model import CityModel, Place, RoadGraph, bearing_deg

ROAD_RANK = {"motorway": 0, "trunk": 1, "primary": 2, "secondary": 3, "tertiary": 4,
             "motorway_link": 5, "trunk_link": 5, "primary_link": 5, "secondary_link": 6,
             "unclassified": 7, "residential": 8, "living_street": 9, "service": 9}


@dataclass(frozen=True, slots=True)
class Measurement:
    key: str  # what the device sends
    attr: str  # the NGSI-LD attribute it becomes
    unit: str  # UN/CEFACT common code
    low: float | None = None
    high: float | None = None


@dataclass(slots=True)
class Asset:
    entity_id: str
    type: str
    lon: float
    lat: float
    #: static attributes: name -> value (a Relationship is {"object": id})
    attrs: dict[str, Any] = field(default_factory=dict)
    device_id: str | None = None
    measurements: tuple[Measurement, ...] = ()
    #: what the simulator needs to know of it (capacity, lanes, base load, ...)
    params: dict[str, float] = field(default_factory=dict)


AIR = (Measurement("pm25", "pm25", "GQ", 0, 500), Measurement("pm10", "pm10", "GQ", 0, 800),
       Measurement("no2", "no2", "GQ", 0, 400))
WEATHER = (Measurement("temp", "temperature", "CEL", -40, 50),
           Measurement("hum", "relativeHumidity", "C62", 0, 1),
           Measurement("wind", "windSpeed", "MTS", 0, 60),
           Measurement("rain", "precipitation", "MMT", 0, 200))
TRAFFIC = (Measurement("flow", "intensity", "C62", 0, 5000),
           Measurement("occ", "occupancy", "C62", 0, 1),
           Measurement("speed", "averageVehicleSpeed", "KMH", 0, 200))
PARKING = (Measurement("occupied", "occupiedSpotNumber", "C62", 0, 10000),
           Measurement("free", "availableSpotNumber", "C62", 0, 10000),
           Measurement("occ", "occupancy", "C62", 0, 1))
SPOT = (Measurement("status", "status", ""),)
LIGHT = (Measurement("power", "powerConsumption", "WTT", 0, 1000),
         Measurement("lux", "illuminanceLevel", "C62", 0, 1))
WASTE = (Measurement("fill", "fillingLevel", "C62", 0, 1),)
CHARGER = (Measurement("free", "availableCapacity", "C62", 0, 100),)
METER = (Measurement("watts", "totalActivePower", "WTT", 0, 1e9),)


def place_assets(model: CityModel, seed: int = 1, *, density: float = 1.0) -> list[Asset]:
    """The simulated assets of `model`; `density` scales the counts of placed-by-rule assets."""
    rng = random.Random(seed)
    graph = model.graph()
    placer = _Placer(model, graph, rng, density)
    placer.stations()
    placer.environment()
    placer.traffic()
    placer.parking()
    placer.street_furniture()
    placer.cameras()
    placer.emergency_units()
    placer.energy()
    return placer.assets


class _Placer:
    def __init__(self, model: CityModel, graph: RoadGraph, rng: random.Random,
                 density: float) -> None:
        self.model, self.graph, self.rng, self.density = model, graph, rng, density
        self.assets: list[Asset] = []
        self.counts: dict[str, int] = {}

    def _n(self, base: int, minimum: int = 1) -> int:
        return max(minimum, round(base * self.density))

    def add(self, type_: str, code: str, lon: float, lat: float, attrs: dict[str, Any],
            measurements: tuple[Measurement, ...] = (), **params: float) -> Asset:
        n = self.counts.get(type_, 0) + 1
        self.counts[type_] = n
        local = f"{code}-{n}"
        asset = Asset(
            entity_id=f"urn:ngsi-ld:{type_}:{self.model.slug}:{local}", type=type_,
            lon=round(lon, 7), lat=round(lat, 7), attrs=attrs,
            device_id=f"{self.model.slug}-{local}" if measurements else None,
            measurements=measurements, params=dict(params))
        self.assets.append(asset)
        return asset

    def _near(self, lon: float, lat: float, metres: float = 15.0) -> tuple[float, float]:
        d = metres / 111_320.0
        return (lon + self.rng.uniform(-d, d), lat + self.rng.uniform(-d, d))

    def _district_centres(self) -> list[tuple[str, float, float]]:
        from shapely.geometry import shape

        centres = []
        for district in self.model.districts:
            point = shape(district.geometry).representative_point()
            centres.append((district.name, point.x, point.y))
        return centres or [("city", *self.model.centre())]

    def stations(self) -> None:
        """A police and a fire station for a city whose source has none (labelled derived)."""
        for kind, name in (("police", "police station"), ("fireStation", "fire station")):
            if self.model.places_of(kind):
                continue
            lon, lat = self.model.centre()
            j = self.model.junctions[self.graph.nearest_junction(lon, lat)]
            lon, lat = self._near(j.lon, j.lat, 40.0)
            self.model.places.append(Place(f"derived-{kind}", kind, round(lon, 7),
                                           round(lat, 7), f"{self.model.name} {name} (derived)",
                                           kind, derived=True))

    def environment(self) -> None:
        centres = self._district_centres()
        for name, lon, lat in centres:
            lon, lat = self._near(lon, lat)
            self.add("AirQualityObserved", "aq", lon, lat,
                     {"name": f"Air quality station {name}", "areaServed": name,
                      "typeOfLocation": "outdoor"}, AIR, exposure=self.rng.uniform(0.7, 1.3))
        for name, lon, lat in centres[:: max(1, len(centres) // 2)][:3]:
            lon, lat = self._near(lon, lat)
            self.add("WeatherObserved", "wx", lon, lat,
                     {"name": f"Weather station {name}", "areaServed": name}, WEATHER)

    def traffic(self) -> None:
        ranked = sorted(self.model.segments, key=lambda s: (ROAD_RANK.get(s.road_class, 9),
                                                            -s.length_m, s.id))
        for seg in ranked[: self._n(40)]:
            mid = seg.coords[len(seg.coords) // 2]
            self.add("TrafficFlowObserved", "tf", *mid,
                     {"name": f"Traffic counter on {seg.name or seg.id}",
                      "refRoadSegment": {"object": self.segment_id(seg.id)},
                      "laneDirection": "forward"},
                     TRAFFIC, lanes=seg.lanes, speed=seg.speed_kmh,
                     rank=ROAD_RANK.get(seg.road_class, 9))

    def segment_id(self, local: str) -> str:
        return f"urn:ngsi-ld:RoadSegment:{self.model.slug}:{local}"

    def parking(self) -> None:
        sites = self.model.places_of("parking")
        if not sites:
            sites = [Place(f"placed-{i}", "parking", lon, lat, f"Parking {name}", "parking")
                     for i, (name, lon, lat) in enumerate(self._district_centres())]
        sites = sites[: self._n(30)]
        for index, site in enumerate(sites):
            total = site.capacity or self.rng.randrange(40, 400, 10)
            profile = "office" if index % 3 else "residential"
            parking = self.add(
                "OffStreetParking", "park", site.lon, site.lat,
                {"name": site.name or f"Parking {index + 1}", "totalSpotNumber": total,
                 "category": ["public", "feeCharged"], "allowedVehicleType": ["car"],
                 "parkingProfile": profile},
                PARKING, total=total, office=1.0 if profile == "office" else 0.0)
            if index < 3:
                for k in range(self._n(8, 2)):
                    lon, lat = self._near(site.lon, site.lat, 10.0)
                    self.add("ParkingSpot", "spot", lon, lat,
                             {"name": f"{parking.attrs['name']} spot {k + 1}",
                              "category": ["offStreet"],
                              "refParkingSite": {"object": parking.entity_id}},
                             SPOT, office=parking.params["office"])
        chargers = self.model.places_of("chargingStation") or sites[:3]
        for place in chargers[: self._n(20)]:
            capacity = self.rng.choice([2, 4, 6])
            self.add("EVChargingStation", "ev", *self._near(place.lon, place.lat, 8.0),
                     {"name": place.name or "EV charging", "capacity": capacity,
                      "socketType": ["Type2", "CCS/SAE"], "allowedVehicleType": ["car"]},
                     CHARGER, capacity=capacity)

    def street_furniture(self) -> None:
        segments = sorted(self.model.segments, key=lambda s: s.id)
        step = max(1, len(segments) // self._n(150))
        for seg in segments[::step]:
            mid = seg.coords[len(seg.coords) // 2]
            self.add("Streetlight", "light", *self._near(*mid, 5.0),
                     {"status": "ok", "lanternHeight": 10, "powerRating": 150},
                     LIGHT, rating=150.0)
        bins = self.model.places_of("wasteContainer")
        if not bins:
            picks = self.rng.sample(segments, min(len(segments), self._n(40)))
            bins = [Place(f"bin-{i}", "wasteContainer", *s.coords[0]) for i, s in
                    enumerate(picks)]
        for place in bins[: self._n(60)]:
            self.add("WasteContainer", "bin", place.lon, place.lat,
                     {"binCapacity": 120, "category": ["fixed"]},
                     WASTE, rate=self.rng.uniform(0.02, 0.06))

    def cameras(self) -> None:
        busiest = sorted(self.model.junctions, key=lambda j: (-self.graph.degree(j), j))
        for jid in busiest[: self._n(25)]:
            j = self.model.junctions[jid]
            neighbour = next((n for n, _, _ in self.graph.adjacency[jid] if n != jid), None)
            heading = 0.0 if neighbour is None else bearing_deg(
                j.point, self.model.junctions[neighbour].point)
            self.add("Camera", "cam", *self._near(j.lon, j.lat, 6.0),
                     {"cameraName": f"Junction camera {jid}", "cameraUsage": "SURVEILLANCE",
                      "cameraType": "FIXED", "on": True, "heading": round(heading, 1),
                      "fieldOfView": 90, "observationDistance": 60})

    def emergency_units(self) -> None:
        for kind, unit_kind, code, units in (("police", "police", "police", ("patrol car",
                                                                            "patrol car")),
                                             ("fireStation", "fire", "fire",
                                              ("fire engine", "ambulance"))):
            for station in self.model.places_of(kind):
                for label in units:
                    self.add("EmergencyUnit", code, *self._near(station.lon, station.lat, 10.0),
                             {"name": f"{label} of {station.name or station.id}",
                              "unitKind": unit_kind, "vehicleKind": label,
                              "status": "available",
                              "refStation": {"object": place_id(self.model, station)}})

    def energy(self) -> None:
        for name, lon, lat in self._district_centres():
            self.add("ACMeasurement", "meter", *self._near(lon, lat, 30.0),
                     {"name": f"District substation meter {name}", "areaServed": name,
                      "phaseType": "threePhase"},
                     METER, base=self.rng.uniform(800, 2400))


def place_id(model: CityModel, place: Place) -> str:
    return f"urn:ngsi-ld:PointOfInterest:{model.slug}:{place.id}"
