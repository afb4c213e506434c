"""Two web servers of two worker processes each, sharing Redis (and the test database), as on
two machines, the second an API-only server (`--role api`): a route's breaker opened by one
server's requests is skipped by the other within a second, a rate limit counts both servers'
requests together, and each server's /metrics sums its own workers.

Needs Redis: CI always has it; without REDIS_URL (the embedded default, one process) this
module is skipped."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import requests
from django.conf import settings

from accounts import keys
from tests.gateway.conftest import web_servers

HELLO = [{"role": "user", "content": "Hi"}]
IN_CI = os.environ.get("CI") == "true"

pytestmark = pytest.mark.skipif(
    not settings.REDIS_URL and not IN_CI, reason="shared state across processes needs Redis"
)


@pytest.fixture
def two_servers(gateway, tmp_path) -> Iterator[list[str]]:
    # The second is an API-only server (`--role api`): shared state is the same for it.
    with web_servers("all", "api", workers=2, tmp_path=tmp_path) as urls:
        yield urls


def _chat(url: str, key: str) -> requests.Response:
    return requests.post(
        url + "/v1/chat/completions",
        json={"model": "sim-chat", "messages": HELLO, "max_tokens": 5},
        headers={"authorization": f"Bearer {key}"},
        timeout=10,
    )


def test_a_breaker_opened_by_one_process_is_skipped_by_the_other(gateway, two_servers):
    first, second = two_servers
    gateway.sim.set_fault("a", status=503)
    # Process one pays for the failures until route a's breaker opens...
    for _ in range(settings.BREAKER_FAILURES):
        answer = _chat(first, gateway.raw_key)
        assert answer.status_code == 200 and answer.headers["x-reapi-provider"] == "sim-b"
    tried = gateway.sim.request_count("a")
    assert tried == settings.BREAKER_FAILURES
    time.sleep(1.1)  # a process re-reads the shared breakers at most once a second
    # ...process two never tries route a again: it goes straight to b.
    for _ in range(5):
        answer = _chat(second, gateway.raw_key)
        assert answer.status_code == 200 and answer.headers["x-reapi-provider"] == "sim-b"
    assert gateway.sim.request_count("a") == tried


def test_a_rate_limit_counts_both_processes_together(gateway, two_servers):
    _, raw = keys.create(gateway.user, name="shared", rpm_limit=6)
    statuses = [_chat(two_servers[i % 2], raw).status_code for i in range(10)]
    assert statuses == [200] * 6 + [429] * 4


def _requests_counted(url: str) -> float:
    text = requests.get(url + "/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("reapi_requests_total{") and 'model="sim-chat"' in line
    )


def test_each_servers_metrics_sum_all_its_workers(gateway, two_servers):
    first, second = two_servers
    for i in range(12):  # new connections: both workers of a server take some
        assert _chat(two_servers[i % 3 % 2], gateway.raw_key).status_code == 200
    assert _requests_counted(first) == 8 and _requests_counted(second) == 4
