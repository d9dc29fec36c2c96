"""The PostgreSQL + PostGIS adapter (the production store), on asyncpg."""

from cityhub.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
