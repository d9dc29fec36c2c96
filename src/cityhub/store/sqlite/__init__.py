"""The embedded SQLite adapter (the default store)."""

from cityhub.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
