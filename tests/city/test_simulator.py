"""Simulator statistics: rush hours, pollution that follows traffic, parking by day, and faults
that are emitted exactly as the ground truth records them."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime

import pytest

from cityhub.city.simulator import CitySimulator, Reading
from cityhub.city.virtual import VirtualCity, synthetic_city

#: a Monday, midnight local time in Sejong (UTC+9)
MONDAY = datetime(2024, 3, 3, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def city() -> VirtualCity:
    return synthetic_city(1, 8)


def _day(city: VirtualCity, *, fault_rate: float = 0.0, days: float = 1, step_s: float = 900,
         seed: int = 1) -> tuple[CitySimulator, list[list[Reading]]]:
    sim = CitySimulator(city.assets, seed=seed, start=MONDAY, step_s=step_s,
                        fault_rate=fault_rate, utc_offset_h=city.utc_offset_h)
    return sim, [sim.step() for _ in range(int(days * 86400 / step_s))]


def _mean(ticks: list[list[Reading]], kind: str, key: str, hours: range, step_s: float = 900
          ) -> float:
    per_hour = int(3600 / step_s)
    values = [r.values[key] for h in hours for tick in ticks[h * per_hour:(h + 1) * per_hour]
              for r in tick if r.entity_type == kind and key in r.values]
    return statistics.fmean(values)


def test_rush_hour_flow_is_far_above_night_flow(city: VirtualCity) -> None:
    _, ticks = _day(city)
    morning = _mean(ticks, "TrafficFlowObserved", "flow", range(7, 9))
    evening = _mean(ticks, "TrafficFlowObserved", "flow", range(17, 19))
    night = _mean(ticks, "TrafficFlowObserved", "flow", range(2, 4))
    assert morning > 5 * night and evening > 5 * night
    # and rush hours are slower
    assert _mean(ticks, "TrafficFlowObserved", "speed", range(7, 9)) < \
        _mean(ticks, "TrafficFlowObserved", "speed", range(2, 4))


def test_the_weekend_has_no_morning_rush(city: VirtualCity) -> None:
    _, ticks = _day(city, days=7, step_s=3600)
    per_day = 24
    monday = _mean(ticks[:per_day], "TrafficFlowObserved", "flow", range(8, 9), 3600)
    sunday = _mean(ticks[6 * per_day:], "TrafficFlowObserved", "flow", range(8, 9), 3600)
    assert monday > 2 * sunday


def test_particulates_follow_traffic(city: VirtualCity) -> None:
    _, ticks = _day(city)
    flow, pm25, pm10 = [], [], []
    for tick in ticks:
        flow.append(statistics.fmean(r.values["flow"] for r in tick
                                     if r.entity_type == "TrafficFlowObserved"))
        air = [r for r in tick if r.entity_type == "AirQualityObserved"]
        pm25.append(statistics.fmean(r.values["pm25"] for r in air))
        pm10.append(statistics.fmean(r.values["pm10"] for r in air))
    assert statistics.correlation(flow, pm25) > 0.6
    assert statistics.correlation(pm25, pm10) > 0.9
    assert all(b > a for a, b in zip(pm25, pm10, strict=True))


def test_particulates_fall_with_wind(city: VirtualCity) -> None:
    sim, _ = _day(city, days=0)
    index = next(i for i, a in enumerate(sim.devices) if a.type == "AirQualityObserved")
    # same local hour on many days: the windier, the cleaner
    ticks = [d * 96 + 36 for d in range(40)]  # 09:00 each day, step 900 s
    wind = [sim.weather(sim.time_at(t)).wind for t in ticks]
    pm = [sim.clean_value(index, "pm25", t) for t in ticks]
    assert statistics.correlation(wind, pm) < -0.5


def test_office_parking_fills_by_day(city: VirtualCity) -> None:
    sim, ticks = _day(city)
    offices = {a.entity_id for a in sim.devices
               if a.type == "OffStreetParking" and a.params["office"] == 1.0}
    assert offices

    def occupancy(hours: range) -> float:
        return statistics.fmean(r.values["occ"] for h in hours for tick in ticks[h * 4:h * 4 + 4]
                                for r in tick if r.entity_id in offices)

    assert occupancy(range(11, 15)) > 0.7 > 0.2 > occupancy(range(1, 5))


def test_energy_and_lights_follow_the_day(city: VirtualCity) -> None:
    _, ticks = _day(city)
    assert _mean(ticks, "Streetlight", "power", range(1, 3)) > 0
    assert _mean(ticks, "Streetlight", "power", range(11, 14)) == 0
    assert _mean(ticks, "ACMeasurement", "watts", range(19, 21)) > \
        1.3 * _mean(ticks, "ACMeasurement", "watts", range(3, 5))


def test_the_simulation_is_deterministic(city: VirtualCity) -> None:
    _, a = _day(city, fault_rate=0.01, days=0.25)
    _, b = _day(city, fault_rate=0.01, days=0.25)
    assert [[(r.device_id, r.values) for r in t] for t in a] == \
        [[(r.device_id, r.values) for r in t] for t in b]
    _, c = _day(city, fault_rate=0.01, days=0.25, seed=2)
    assert a != c


def test_faults_recorded_match_what_is_emitted(city: VirtualCity) -> None:
    sim, ticks = _day(city, fault_rate=0.01)
    faults = sim.faults
    assert {f.kind for f in faults} == {"stuck", "spike", "drift", "dropout"}
    index_of = {a.device_id: i for i, a in enumerate(sim.devices)}
    for fault in faults:
        i = index_of[fault.device_id]
        window = range(fault.start_tick, min(fault.end_tick, len(ticks) - 1) + 1)
        emitted = [next((r for r in ticks[t] if r.device_id == fault.device_id), None)
                   for t in window]
        assert fault.start == sim.time_at(fault.start_tick).isoformat().replace("+00:00", "Z")
        if fault.kind == "dropout":
            assert emitted == [None] * len(window)
            continue
        assert all(r is not None for r in emitted)
        values = [r.values[fault.measurement] for r in emitted]
        clean = [sim.clean_value(i, fault.measurement, t) for t in window]
        if fault.kind == "stuck":
            assert len(set(values)) == 1
        elif fault.kind == "spike":
            assert len(values) == 1 and values[0] != pytest.approx(clean[0], abs=0.01)
        elif fault.kind == "drift":
            offsets = [abs(v - c) for v, c in zip(values, clean, strict=True)]
            m = next(m for m in sim.devices[i].measurements if m.key == fault.measurement)
            # the offset grows, unless the sensor saturates at an end of its range
            assert offsets[-1] > offsets[0] or values[-1] in (m.low, m.high)
    # outside fault windows a device reports at every tick, with its clean value
    faulty = {(f.device_id, t) for f in faults for t in range(f.start_tick, f.end_tick + 1)}
    for t, tick in enumerate(ticks):
        reported = {r.device_id for r in tick}
        for device_id, i in index_of.items():
            if (device_id, t) not in faulty:
                assert device_id in reported
                reading = next(r for r in tick if r.device_id == device_id)
                key = sim.devices[i].measurements[0].key
                if isinstance(reading.values[key], float):
                    assert reading.values[key] == pytest.approx(
                        sim.clean_value(i, key, t), abs=0.01)


def test_faulty_values_stay_in_the_declared_range(city: VirtualCity) -> None:
    sim, ticks = _day(city, fault_rate=0.02)
    ranges = {a.device_id: {m.key: (m.low, m.high) for m in a.measurements}
              for a in sim.devices}
    for tick in ticks:
        for reading in tick:
            for key, value in reading.values.items():
                low, high = ranges[reading.device_id][key]
                if high is not None:
                    assert low <= value <= high


def test_simulate_writes_readings_and_the_ground_truth_file(tmp_path, capsys) -> None:
    import json

    from cityhub.cli import main

    faults = tmp_path / "faults.jsonl"
    code = main(["city", "simulate", "--db", f"sqlite:///{tmp_path}/hub.db", "--tenant", "sim",
                 "--speed", "0", "--ticks", "20", "--step", "300", "--fault-rate", "0.02",
                 "--faults", str(faults), "--start", "2024-03-04T00:00:00Z"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["ticks"] == 20 and report["devices"] == 323
    lines = [json.loads(line) for line in faults.read_text().splitlines()]
    assert len(lines) == report["faults"] > 0
    assert {f["kind"] for f in lines} <= {"stuck", "spike", "drift", "dropout"}
    assert all(f["start"].startswith("2024-03-0") for f in lines)
