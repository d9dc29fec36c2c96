"""The secured hub, once per module, on each store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .support import SecuredHub, secured_hub


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def secured(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[SecuredHub]:
    directory = tmp_path_factory.mktemp("secured")
    if request.param == "sqlite":
        with secured_hub(directory) as hub:
            yield hub
        return
    from broker.support import postgres_schema
    from cityhub.broker import Hub
    from cityhub.store.postgres import PostgresStore

    with postgres_schema() as (dsn, name), secured_hub(
            directory, dsn, Hub(PostgresStore(dsn, schema=name, max_size=4))) as hub:
        yield hub
