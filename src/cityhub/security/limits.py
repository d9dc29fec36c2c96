"""Per-caller rate limits: one token bucket per API key / JWT subject / anonymous address."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

#: buckets kept at most (least recently used ones are dropped: a fresh bucket is full)
MAX_BUCKETS = 100_000


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, who: str, rate: float, burst: float) -> float:
        """Take one token from `who`'s bucket: 0.0 when allowed, else the seconds to wait."""
        if rate <= 0:
            return 0.0
        now = self._clock()
        tokens, last = self._buckets.pop(who, (burst, now))
        tokens = min(burst, tokens + (now - last) * rate)
        if tokens >= 1.0:
            self._buckets[who] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[who] = (tokens, now)
            wait = (1.0 - tokens) / rate
        if len(self._buckets) > MAX_BUCKETS:
            self._buckets.popitem(last=False)
        return wait


def retry_after(wait: float) -> int:
    return max(1, math.ceil(wait))
