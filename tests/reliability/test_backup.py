"""Backup and restore (issue 6), with exactly the commands docs/operations.md gives:

* SQLite: `sqlite3 hub.db ".backup copy.db"` while the hub runs, once during a stream of batch
  upserts (the copy is whole: no half-written entity, nothing acknowledged before the backup
  missing) and once when it is idle (the copy is identical);
* PostgreSQL: `pg_dump --format=custom` of the hub's database while the hub runs, `createdb`
  and `pg_restore` into a new database.

A second hub serves the copy; it answers the same entities (system attributes included),
history and subscriptions as the original."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from broker.test_delivery_processes import HubProcess
from conftest import postgres_problem, postgres_test_dsn, require_service

from .faults import NGSI_LD, TYPE, BatchWriters, values_of

SUBSCRIPTION = {"type": "Subscription", "entities": [{"type": "Alarm"}],
                "notification": {"endpoint": {"uri": "http://127.0.0.1:9/never"}}}


def snapshot(url: str) -> dict[str, Any]:
    """What a hub serves: entities with system attributes, their history, subscriptions."""
    with httpx.Client(base_url=url + NGSI_LD, timeout=30) as http:
        entities = http.get("/entities", params={"type": TYPE, "limit": "1000",
                                                 "options": "sysAttrs"})
        history = http.get("/temporal/entities", params={"type": TYPE, "limit": "1000",
                                                          "options": "temporalValues"})
        subscriptions = http.get("/subscriptions")
    for answer in (entities, history, subscriptions):
        assert answer.status_code == 200, answer.text
    return {"entities": sorted(entities.json(), key=lambda e: e["id"]),
            "history": sorted(history.json(), key=lambda e: e["id"]),
            "subscriptions": subscriptions.json()}


def write_some(hub: HubProcess, writes: int = 100) -> None:
    created = httpx.post(hub.url + NGSI_LD + "/subscriptions", json=SUBSCRIPTION, timeout=10)
    assert created.status_code == 201, created.text
    with BatchWriters([hub.url], clients=2) as writers:
        writers.wait_for(writes)


def run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{command}: {done.stderr}"


def assert_served_alike(original: HubProcess, copy_db: str) -> None:
    copy = HubProcess(copy_db).start()
    try:
        expected = snapshot(original.url)
        assert expected["entities"] and expected["subscriptions"]
        assert snapshot(copy.url) == expected
    finally:
        copy.stop()


def test_sqlite_online_backup_is_whole_and_served_alike(tmp_path: Path) -> None:
    hub = HubProcess(f"sqlite:///{tmp_path / 'hub.db'}").start()
    try:
        created = httpx.post(hub.url + NGSI_LD + "/subscriptions", json=SUBSCRIPTION,
                             timeout=10)
        assert created.status_code == 201
        with BatchWriters([hub.url], clients=2) as writers:
            writers.wait_for(100)
            # acknowledged before the backup starts: in the copy, that version or a later one
            before = {eid: values[-1] for eid, values in list(writers.acknowledged.items())}
            run("sqlite3", str(tmp_path / "hub.db"), f".backup {tmp_path / 'busy.db'}")
            writers.wait_for(50)
        busy = HubProcess(f"sqlite:///{tmp_path / 'busy.db'}").start()
        try:
            copied = {e["id"]: values_of(e) for e in snapshot(busy.url)["entities"]}
            assert all(len(set(values)) == 1 for values in copied.values()), copied
            assert before and all(copied[eid][0] >= value for eid, value in before.items())
        finally:
            busy.stop()
        run("sqlite3", str(tmp_path / "hub.db"), f".backup {tmp_path / 'idle.db'}")
        assert_served_alike(hub, f"sqlite:///{tmp_path / 'idle.db'}")
    finally:
        hub.stop()


@pytest.fixture
def postgres_databases() -> Iterator[tuple[str, str]]:
    """DSNs of two new, empty databases (the hub's and the restore's), dropped afterwards."""
    import asyncio

    admin = postgres_test_dsn()
    problem = asyncio.run(postgres_problem(admin))
    if problem is not None:
        require_service("PostgreSQL with PostGIS", problem)
    names = [f"cityhub_backup_{uuid.uuid4().hex[:10]}", ""]
    names[1] = names[0] + "_restored"
    parts = urlsplit(admin)
    dsns = [urlunsplit(parts._replace(path="/" + name, query="")) for name in names]
    run("createdb", "--maintenance-db", admin, names[0])
    try:
        yield dsns[0], dsns[1]
    finally:
        for name in names:
            subprocess.run(["dropdb", "--maintenance-db", admin, "--force", "--if-exists",
                            name], capture_output=True, timeout=60)


@pytest.mark.postgres
def test_postgres_dump_and_restore_is_served_alike(postgres_databases: tuple[str, str],
                                                   tmp_path: Path) -> None:
    source, target = postgres_databases
    hub = HubProcess(source).start()
    try:
        write_some(hub)
        dump = tmp_path / "cityhub.dump"
        run("pg_dump", "--format=custom", f"--file={dump}", source)
        run("createdb", "--maintenance-db", postgres_test_dsn(), target.rsplit("/", 1)[1])
        run("pg_restore", "--no-owner", f"--dbname={target}", str(dump))
        assert_served_alike(hub, target)
    finally:
        hub.stop()
