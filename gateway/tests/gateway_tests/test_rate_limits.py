"""Rate limits per IP and per user, stricter on writes and sign-in; shared through Redis across replicas."""

from __future__ import annotations

import uuid

import httpx
import redis

from servicekit.testing.plugin import TestStack

from .conftest import GatewayFactory
from .servers import free_port


def _problem_429(response: httpx.Response) -> None:
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert f"{retry_after} с" in response.json()["detail"]


def test_writes_and_sign_in_are_limited_more_strictly_than_reads(start_gateway: GatewayFactory) -> None:
    with start_gateway(ip_read_limit=20, ip_write_limit=3, ip_signin_limit=2) as gateway:
        writes = [httpx.post(f"{gateway}/api/v1/problems/x", json={}) for _ in range(4)]
        signins = [httpx.post(f"{gateway}/signin", data={"email": "a@example.org"}) for _ in range(3)]
        reads = [httpx.get(f"{gateway}/api/v1/problems") for _ in range(5)]

    assert [r.status_code for r in writes[:3]] == [200, 200, 200]
    _problem_429(writes[3])
    assert [r.status_code for r in signins[:2]] == [200, 200]
    _problem_429(signins[2])
    assert all(r.status_code == 200 for r in reads)


def test_each_user_has_an_own_budget(start_gateway: GatewayFactory, gorod_stack: TestStack) -> None:
    anna = gorod_stack.tokens.bearer("problems", subject=uuid.uuid4())
    boris = gorod_stack.tokens.bearer("problems", subject=uuid.uuid4())
    with start_gateway(ip_read_limit=100, principal_read_limit=2) as gateway:
        first = [httpx.get(f"{gateway}/api/v1/problems", headers=anna) for _ in range(3)]
        other = httpx.get(f"{gateway}/api/v1/problems", headers=boris)
        anonymous = httpx.get(f"{gateway}/api/v1/problems")

    assert [r.status_code for r in first[:2]] == [200, 200]
    _problem_429(first[2])
    assert other.status_code == 200
    assert anonymous.status_code == 200


def test_two_replicas_share_the_counters_in_redis(start_gateway: GatewayFactory) -> None:
    prefix = f"gorod:test:{uuid.uuid4().hex}:"
    settings = {"redis_url": "redis://127.0.0.1:6379/0", "redis_prefix": prefix, "ip_write_limit": 4}
    with start_gateway(**settings) as one, start_gateway(**settings) as two:
        answers = [httpx.post(f"{gateway}/api/v1/problems/x", json={}).status_code for gateway in (one, two) * 2]
        over = httpx.post(f"{one}/api/v1/problems/x", json={})
        also_over = httpx.post(f"{two}/api/v1/problems/x", json={})

    assert answers == [200, 200, 200, 200]
    _problem_429(over)
    _problem_429(also_over)
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        keys = client.keys(f"{prefix}*")
        assert keys, "the counters live in Redis"
        assert all(0 < client.pttl(key) <= 60_000 for key in keys)  # every counter expires
        client.delete(*keys)
    finally:
        client.close()


def test_an_unreachable_redis_does_not_stop_the_traffic(start_gateway: GatewayFactory) -> None:
    with start_gateway(redis_url=f"redis://127.0.0.1:{free_port()}/0", ip_write_limit=1) as gateway:
        answers = [httpx.post(f"{gateway}/api/v1/problems/x", json={}).status_code for _ in range(3)]

    assert answers == [200, 200, 200]
