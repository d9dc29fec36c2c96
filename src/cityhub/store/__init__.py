"""Storage: the Store contract and its adapters (SQLite embedded, PostgreSQL + PostGIS)."""

from cityhub.store.base import EntityQuery, Store, open_store

__all__ = ["EntityQuery", "Store", "open_store"]
