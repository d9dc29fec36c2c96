"""Write streams against real `cityhub serve` processes, and the checks made after a fault.

`BatchWriters` runs several concurrent clients, each POSTing batch upserts of its own entities
(every attribute of every entity of batch n holds n) through whichever hub URL is current, and
records which entity versions the hub acknowledged (201/204, or the success list of a 207) and
which it answered with an error (the 503s must carry Retry-After and a ProblemDetails body).
`verify` then reads the store back through the API and counts the acknowledged writes it finds:
an entity whose attributes disagree (half-written) or whose history misses an acknowledged value
counts as lost. The tests (small streams) and bench/reliability.py (large ones) share it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from broker.test_delivery_processes import postgres_schema_dsn

NGSI_LD = "/ngsi-ld/v1"
TYPE = "Meter"
#: the attributes every version writes together
ATTRIBUTES = ("seq", "reading", "status")


def entity_id(client: int, index: int) -> str:
    return f"urn:ngsi-ld:{TYPE}:c{client}-e{index}"


def version(eid: str, value: int) -> dict[str, Any]:
    return {"id": eid, "type": TYPE,
            "seq": {"type": "Property", "value": value},
            "reading": {"type": "Property", "value": value * 10},
            "status": {"type": "Property", "value": f"v{value}"}}


def values_of(entity: dict[str, Any]) -> tuple[Any, ...]:
    """(seq, reading / 10, status number) of a stored entity: equal when it is whole."""
    def attr(name: str) -> Any:
        found = entity.get(name)
        return found.get("value") if isinstance(found, dict) else None

    reading, status = attr("reading"), attr("status")
    return (attr("seq"),
            reading / 10 if isinstance(reading, int | float) else None,
            int(status[1:]) if isinstance(status, str) and status[1:].isdigit() else None)


@dataclass
class BatchWriters:
    """`clients` threads, each upserting batches of `per_batch` entities of its own."""

    urls: list[str]
    clients: int = 4
    per_batch: int = 5
    pause: float = 0.0
    #: entity id -> every value the hub acknowledged for it, in order
    acknowledged: dict[str, list[int]] = field(default_factory=dict)
    #: entity id -> the highest value sent for it (acknowledged or not)
    attempted: dict[str, int] = field(default_factory=dict)
    #: status code (or exception name) -> count, of the answers that were not successes
    failures: Counter[str] = field(default_factory=Counter)
    #: the 503 answers that lacked Retry-After or a ProblemDetails body
    bad_unavailable: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(c,), daemon=True,
                                          name=f"cityhub-test-writer-{c}")
                         for c in range(self.clients)]

    def __enter__(self) -> BatchWriters:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    @property
    def acknowledged_writes(self) -> int:
        with self._lock:
            return sum(len(values) for values in self.acknowledged.values())

    def wait_for(self, writes: int, timeout: float = 20.0) -> None:
        """Until `writes` more entity versions than now are acknowledged."""
        target = self.acknowledged_writes + writes
        deadline = time.monotonic() + timeout
        while self.acknowledged_writes < target:
            assert time.monotonic() < deadline, (
                f"the hub stopped acknowledging writes: {dict(self.failures)}")
            time.sleep(0.02)

    def _run(self, client: int) -> None:
        ids = [entity_id(client, i) for i in range(self.per_batch)]
        value = 0
        with httpx.Client(timeout=10) as http:
            while not self._stop.is_set():
                value += 1
                with self._lock:
                    for eid in ids:
                        self.attempted[eid] = value
                url = self.urls[value % len(self.urls)]
                try:
                    response = http.post(f"{url}{NGSI_LD}/entityOperations/upsert",
                                         json=[version(eid, value) for eid in ids])
                except httpx.HTTPError as exc:
                    self.failures[type(exc).__name__] += 1
                    time.sleep(0.02)
                    continue
                self._record(response, ids, value)
                if self.pause:
                    time.sleep(self.pause)

    def _record(self, response: httpx.Response, ids: list[str], value: int) -> None:
        if response.status_code in (201, 204):
            done = ids
        elif response.status_code == 207:
            done = [eid for eid in response.json()["success"]]
            self.failures["207-error"] += len(ids) - len(done)
        else:
            self.failures[str(response.status_code)] += 1
            if response.status_code == 503 and not unavailable_is_well_formed(response):
                self.bad_unavailable.append(f"{response.headers} {response.text[:200]}")
            time.sleep(0.02)
            return
        with self._lock:
            for eid in done:
                self.acknowledged.setdefault(eid, []).append(value)


def unavailable_is_well_formed(response: httpx.Response) -> bool:
    """A 503 with a Retry-After of whole seconds and a ProblemDetails body."""
    try:
        body = response.json()
    except ValueError:
        return False
    return (response.headers.get("retry-after", "").isdigit()
            and isinstance(body, dict) and {"type", "title"} <= body.keys())


@dataclass
class Verdict:
    acknowledged: int  # acknowledged entity versions
    found: int  # of those, present after the fault (in the current state and the history)
    half_written: list[str]  # entities whose attributes disagree
    lost: list[str]  # "<id>@<value>" of acknowledged versions missing

    def figures(self) -> dict[str, Any]:
        return {"acknowledged": self.acknowledged, "found": self.found,
                "half_written": len(self.half_written), "lost": len(self.lost)}


def verify(url: str, writers: BatchWriters) -> Verdict:
    """Read every written entity and its history back from the hub at `url`."""
    half, lost, found = [], [], 0
    with httpx.Client(base_url=url + NGSI_LD, timeout=30) as http:
        for eid, values in sorted(writers.acknowledged.items()):
            response = http.get(f"/entities/{eid}")
            if response.status_code != 200:
                lost += [f"{eid}@{v}" for v in values]
                continue
            now = values_of(response.json())
            if len(set(now)) != 1:
                half.append(f"{eid}: {now}")
                continue
            history = http.get(f"/temporal/entities/{eid}",
                               params={"options": "temporalValues"}).json()
            per_attribute = [_history_values(history, name) for name in ATTRIBUTES]
            if not per_attribute[0] == per_attribute[1] == per_attribute[2]:
                half.append(f"{eid}: history of its attributes differ")
                continue
            missing = {v for v in values if v not in per_attribute[0]}
            # the latest version may be one the hub committed but could not acknowledge
            if not values[-1] <= now[0] <= writers.attempted[eid]:
                missing.add(values[-1])
            lost += [f"{eid}@{v} (now {now[0]})" for v in sorted(missing)]
            found += len(values) - len(missing)
    return Verdict(sum(len(v) for v in writers.acknowledged.values()), found, half, lost)


def _history_values(history: dict[str, Any], name: str) -> set[int]:
    pairs = history.get(name, {}).get("values", [])
    out = set()
    for value, _at in pairs:
        if name == "reading":
            value = value / 10
        elif name == "status":
            value = int(value[1:])
        out.add(int(value))
    return out


# ------------------------------------------------------------------------------ the faults
# Each runs a stream through a fresh hub process on `db`, makes its fault, lets the stream go on
# after it, and returns the verdict read from a hub restarted on the same store (`extra` holds
# what the fault itself showed). `writes` sets the size of the stream between two faults.


def sigkill_run(hub_process: Any, db: str, *, writes: int = 60, kills: int = 2,
                clients: int = 4) -> tuple[Verdict, dict[str, Any]]:
    """SIGKILL the hub `kills` times in the middle of the stream, restarting it on the store."""
    hub = hub_process(db).start()
    try:
        with BatchWriters([hub.url], clients=clients) as writers:
            for _ in range(kills):
                writers.wait_for(writes)
                hub.kill()
                hub.start()
            writers.wait_for(writes)
        return read_back(hub, writers, kills=kills)
    finally:
        hub.stop()


def read_back(hub: Any, writers: BatchWriters, **fault: Any) -> tuple[Verdict, dict[str, Any]]:
    """SIGKILL and restart the hub once more, then verify; the fault's figures with the
    stream's (`failures`: answers that were not successes; `bad_503`: 503s lacking
    Retry-After or ProblemDetails)."""
    hub.kill()
    hub.start()
    return verify(hub.url, writers), {**fault, "failures": dict(writers.failures),
                                      "bad_503": len(writers.bad_unavailable)}


def terminate_backends(admin_dsn: str, application_name: str) -> int:
    """pg_terminate_backend every connection of `application_name`; how many there were."""
    import asyncio

    import asyncpg

    async def run() -> int:
        conn = await asyncpg.connect(admin_dsn, timeout=10)
        try:
            return len(await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = $1 AND pid <> pg_backend_pid()", application_name))
        finally:
            await conn.close()

    return asyncio.run(run())


def connections_dropped_run(hub_process: Any, db: str, admin_dsn: str, application_name: str,
                            *, writes: int = 60, drops: int = 3,
                            clients: int = 4) -> tuple[Verdict, dict[str, Any]]:
    """Terminate the hub's PostgreSQL connections `drops` times while it takes writes."""
    hub = hub_process(db).start()
    terminated = 0
    try:
        with BatchWriters([hub.url], clients=clients) as writers:
            for _ in range(drops):
                writers.wait_for(writes)
                terminated += terminate_backends(admin_dsn, application_name)
            writers.wait_for(writes)  # it reconnected by itself
        return read_back(hub, writers, drops=drops, connections_terminated=terminated)
    finally:
        hub.stop()


def unreachable_run(hub_process: Any, db: str, proxy: Any, *, writes: int = 60,
                    outage: float = 2.0, clients: int = 4) -> tuple[Verdict, dict[str, Any]]:
    """Cut the hub's TCP path to PostgreSQL (`proxy`, which `db` points at) for `outage`
    seconds in the middle of the stream; probe it meanwhile."""
    hub = hub_process(db).start()
    try:
        with BatchWriters([hub.url], clients=clients) as writers:
            writers.wait_for(writes)
            proxy.cut()
            probes = probe_while(hub.url, outage)
            proxy.restore()
            back = time.monotonic()
            writers.wait_for(writes, timeout=30)  # it reconnected by itself
            recovered_s = time.monotonic() - back
        return read_back(hub, writers, outage_s=outage, probes=probes,
                         recovered_s=round(recovered_s, 2))
    finally:
        hub.stop()


def probe_while(url: str, seconds: float) -> dict[str, int]:
    """GET an entity every 50 ms for `seconds`: answers by status ("503-ok": a 503 with
    Retry-After and ProblemDetails, "503-bad" without); a probe slower than 5 s is a "hang"."""
    answers: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=5) as http:
        while time.monotonic() < deadline:
            try:
                response = http.get(f"{url}{NGSI_LD}/entities/{entity_id(0, 0)}")
            except httpx.TimeoutException:
                answers["hang"] += 1
                continue
            except httpx.HTTPError as exc:
                answers[type(exc).__name__] += 1
                continue
            status = str(response.status_code)
            if status == "503":
                status += "-ok" if unavailable_is_well_formed(response) else "-bad"
            answers[status] += 1
            time.sleep(0.05)
    return dict(answers)


@contextmanager
def postgres_hub_dsn() -> Iterator[tuple[str, str]]:
    """(DSN of a fresh PostgreSQL schema for hub processes, the application_name its
    connections carry, so that exactly this hub's connections can be terminated)."""
    name = f"cityhub-rel-{uuid.uuid4().hex[:12]}"
    with postgres_schema_dsn() as dsn:
        yield f"{dsn}&application_name={name}", name


def through(proxy: Any, dsn: str) -> str:
    """`dsn` with its host and port replaced by those of `proxy` (a tests/ingest TcpProxy)."""
    parts = urlsplit(dsn)
    user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))
