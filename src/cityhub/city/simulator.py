"""The live simulator: realistic measurement streams for the city's devices, with faults.

Every value is a pure function of (seed, device, tick): a clean signal (daily and weekly
cycles, weather, the city's traffic) plus small deterministic noise, so a run can be replayed
and `clean_value` gives the truth behind any emitted value. Local time is the sim clock's UTC
time shifted by the city's longitude (15 degrees an hour), enough for rush hours and nights.

Signals: traffic follows a weekday two-peak curve (about 08:00 and 17:45) and a flat weekend
one; PM2.5/PM10/NO2 rise with the traffic and fall with wind and rain; parking fills by day
(office sites) or by night (residential ones); street lights switch on at dusk and dim after
midnight; district substation meters follow the day and the cold; bins fill until the 06:00
collection; EV chargers are busiest in the evening.

Faults are injected at random (rate per device per tick) and recorded as ground truth
(`Fault`): `stuck` (the value freezes), `spike` (one reading several times too high), `drift`
(an offset growing each tick) and `dropout` (the device sends nothing). Faulty values stay within
the device's declared range, so a range check alone cannot find them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cityhub.city.assets import Asset, Measurement

FAULT_KINDS = ("stuck", "spike", "drift", "dropout")
#: ticks a fault lasts: (shortest, longest)
FAULT_TICKS = {"stuck": (6, 24), "spike": (1, 1), "drift": (12, 48), "dropout": (3, 12)}
_MASK = (1 << 64) - 1


def _mix(*parts: int) -> int:
    """splitmix64 over the parts: a fast deterministic hash of small integers."""
    x = 0x9E3779B97F4A7C15
    for p in parts:
        x = (x ^ (p & _MASK)) * 0xBF58476D1CE4E5B9 & _MASK
        x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _MASK
        x ^= x >> 31
    return x


def _uniform(*parts: int) -> float:
    return (_mix(*parts) >> 11) / float(1 << 53)


def _gauss(*parts: int) -> float:
    u1 = max(_uniform(*parts, 1), 1e-12)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2 * math.pi * _uniform(*parts, 2))


def _bump(h: float, centre: float, width: float) -> float:
    return math.exp(-0.5 * ((h - centre) / width) ** 2)


def traffic_factor(local: datetime) -> float:
    """City traffic, 0..1, at a local time: rush hours on weekdays, a broad weekend day."""
    h = local.hour + local.minute / 60 + local.second / 3600
    if local.weekday() < 5:
        return min(1.0, 0.06 + 0.9 * _bump(h, 8.0, 1.1) + 0.85 * _bump(h, 17.75, 1.4)
                   + 0.4 * _bump(h, 13.0, 2.8))
    return min(1.0, 0.06 + 0.55 * _bump(h, 14.0, 3.5))


@dataclass(frozen=True, slots=True)
class Weather:
    temperature: float
    humidity: float
    wind: float
    rain: float


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault: ground truth for anomaly detection."""

    device_id: str
    entity_id: str
    #: the measurement key it affects (None: every measurement, for a dropout)
    measurement: str | None
    attribute: str | None
    kind: str
    start: str  # ISO 8601, first affected observation
    end: str  # ISO 8601, last affected observation
    start_tick: int
    end_tick: int
    magnitude: float

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Reading:
    device_id: str
    entity_id: str
    entity_type: str
    observed_at: datetime
    values: dict[str, Any]


class CitySimulator:
    """Steps the city's devices through simulated time, one tick of `step_s` seconds at a time."""

    def __init__(self, assets: list[Asset], *, seed: int = 1, start: datetime | None = None,
                 step_s: float = 300.0, fault_rate: float = 0.002, utc_offset_h: float = 0.0
                 ) -> None:
        self.devices = [a for a in assets if a.measurements]
        self.seed = seed
        self.start = (start or datetime.now(UTC)).astimezone(UTC)
        self.step_s = step_s
        self.fault_rate = fault_rate
        self.utc_offset = timedelta(hours=utc_offset_h)
        self.tick = 0
        #: every fault injected so far (ground truth), in start order
        self.faults: list[Fault] = []
        self._active: dict[int, Fault] = {}
        #: device index -> its value when its active fault started (stuck and drift hold it)
        self._held: dict[int, float] = {}
        self._phase = [_uniform(seed, 7, k) * 2 * math.pi for k in range(6)]

    # -- time and signals -------------------------------------------------------------------
    def time_at(self, tick: int) -> datetime:
        return self.start + timedelta(seconds=self.step_s * tick)

    def local(self, t: datetime) -> datetime:
        return t + self.utc_offset

    def weather(self, t: datetime) -> Weather:
        hours = (t - datetime(2024, 1, 1, tzinfo=UTC)).total_seconds() / 3600
        local = self.local(t)
        h = local.hour + local.minute / 60
        p = self._phase
        temperature = 8 + 6 * math.sin(2 * math.pi * (h - 9) / 24) \
            + 4 * math.sin(2 * math.pi * hours / 97 + p[0])
        humidity = 0.7 - 0.18 * math.sin(2 * math.pi * (h - 9) / 24) \
            + 0.1 * math.sin(2 * math.pi * hours / 53 + p[1])
        wind = 2.6 + 1.6 * math.sin(2 * math.pi * hours / 29 + p[2]) \
            + 1.1 * math.sin(2 * math.pi * hours / 7.3 + p[3])
        rain = max(0.0, 5 * math.sin(2 * math.pi * hours / 61 + p[4]) - 3.5)
        return Weather(temperature, min(1.0, max(0.05, humidity + 0.02 * rain)),
                       max(0.2, wind), rain)

    def clean_value(self, index: int, key: str, tick: int) -> Any:
        """The true value of measurement `key` of device `index` at `tick` (noise included,
        faults not)."""
        asset = self.devices[index]
        t = self.time_at(tick)
        local = self.local(t)
        h = local.hour + local.minute / 60 + local.second / 3600
        weekday = local.weekday() < 5
        f = traffic_factor(local)
        w = self.weather(t)
        p = asset.params
        k = sum(map(ord, key))

        def noise(scale: float) -> float:
            return 1.0 + scale * _gauss(self.seed, index, tick, k)

        kind = asset.type
        if kind == "AirQualityObserved":
            dispersion = 3.0 / (1.5 + w.wind) / (1 + 0.4 * w.rain)
            pm25 = p.get("exposure", 1.0) * (6 + 38 * f) * dispersion * noise(0.04)
            return {"pm25": pm25, "pm10": pm25 * 1.7 + 4 * noise(0.1),
                    "no2": (9 + 50 * f) * dispersion * noise(0.05)}[key]
        if kind == "WeatherObserved":
            return {"temp": w.temperature + 0.3 * _gauss(self.seed, index, tick, k),
                    "hum": w.humidity, "wind": w.wind * noise(0.05), "rain": w.rain}[key]
        if kind == "TrafficFlowObserved":
            lanes, limit = p.get("lanes", 2), p.get("speed", 50)
            capacity = 700 * lanes * (1.0 if p.get("rank", 5) <= 3 else 0.6)
            load = f * noise(0.06)
            return {"flow": capacity * max(0.0, load) * self.step_s / 3600,
                    "occ": min(0.95, 0.85 * max(0.0, load) ** 1.4),
                    "speed": limit * (1 - 0.55 * min(1.0, max(0.0, load)) ** 2)
                    * noise(0.03)}[key]
        if kind in ("OffStreetParking", "ParkingSpot"):
            occ = self._parking_occupancy(h, weekday, p.get("office", 0.0))
            if kind == "ParkingSpot":
                return "occupied" if _uniform(self.seed, index, tick, 5) < occ else "free"
            total = p.get("total", 100)
            occupied = round(total * min(1.0, max(0.0, occ * noise(0.03))))
            return {"occupied": occupied, "free": total - occupied,
                    "occ": occupied / total}[key]
        if kind == "Streetlight":
            on = h < 7.0 or h >= 17.5
            level = 0.0 if not on else (0.5 if 0.5 <= h < 5.0 else 1.0)
            return {"power": p.get("rating", 150) * level * noise(0.02),
                    "lux": level}[key]
        if kind == "WasteContainer":
            since = (h - 6.0) % 24
            return min(1.0, p.get("rate", 0.04) * since * noise(0.05))
        if kind == "EVChargingStation":
            capacity = p.get("capacity", 4)
            busy = 0.15 + 0.55 * _bump(h, 19.0, 2.5) + 0.3 * _bump(h, 9.0, 1.5)
            return capacity - min(capacity, round(capacity * busy * noise(0.1)))
        if kind == "ACMeasurement":
            shape = 0.55 + 0.3 * _bump(h, 8.5, 1.5) + 0.45 * _bump(h, 19.5, 2.0)
            heating = 1 + 0.02 * max(0.0, 15 - w.temperature)
            return 1000 * p.get("base", 1000) * shape * heating * noise(0.02)  # W; base in kW
        raise KeyError(kind)

    @staticmethod
    def _parking_occupancy(h: float, weekday: bool, office: float) -> float:
        day = 1 / (1 + math.exp(-(h - 8.5) * 2.5)) - 1 / (1 + math.exp(-(h - 18.0) * 2.0))
        if not weekday:
            day *= 0.35
        office_occ = 0.08 + 0.85 * day
        home_occ = 0.92 - 0.5 * day
        return office * office_occ + (1 - office) * home_occ

    # -- stepping ---------------------------------------------------------------------------
    def step(self) -> list[Reading]:
        """The readings of every device at the current tick; then the clock moves one tick."""
        tick = self.tick
        t = self.time_at(tick)
        readings = []
        for index, asset in enumerate(self.devices):
            fault = self._fault_for(index, asset, tick)
            if fault is not None and fault.kind == "dropout":
                continue
            values: dict[str, Any] = {}
            for m in asset.measurements:
                value = self.clean_value(index, m.key, tick)
                if fault is not None and fault.measurement == m.key:
                    value = self._apply(index, fault, value, tick, m)
                values[m.key] = _rounded(value, m)
            readings.append(Reading(asset.device_id or "", asset.entity_id, asset.type, t,
                                    values))
        self.tick += 1
        return readings

    def _fault_for(self, index: int, asset: Asset, tick: int) -> Fault | None:
        active = self._active.get(index)
        if active is not None and tick > active.end_tick:
            del self._active[index]
            self._held.pop(index, None)
            active = None
        if active is not None or self.fault_rate <= 0:
            return active
        if _uniform(self.seed, index, tick, 99) >= self.fault_rate:
            return None
        kind = FAULT_KINDS[int(_uniform(self.seed, index, tick, 98) * len(FAULT_KINDS))]
        numeric = [m for m in asset.measurements if m.high is not None]
        if kind != "dropout" and not numeric:
            kind = "dropout"
        shortest, longest = FAULT_TICKS[kind]
        length = shortest + int(_uniform(self.seed, index, tick, 97) * (longest - shortest + 1))
        target = None if kind == "dropout" else numeric[
            int(_uniform(self.seed, index, tick, 96) * len(numeric))]
        magnitude = {"stuck": 0.0, "dropout": 0.0,
                     "spike": 3 + 4 * _uniform(self.seed, index, tick, 95),
                     "drift": 0.02 + 0.04 * _uniform(self.seed, index, tick, 94)}[kind]
        fault = Fault(asset.device_id or "", asset.entity_id,
                      target.key if target else None, target.attr if target else None, kind,
                      _iso(self.time_at(tick)), _iso(self.time_at(tick + length - 1)),
                      tick, tick + length - 1, round(magnitude, 4))
        self._active[index] = fault
        self.faults.append(fault)
        return fault

    def _apply(self, index: int, fault: Fault, value: float, tick: int, m: Measurement
               ) -> float:
        low, high = m.low or 0.0, m.high if m.high is not None else value
        span = high - low
        if fault.kind == "stuck":
            return self._held.setdefault(index, value)
        if fault.kind == "spike":  # up, or down when up would leave the range
            up = value * fault.magnitude + 0.05 * span * fault.magnitude
            value = up if up <= high else value - 0.3 * span
        elif fault.kind == "drift":  # away from the nearer end of the range
            start = self._held.setdefault(index, value)
            sign = 1.0 if start - low < span / 2 else -1.0
            value = value + sign * fault.magnitude * 0.1 * span * (tick - fault.start_tick + 1)
        return max(low, min(high, value))


def _rounded(value: Any, m: Measurement) -> Any:
    if isinstance(value, str):
        return value
    value = max(m.low if m.low is not None else value, min(m.high if m.high is not None
                                                           else value, value))
    if m.unit == "C62" and m.high is not None and m.high > 1:
        return round(value)
    return round(value, 3 if m.high is not None and m.high <= 1 else 2)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
