"""The pure parts: the access decision, type names, the token bucket."""

from __future__ import annotations

import pytest

from cityhub.security.errors import Forbidden, Unauthenticated
from cityhub.security.limits import RateLimiter, retry_after
from cityhub.security.policy import DEFAULT_ROLES, Grant, Principal, authorise, short_name

OPEN = frozenset({"AirQualityObserved"})


def test_short_names() -> None:
    assert short_name("https://smartdatamodels.org/dataModel.Environment/AirQualityObserved"
                      ) == "AirQualityObserved"
    assert short_name("ex:Vehicle") == "Vehicle"
    assert short_name("urn:x#Alert") == "Alert"


def test_grants() -> None:
    some = Grant.parse(["Alert", "open"])
    assert some.allows(frozenset({"Alert"}), OPEN)
    assert some.allows(frozenset({"AirQualityObserved", "Alert"}), OPEN)
    assert not some.allows(frozenset({"Alert", "Vehicle"}), OPEN)
    assert not some.allows(None, OPEN)  # "any type" needs "*"
    assert some.allows(frozenset(), OPEN)
    assert not Grant().allows(frozenset(), OPEN)
    assert Grant.parse("*").allows(None, frozenset())


def test_decisions() -> None:
    partner = Principal("p", DEFAULT_ROLES["partner"], frozenset({"a"}))
    assert authorise(partner, "a", "read", None, OPEN) is partner
    with pytest.raises(Forbidden):
        authorise(partner, "a", "write", frozenset({"Alert"}), OPEN)
    with pytest.raises(Forbidden):
        authorise(partner, "b", "read", frozenset({"AirQualityObserved"}), OPEN)
    with pytest.raises(Unauthenticated):
        authorise(None, "a", "read", frozenset({"Alert"}), OPEN)
    assert authorise(None, "a", "read", frozenset({"AirQualityObserved"}), OPEN) is None
    with pytest.raises(Unauthenticated):
        authorise(None, "a", "admin", None, OPEN)
    root = Principal("r", DEFAULT_ROLES["admin"], frozenset({"*"}))
    assert authorise(root, "anything", "write", None, OPEN) is root


def test_token_bucket() -> None:
    now = [0.0]
    limiter = RateLimiter(lambda: now[0])
    assert [limiter.take("k", 1.0, 2.0) for _ in range(2)] == [0.0, 0.0]
    wait = limiter.take("k", 1.0, 2.0)
    assert wait == pytest.approx(1.0) and retry_after(wait) == 1
    assert limiter.take("other", 1.0, 2.0) == 0.0
    now[0] = 1.0
    assert limiter.take("k", 1.0, 2.0) == 0.0
    assert limiter.take("k", 0, 0) == 0.0  # 0: no limit
