"""`cityhub serve` start-up decisions that need no server."""

from __future__ import annotations

from cityhub.cli import DEMO_RETENTION_DAYS, bound_demo_history
from cityhub.settings import Settings


def test_the_demo_store_keeps_a_bounded_history() -> None:
    settings = Settings()
    assert bound_demo_history(settings)
    assert settings.retention_days == DEMO_RETENTION_DAYS


def test_an_operator_choice_is_kept() -> None:
    named = Settings(db="sqlite:///var/hub.db")
    assert not bound_demo_history(named) and named.retention_days is None
    forever = Settings(retention_file="policy.toml")
    assert not bound_demo_history(forever) and forever.retention_days is None
    chosen = Settings(retention_days=30)
    assert not bound_demo_history(chosen) and chosen.retention_days == 30
    still = Settings(simulator=False)
    assert not bound_demo_history(still) and still.retention_days is None
