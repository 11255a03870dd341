"""Fixed-window rate limits shared by every worker of a web API through Redis.

    limiter = Limiter(redis.Redis.from_url(url), limit=100, window=60)
    decision = limiter.hit("api-key-123")
    if not decision.allowed:
        return 429, {"Retry-After": str(decision.retry_after)}
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Protocol

__all__ = ["Decision", "Limiter", "window_key"]


class Store(Protocol):
    def pipeline(self, transaction: bool = True): ...


@dataclass(frozen=True)
class Decision:
    """Whether one request may pass, and what the client is told."""

    allowed: bool
    remaining: int
    retry_after: int

    def headers(self) -> dict[str, str]:
        """The conventional rate-limit response headers."""
        headers = {"X-RateLimit-Remaining": str(self.remaining)}
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


def window_key(client: str, window: int, now: float) -> str:
    """The counter of `client` for the window that contains `now`."""
    if not client or any(c.isspace() for c in client):
        raise ValueError("a client id is one word")
    if window <= 0:
        raise ValueError("the window must be positive")
    return f"tollgate:{client}:{int(now // window)}"


class Limiter:
    """At most `limit` hits per client in each `window` seconds."""

    def __init__(
        self,
        store: Store,
        limit: int,
        window: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if limit <= 0:
            raise ValueError("the limit must be positive")
        self.store = store
        self.limit = limit
        self.window = window
        self.clock = clock

    def hit(self, client: str) -> Decision:
        """Count one request of `client` and decide on it."""
        now = self.clock()
        key = window_key(client, self.window, now)
        pipe = self.store.pipeline(transaction=True)
        pipe.incr(key)
        # The counter outlives its window by a little, never forever.
        pipe.expire(key, self.window + 1, nx=True)
        count, _ = pipe.execute()
        retry_after = max(1, int(self.window - (now % self.window)))
        remaining = max(0, self.limit - int(count))
        return Decision(int(count) <= self.limit, remaining, retry_after)
