"""Settings of a whole CityHub process (the server's, a bulk import's)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


def tune_garbage_collector() -> None:
    """Fewer, cheaper collections: a server allocates many short-lived objects per request,
    and CPython's default thresholds run full collections often enough to stall requests for
    tens of milliseconds under load (bench/broker.py: GET p99 at 64 connections fell from
    ~150 ms to ~27 ms). Objects alive at start-up are frozen out of every collection."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 1000)


@contextlib.contextmanager
def garbage_collector_tuned() -> Iterator[None]:
    """`tune_garbage_collector` for a while (a bulk job run from `main` in a process that goes
    on: the previous settings come back after it)."""
    before = gc.get_threshold()
    tune_garbage_collector()
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
