"""SQLite schema and connection set-up (what is true of the database, not of a driver).

`attr_index` holds exactly `ngsild.entity.index_leaves` of each stored document: writes made
from the stored entity change only the rows that differ (store.py), so a change to
`index_leaves` needs a new SCHEMA_VERSION whose upgrade rebuilds the rows.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from functools import lru_cache

import orjson
import regex

from cityhub.ngsild.entity import MAX_GEO_INSTANCES
from cityhub.ngsild.errors import TooComplexQuery
from cityhub.ngsild.geo import GeoQuery, geo_matches
from cityhub.store.sqlite.datasets import DDL as DATASET_DDL
from cityhub.store.sqlite.subscriptions import DDL as SUBSCRIPTION_DDL

SCHEMA_VERSION = 2
#: geometry row ids reserved per entity: more than any entity may have GeoProperty instances
GEO_SLOTS = MAX_GEO_INSTANCES
#: latitude bands of the point index per degree (0.01 degrees: about 1.1 km)
BANDS_PER_DEGREE = 100

DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tenants (name TEXT PRIMARY KEY, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS names (nid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS entities (
    eid INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    version INTEGER NOT NULL,
    doc BLOB NOT NULL,
    -- GeoProperty instances, i.e. this entity's rows in geo_points and geo_rtree (gids
    -- eid * GEO_SLOTS + i)
    geo_count INTEGER NOT NULL DEFAULT 0,
    UNIQUE (tenant, id)
);
CREATE TABLE IF NOT EXISTS entity_types (
    eid INTEGER NOT NULL,
    tid INTEGER NOT NULL,
    PRIMARY KEY (eid, tid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS attr_index (
    eid INTEGER NOT NULL,
    kid INTEGER NOT NULL,
    kind TEXT NOT NULL,
    num REAL NOT NULL,
    txt TEXT NOT NULL,
    atype TEXT,
    PRIMARY KEY (eid, kid, kind, num, txt)
) WITHOUT ROWID;
-- equality and range comparisons (a==x, a==x..y) start from this index
CREATE INDEX IF NOT EXISTS attr_index_value ON attr_index (kid, kind, num, txt);
-- One row per GeoProperty instance: gid = eid * GEO_SLOTS + ordinal, so an entity's rows are
-- one rowid range. A two-dimensional Point (most of a city's geometries: every sensor) is a
-- row of geo_points, found through a B-tree by (attribute, latitude band, longitude): a tenth
-- of the cost of an R*Tree insert (bench/broker.py). Every other geometry is an R*Tree row,
-- the geometry itself riding along as an auxiliary column.
CREATE TABLE IF NOT EXISTS geo_points (
    gid INTEGER PRIMARY KEY,
    kid INTEGER NOT NULL,
    band INTEGER NOT NULL,  -- floor(lat * BANDS_PER_DEGREE)
    lon REAL NOT NULL,
    lat REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS geo_points_place ON geo_points (kid, band, lon, lat);
CREATE VIRTUAL TABLE IF NOT EXISTS geo_rtree USING rtree (
    gid, min_lon, max_lon, min_lat, max_lat, +eid INTEGER, +kid INTEGER, +geometry BLOB
);
-- Attribute instances as written (store.changes): the temporal API's data. One series is one
-- attribute instance (kid, dataset_id) of one entity (eid), scanned by time; times are
-- milliseconds since the Unix epoch (UTC). An entity's history goes when the entity does.
CREATE TABLE IF NOT EXISTS attr_history (
    hid INTEGER PRIMARY KEY,
    eid INTEGER NOT NULL,
    kid INTEGER NOT NULL,
    dataset_id TEXT,
    observed_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    num REAL,
    instance BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS attr_history_series ON attr_history (eid, kid, observed_at);
-- Change records awaiting the notification dispatcher (store.changes); AUTOINCREMENT so a
-- sequence number is never reused after its row is consumed.
CREATE TABLE IF NOT EXISTS change_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    at TEXT NOT NULL,
    previous BLOB,
    current BLOB
);
CREATE TABLE IF NOT EXISTS jsonld_contexts (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    kind TEXT NOT NULL,
    document BLOB NOT NULL,
    created_at TEXT NOT NULL
);
"""

PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA temp_store = MEMORY",
    "PRAGMA cache_size = -65536",
    "PRAGMA mmap_size = 268435456",
    "PRAGMA busy_timeout = 10000",
)

REGEX_TIMEOUT_S = 0.05


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> regex.Pattern[str]:
    return regex.compile(pattern)


def _regexp(pattern: str, value: str | None) -> bool:
    if value is None:
        return False
    try:
        return _compiled(pattern).search(value, timeout=REGEX_TIMEOUT_S) is not None
    except TimeoutError:
        raise TooComplexQuery("regular expression took too long to evaluate") from None


_per_thread = threading.local()


def _geo_query(encoded: str) -> GeoQuery:
    """The GeoQuery an encoded parameter stands for, cached per thread: a prepared shapely
    geometry must not be used from two threads at once."""
    cache: dict[str, GeoQuery] | None = getattr(_per_thread, "geo", None)
    if cache is None:
        cache = _per_thread.geo = {}
    found = cache.get(encoded)
    if found is None:
        if len(cache) > 64:
            cache.clear()
        found = cache[encoded] = _decode_geo_query(encoded)
    return found


def _decode_geo_query(encoded: str) -> GeoQuery:
    raw = orjson.loads(encoded)
    return GeoQuery(
        georel=raw["georel"],
        geometry=raw["geometry"],
        geoproperty=raw["geoproperty"],
        max_distance=raw["max_distance"],
        min_distance=raw["min_distance"],
    )


def encode_geo_query(geoq: GeoQuery) -> str:
    return orjson.dumps(
        {
            "georel": geoq.georel,
            "geometry": geoq.geometry,
            "geoproperty": geoq.geoproperty,
            "max_distance": geoq.max_distance,
            "min_distance": geoq.min_distance,
        }
    ).decode()


def _geo_match(encoded: str, geometry: bytes) -> bool:
    return geo_matches(_geo_query(encoded), orjson.loads(geometry))


def _geo_point_match(encoded: str, lon: float, lat: float) -> bool:
    return geo_matches(_geo_query(encoded), {"type": "Point", "coordinates": [lon, lat]})


def point_row(geometry: dict) -> tuple[int, float, float] | None:
    """(band, lon, lat) of a geometry that belongs in geo_points: a Point of two coordinates
    (a third, an altitude, keeps it in the R*Tree with its exact geometry)."""
    if geometry["type"] != "Point":
        return None
    coordinates = geometry["coordinates"]
    if len(coordinates) != 2:
        return None
    lon, lat = float(coordinates[0]), float(coordinates[1])
    return math.floor(lat * BANDS_PER_DEGREE), lon, lat


def connect(path: str, *, read_only: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in PRAGMAS:
        if read_only and "journal_mode" in pragma:
            continue
        conn.execute(pragma)
    if read_only:
        conn.execute("PRAGMA query_only = 1")
    conn.create_function("regexp", 2, _regexp, deterministic=True)
    conn.create_function("geo_match", 2, _geo_match, deterministic=True)
    conn.create_function("geo_point_match", 3, _geo_point_match, deterministic=True)
    return conn


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the schema, or bring a database an earlier version wrote up to this one (in one
    transaction: a failed upgrade leaves the database as it was)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row is not None else SCHEMA_VERSION
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"the database has schema version {version}; this CityHub knows up to "
                f"{SCHEMA_VERSION}: upgrade CityHub to open it")
        for script in (DDL, SUBSCRIPTION_DDL, DATASET_DDL):
            _execute_script(conn, script)
        if version < 2:
            _points_out_of_rtree(conn)
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                     (str(SCHEMA_VERSION),))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _execute_script(conn: sqlite3.Connection, script: str) -> None:
    """Run a script's statements one by one (`executescript` would commit the transaction)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"an incomplete statement ends the script: {statement!r}")


def _points_out_of_rtree(conn: sqlite3.Connection) -> None:
    """Version 1 -> 2: the two-dimensional Points move from geo_rtree to geo_points (their
    coordinates read from the stored geometry: the R*Tree keeps only 32-bit bounds)."""
    moved = []
    for gid, kid, geometry in conn.execute("SELECT gid, kid, geometry FROM geo_rtree"):
        point = point_row(orjson.loads(geometry))
        if point is not None:
            moved.append((gid, kid, *point))
    conn.executemany("INSERT INTO geo_points (gid, kid, band, lon, lat) VALUES (?, ?, ?, ?, ?)",
                     moved)
    conn.executemany("DELETE FROM geo_rtree WHERE gid = ?", [(row[0],) for row in moved])
