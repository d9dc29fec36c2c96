"""Database faults on PostgreSQL (issue 6), with real hub processes under a stream of batch
upserts from four clients:

* the hub's connections are terminated (pg_terminate_backend on its application_name; the shared
  server is not restarted, other tests use it) three times during the stream;
* the database becomes unreachable for two seconds: the hub talks to PostgreSQL through a TCP
  proxy the test cuts (every connection dropped, new ones refused) and restores.

Meanwhile the hub answers 503 with Retry-After and a ProblemDetails body, never hangs; it
reconnects by itself once the database is back; no acknowledged write is lost."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from broker.test_delivery_processes import HubProcess
from conftest import postgres_test_dsn
from ingest.proxy import TcpProxy

from .faults import Verdict, connections_dropped_run, through, unreachable_run

pytestmark = pytest.mark.postgres


@pytest.fixture
def postgres_proxy() -> Iterator[TcpProxy]:
    target = urlsplit(postgres_test_dsn())
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
    try:
        yield proxy
    finally:
        proxy.close()


def assert_nothing_lost(verdict: Verdict) -> None:
    assert not verdict.half_written, verdict.half_written[:10]
    assert not verdict.lost, verdict.lost[:10]
    assert verdict.found == verdict.acknowledged > 0


def test_dropped_connections_give_503_then_the_hub_reconnects(
        postgres_hub_dsn: tuple[str, str]) -> None:
    dsn, application_name = postgres_hub_dsn
    verdict, extra = connections_dropped_run(HubProcess, dsn, postgres_test_dsn(),
                                             application_name, writes=60, drops=3)
    print(f"connections dropped: {verdict.figures()} {extra}")
    assert extra["connections_terminated"] >= 3, "the test terminated none of the hub's"
    assert extra["bad_503"] == 0
    assert set(extra["failures"]) <= {"503", "207-error"}, extra["failures"]
    assert_nothing_lost(verdict)


def test_an_unreachable_database_gives_503_with_retry_after_then_recovers(
        postgres_hub_dsn: tuple[str, str], postgres_proxy: TcpProxy) -> None:
    verdict, extra = unreachable_run(HubProcess, through(postgres_proxy, postgres_hub_dsn[0]),
                                     postgres_proxy, writes=60, outage=2.0)
    print(f"database unreachable: {verdict.figures()} {extra}")
    probes = extra["probes"]
    assert probes.get("503-ok", 0) >= 5, probes
    assert set(probes) <= {"503-ok", "200"}, probes  # no hang, no 500, no bare 503
    assert extra["bad_503"] == 0
    assert set(extra["failures"]) <= {"503", "207-error"}, extra["failures"]
    assert extra["recovered_s"] < 10
    assert_nothing_lost(verdict)
