"""Against a real Redis server: the one CI starts as a service (REDIS_URL)."""

import os
import uuid

import pytest
import redis

from tollgate import Limiter

pytestmark = pytest.mark.integration


@pytest.fixture
def store():
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.fail("REDIS_URL is not set: start Redis and point REDIS_URL at it")
    client = redis.Redis.from_url(url)
    client.ping()
    yield client
    client.close()


def test_the_limit_holds_across_workers(store):
    clock = lambda: 1_000_000.0  # noqa: E731
    client = f"key-{uuid.uuid4().hex}"
    # Two limiters, as two worker processes of one API would have.
    first = Limiter(store, limit=3, window=60, clock=clock)
    second = Limiter(store, limit=3, window=60, clock=clock)
    decisions = [first.hit(client), second.hit(client), first.hit(client), second.hit(client)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[-1].retry_after == 20
    assert decisions[2].remaining == 0


def test_counters_expire_after_their_window(store):
    client = f"key-{uuid.uuid4().hex}"
    Limiter(store, limit=1, window=5, clock=lambda: 10.0).hit(client)
    ttl = store.ttl(f"tollgate:{client}:2")
    assert 0 < ttl <= 6
