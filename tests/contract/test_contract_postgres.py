"""What only the PostgreSQL adapter has to show: several workers on one database, errors that
stay NGSI-LD errors (server down, bad patterns, values PostgreSQL cannot hold), and regular
expressions that mean in PostgreSQL what they mean in Python."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import asyncpg
import pytest

from cityhub.ngsild.errors import (
    BadRequestData,
    NotImplementedFeature,
    StoreUnavailable,
    TooComplexQuery,
)
from cityhub.store.base import Delete, EntityQuery, Put, open_store
from cityhub.store.postgres import PostgresStore
from cityhub.store.postgres.are import to_are
from cityhub.store.postgres.errors import translate
from cityhub.store.postgres.schema import ensure_postgis

from .support import LATER, NOW, entity, errors, found, new_tenant, q, select, urn

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

T = new_tenant()


@pytest.fixture
async def pg(postgres_schema: tuple[str, str]) -> AsyncIterator[PostgresStore]:
    dsn, schema = postgres_schema
    store = PostgresStore(dsn, schema=schema, max_size=4)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def test_two_workers_share_one_database(
    pg: PostgresStore, postgres_schema: tuple[str, str]
) -> None:
    dsn, schema = postgres_schema
    other = PostgresStore(dsn, schema=schema, max_size=4)
    await other.open()  # the schema exists already: opening again changes nothing
    try:
        payloads = [{"id": f"W{i}", "type": "Sensor", "n": i} for i in range(40)]
        creates = [[Put(entity(p), NOW, "create")] for p in payloads]
        results = await asyncio.gather(
            *(worker.write(T, ops) for ops in creates for worker in (pg, other))
        )
        per_id: dict[str, list[str | None]] = {}
        for outcomes in results:
            per_id.setdefault(outcomes[0].entity_id, []).extend(errors(outcomes))
        assert all(sorted(map(str, e)) == ["AlreadyExists", "None"] for e in per_id.values())
        assert await other.tenant_exists(T)
        # concurrent upserts of the same ids all land, one version each
        upserts = [Put(entity(p, LATER), LATER) for p in payloads[:10]]
        await asyncio.gather(*(w.write(T, upserts) for w in (pg, other, pg, other)))
        stored = await other.get(T, [urn("W0"), urn("W9")])
        assert {s.version for s in stored.values()} == {5}
        assert (await pg.query(T, EntityQuery(count=True, limit=0))).count == 40
        assert sorted(await found(other, T, q=q("n>=38"))) == ["W38", "W39"]
    finally:
        await other.close()


async def test_a_lost_connection_is_store_unavailable_then_recovers(
    pg: PostgresStore, postgres_schema: tuple[str, str]
) -> None:
    dsn, _ = postgres_schema
    await pg.write(T, [Put(entity({"id": "A", "type": "T"}), NOW)])
    async with pg._connection() as conn:  # the pool's (only) connection
        pid = conn.get_server_pid()
    admin = await asyncpg.connect(dsn)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    outcomes = []
    for _ in range(3):
        try:
            outcomes.append(sorted(await pg.get(T, [urn("A")])))
        except StoreUnavailable:
            outcomes.append("unavailable")
    assert outcomes[-1] == [urn("A")]


async def test_open_store_picks_postgres_from_the_dsn(postgres_schema: tuple[str, str]) -> None:
    dsn, schema = postgres_schema
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await admin.close()
    store = open_store(f"{dsn}?search_path={schema},public")
    assert isinstance(store, PostgresStore)
    await store.open()
    try:
        await store.write(T, [Put(entity({"id": "D", "type": "T", "n": 1}), NOW)])
        assert await found(store, T, q=q("n==1")) == ["D"]
    finally:
        await store.close()


async def test_no_server_is_store_unavailable() -> None:
    store = PostgresStore("postgresql://postgres@127.0.0.1:1/none", connect_timeout_s=2)
    with pytest.raises(StoreUnavailable):
        await store.open()
    with pytest.raises(StoreUnavailable):
        await store.get(T, ["urn:x"])
    await store.close()


async def test_a_closed_store_is_store_unavailable(pg: PostgresStore) -> None:
    await pg.close()
    with pytest.raises(StoreUnavailable):
        await pg.query(T, EntityQuery())


async def test_postgis_missing_says_what_to_install() -> None:
    class NoPostgis:
        async def fetchval(self, sql: str) -> None:
            return None

    with pytest.raises(StoreUnavailable, match="postgresql-15-postgis-3"):
        await ensure_postgis(NoPostgis())  # type: ignore[arg-type]


def test_driver_errors_become_ngsi_ld_errors() -> None:
    from asyncpg import exceptions as pg_errors

    assert isinstance(translate(pg_errors.QueryCanceledError("timeout")), TooComplexQuery)
    assert isinstance(translate(pg_errors.InvalidRegularExpressionError("bad")), BadRequestData)
    assert isinstance(translate(pg_errors.AdminShutdownError("bye")), StoreUnavailable)
    assert isinstance(translate(pg_errors.ConnectionDoesNotExistError("gone")), StoreUnavailable)
    assert isinstance(translate(ConnectionRefusedError()), StoreUnavailable)
    assert isinstance(translate(pg_errors.UndefinedTableError("no table")), StoreUnavailable)


async def test_patterns_postgresql_rejects_are_ngsi_ld_errors(pg: PostgresStore) -> None:
    await pg.write(T, [Put(entity({"id": "A", "type": "T", "name": "aa"}), NOW)])
    with pytest.raises(BadRequestData):  # valid in Python, not in ARE: a lookahead back-reference
        await found(pg, T, q=q(r"name~=(a)(?=\1)"))
    with pytest.raises(NotImplementedFeature):
        await found(pg, T, selectors=(select(id_pattern="(?>a)"),))
    with pytest.raises(TooComplexQuery):
        await found(pg, T, selectors=(select(id_pattern="a{300}"),))
    assert await found(pg, T, q=q("name~=(a)\\1")) == ["A"]


async def test_a_value_postgresql_cannot_hold_fails_only_its_operation(pg: PostgresStore) -> None:
    # the parser refuses U+0000 (tests/ngsild/test_entity.py); the store still defends itself
    held = entity({"id": "A", "type": "T", "name": "placeholder"})
    for instances in held["attrs"].values():
        instances[0]["value"] = "nul\x00inside"
    outcomes = await pg.write(T, [
        Put(held, NOW),
        Put(entity({"id": "B", "type": "T", "name": "fine \\u0000 text"}), NOW),
        Delete(urn("A")),
    ])
    assert errors(outcomes) == ["BadRequestData", None, "ResourceNotFound"]
    assert await found(pg, T) == ["B"]


PATTERNS = [
    r"a.b", r"^ab$", r"ab$", r"\bfoo\b", r"\Bfo", r"[^a-z\d]", r"[\W]", r"[^\W\d]", r"[a\S]",
    r"(?i)straße", r"(?i)ÉT", r"(a|b)+\1", r"x{2,3}?y", r"(?s)a.b", r"(?m)^b$", r"\d+", r"\s",
    r"(?=ab)a", r"(?<!x)b", r"(?<=\n)c", r"[\]\[\\^-]", r"\.\*\+\?\(\)\{\}\|\$", r" ", r"é+",
    r"\w+", r"(?a)\w+", r"(?a)\bé", r"\Aab\Z", r"(?P<n>a)(?P=n)", r"", r"[.]", r"(?x) a  b # c",
    r"^urn:ngsi-ld:Sensor:\d{3}$", r"(?:ab){0,}c", r"a{0}b", r"\t", r"[^\n]", r"(a)|b", r"^/.*$",
    r"^/A(/.*)?$", r"^/[^/]+/B$", r"\u00e9", r"\x41", r"(?i)[a-c]+", r"[^\D]", r"(?m)b$\n?",
]
SUBJECTS = [
    "", "a\nb", "ab", "ab\n", "axb", "foo bar", "Foo", "xfoo", "A1", "é", "É", "_", " ",
    "STRASSE", "straße", "été", "ÉTÉ", "aa", "abab", "xxy", "xxxy", "a\nb\n", "b\nc", "[]\\^-",
    ".*+?(){}|$", "urn:ngsi-ld:Sensor:123", "urn:ngsi-ld:Sensor:1234", "c", "abc", "\t", "\n",
    "/A", "/A/B", "/AB", "/x/B", "/", "Ab", "ba", "٣", "CAB",
]


async def test_regular_expressions_mean_what_they_mean_in_python(
    pg: PostgresStore, postgres_schema: tuple[str, str]
) -> None:
    await pg.tenant_exists(T)  # the store found its collation
    collation = pg._collation
    conn = await asyncpg.connect(postgres_schema[0])
    try:
        wrong = []
        for pattern in PATTERNS:
            translation = to_are(pattern)
            collate = f' COLLATE "{collation}"' if translation.unicode and collation else ""
            rows = await conn.fetch(
                f'SELECT s, (s COLLATE "C"){collate} ~ $1 FROM unnest($2::text[]) AS s',
                translation.pattern, SUBJECTS,
            )
            wrong.extend((pattern, s) for s, hit in rows if hit != bool(re.search(pattern, s)))
        assert wrong == []
    finally:
        await conn.close()
