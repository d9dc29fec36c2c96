"""Crash safety (issue 6): `cityhub serve` is SIGKILLed twice in the middle of a stream of batch
upserts from four concurrent clients and restarted on the same store (SQLite file, PostgreSQL
schema). Every entity version the hub acknowledged is there afterwards, in the current state or
(for older ones) in the history, and no entity is half-written: all attributes of a version are
present together, and the history of every attribute holds the same versions."""

from __future__ import annotations

from broker.test_delivery_processes import HubProcess

from .faults import sigkill_run


def test_sigkill_mid_stream_loses_no_acknowledged_write(hub_db: str) -> None:
    verdict, extra = sigkill_run(HubProcess, hub_db, writes=60, kills=2)
    print(f"SIGKILL ({hub_db.split(':')[0]}): {verdict.figures()} {extra}")
    assert verdict.acknowledged >= 180
    assert not verdict.half_written, verdict.half_written[:10]
    assert not verdict.lost, verdict.lost[:10]
    assert verdict.found == verdict.acknowledged
