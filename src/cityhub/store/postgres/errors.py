"""asyncpg and connection exceptions as NGSI-LD errors: no driver exception leaves the store.

* an invalid regular expression (SQLSTATE 2201B) is BadRequestData, or TooComplexQuery when
  PostgreSQL says it is too complex; a statement cancelled by `statement_timeout` (57014) or too
  complex to plan (54001) is TooComplexQuery; another data exception (class 22) is
  BadRequestData;
* a lost or refused connection, a server shutting down, a closed pool, a timed-out connection
  attempt, or any other database error is StoreUnavailable (the client may retry).

`RETRYABLE` lists the errors after which a whole write transaction is simply run again: a unique
violation (another worker created the same entity id first), a deadlock, a serialisation
failure.
"""

from __future__ import annotations

import asyncpg
from asyncpg import exceptions as pg

from cityhub.ngsild.errors import (
    BadRequestData,
    NgsiLdError,
    StoreUnavailable,
    TooComplexQuery,
)

RETRYABLE: tuple[type[BaseException], ...] = (
    pg.UniqueViolationError,
    pg.DeadlockDetectedError,
    pg.SerializationError,
)

_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable (ConnectionError is a subclass)
    TimeoutError,
    asyncpg.InterfaceError,  # closed pool / connection, connection lost mid-query
    pg.PostgresConnectionError,
    pg.OperatorInterventionError,  # admin shutdown, cannot connect now
    pg.InsufficientResourcesError,  # too many connections, disk full
    pg.InternalClientError,
)


def translate(exc: BaseException) -> BaseException:
    """The NGSI-LD error standing for `exc` (NGSI-LD errors and others pass unchanged)."""
    if isinstance(exc, NgsiLdError):
        return exc
    if isinstance(exc, pg.InvalidRegularExpressionError):
        if "too complex" in str(exc) or "too big" in str(exc):
            return TooComplexQuery("a regular expression in the query is too complex")
        return BadRequestData(f"invalid regular expression: {_first_line(exc)}")
    if isinstance(exc, pg.QueryCanceledError):
        return TooComplexQuery("the query took too long and was cancelled")
    if isinstance(exc, pg.StatementTooComplexError | pg.ProgramLimitExceededError):
        return TooComplexQuery(f"the query is too complex: {_first_line(exc)}")
    if isinstance(exc, pg.DataError):
        return BadRequestData(f"the database rejected a value: {_first_line(exc)}")
    if isinstance(exc, _CONNECTION_ERRORS):
        return StoreUnavailable("the PostgreSQL server cannot be reached; retry later")
    if isinstance(exc, asyncpg.PostgresError):
        return StoreUnavailable(f"database error: {_first_line(exc)}")
    return exc


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
