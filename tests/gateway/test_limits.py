"""Rate limits (requests, tokens, concurrency; per key and per account), suspensions and
automatic blocks: through the gateway over HTTP, and the limiter's two backends directly
(Redis, shared by every process, runs in CI; the in-memory one always)."""

from __future__ import annotations

import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import anthropic
import openai
import pytest
import requests
from django.conf import settings

from accounts import keys
from accounts.admin import ApiKeyAdmin, UserAdmin
from accounts.models import ApiKey, User
from gateway import limits
from gateway.models import UsageRecord

HELLO = [{"role": "user", "content": "Hi"}]
IN_CI = os.environ.get("CI") == "true"


def _backends() -> list:
    found = [pytest.param(limits._MemoryBackend, id="memory")]
    if settings.REDIS_URL or IN_CI:
        found.append(pytest.param(lambda: limits._RedisBackend(settings.REDIS_URL), id="redis"))
    return found


@pytest.fixture(params=_backends())
def backend(request):
    made = request.param()
    yield made
    if isinstance(made, limits._RedisBackend):
        for name in made.client.scan_iter("test-rl:*"):
            made.client.delete(name)


def _prefixes() -> tuple[str, str]:
    run = uuid.uuid4().hex[:8]
    return (f"test-rl:{run}:k", f"test-rl:{run}:a")


NOW = 1_800_000_000_000 - 1_800_000_000_000 % limits.WINDOW_MS  # the start of a window


def _limits(key_rpm=0, key_tpm=0, key_conc=0, rpm=0, tpm=0, conc=0) -> list[int]:
    return [key_rpm, key_tpm, key_conc, rpm, tpm, conc]


def test_no_more_than_the_limit_is_admitted_under_50_concurrent_requests(backend):
    prefixes = _prefixes()
    start = threading.Barrier(50)

    def one(i: int) -> int:
        start.wait()
        return backend.admit(prefixes, f"r{i}", NOW + 5_000, _limits(rpm=10))[0]

    with ThreadPoolExecutor(50) as pool:
        codes = list(pool.map(one, range(50)))
    assert codes.count(0) == 10
    assert codes.count(4) == 40  # account requests-per-minute


def test_the_previous_minute_still_counts_by_its_overlap(backend):
    prefixes = _prefixes()
    for i in range(10):
        assert backend.admit(prefixes, f"a{i}", NOW + 50_000, _limits(rpm=10))[0] == 0
    # 30 s into the next minute, the last minute's 10 weigh 5: five more, not ten.
    admitted = [
        backend.admit(prefixes, f"b{i}", NOW + 90_000, _limits(rpm=10))[0] for i in range(8)
    ]
    assert admitted.count(0) == 5
    refused = backend.admit(prefixes, "c", NOW + 90_000, _limits(rpm=10))
    assert refused[0] == 4 and 0 < refused[1] <= 2 * limits.WINDOW_MS


def test_a_key_limit_applies_before_the_account_limit(backend):
    prefixes = _prefixes()
    answers = [
        backend.admit(prefixes, f"r{i}", NOW, _limits(key_rpm=2, rpm=100))[0] for i in range(3)
    ]
    assert answers == [0, 0, 1]


def test_concurrency_slots_are_freed_when_requests_finish(backend):
    prefixes = _prefixes()
    assert [backend.admit(prefixes, f"r{i}", NOW, _limits(conc=2))[0] for i in range(3)] == [
        0, 0, 6,
    ]  # fmt: skip
    backend.finish(prefixes, "r0", NOW + 10, 0)
    assert backend.admit(prefixes, "r3", NOW + 20, _limits(conc=2))[0] == 0
    # A slot left by a process that died expires on its own.
    later = NOW + limits.STALE_S * 1000 + 1_000
    assert backend.admit(prefixes, "r4", later, _limits(conc=2))[0] == 0


def test_tokens_count_when_requests_finish_and_then_refuse(backend):
    prefixes = _prefixes()
    first = backend.admit(prefixes, "r1", NOW, _limits(tpm=1_000))
    assert first[0] == 0 and first[5] == 1_000  # tokens remaining
    backend.finish(prefixes, "r1", NOW + 100, 1_000)
    refused = backend.admit(prefixes, "r2", NOW + 200, _limits(tpm=1_000))
    assert refused[0] == 5 and refused[1] > 0


# --- through the gateway -------------------------------------------------------------------


def _post(gateway, path="/v1/chat/completions", key=None, **extra):
    body = {"model": "sim-chat", "messages": HELLO, **extra}
    headers = {"authorization": f"Bearer {key or gateway.raw_key}"}
    if path == "/v1/messages":
        body.setdefault("max_tokens", 10)
        headers["anthropic-version"] = "2023-06-01"
    return requests.post(gateway.url + path, json=body, headers=headers, timeout=10)


def test_50_concurrent_requests_on_a_10_rpm_key_admit_exactly_10(gateway):
    _, raw = keys.create(gateway.user, name="ten", rpm_limit=10)
    before = gateway.balance()
    start = threading.Barrier(50)

    def one(_: int) -> requests.Response:
        start.wait()
        return _post(gateway, key=raw, max_tokens=20)  # ten holds well within the balance

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(one, range(50)))
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == 10 and statuses.count(429) == 40
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert gateway.sim.request_count("a") == 10
    charged = sum(r.charged_micros for r in UsageRecord.objects.all())
    assert UsageRecord.objects.count() == 10 and gateway.balance() == before - charged
    gateway.assert_books_closed()


def test_answers_carry_rate_limit_headers_in_the_clients_style(gateway):
    User.objects.filter(pk=gateway.user.pk).update(rpm_limit=50, tpm_limit=100_000)
    keys.forget_cached_for(gateway.user)
    first = _post(gateway)
    assert first.headers["x-ratelimit-limit-requests"] == "50"
    assert first.headers["x-ratelimit-remaining-requests"] == "49"
    assert first.headers["x-ratelimit-limit-tokens"] == "100000"
    second = _post(gateway)
    assert second.headers["x-ratelimit-remaining-requests"] == "48"
    used = first.json()["usage"]["total_tokens"]
    assert second.headers["x-ratelimit-remaining-tokens"] == str(100_000 - used)
    message = _post(gateway, "/v1/messages")
    assert message.headers["anthropic-ratelimit-requests-limit"] == "50"
    assert message.headers["anthropic-ratelimit-requests-remaining"] == "47"
    assert message.headers["anthropic-ratelimit-requests-reset"].endswith("Z")


def test_an_account_over_its_tokens_per_minute_gets_429_in_either_protocol(gateway):
    User.objects.filter(pk=gateway.user.pk).update(tpm_limit=20)
    keys.forget_cached_for(gateway.user)
    assert _post(gateway).status_code == 200  # the window had room; it used > 20 tokens
    before = gateway.balance()
    with pytest.raises(openai.RateLimitError) as limited:
        gateway.client().chat.completions.create(model="sim-chat", messages=HELLO)
    assert limited.value.body["type"] == "tokens"
    assert "20 tokens per minute" in limited.value.message
    with pytest.raises(anthropic.RateLimitError) as limited_anthropic:
        anthropic.Anthropic(
            base_url=gateway.url, api_key=gateway.raw_key, max_retries=0
        ).messages.create(model="sim-chat", max_tokens=10, messages=HELLO)
    assert limited_anthropic.value.body["error"]["type"] == "rate_limit_error"
    assert gateway.balance() == before


def test_concurrent_requests_beyond_the_accounts_limit_are_refused_and_slots_come_back(gateway):
    User.objects.filter(pk=gateway.user.pk).update(concurrency_limit=2)
    keys.forget_cached_for(gateway.user)
    gateway.sim.set_fault("a", latency_ms=600)
    start = threading.Barrier(5)

    def one(_: int) -> requests.Response:
        start.wait()
        return _post(gateway)

    with ThreadPoolExecutor(5) as pool:
        statuses = [a.status_code for a in pool.map(one, range(5))]
    assert statuses.count(200) == 2 and statuses.count(429) == 3
    gateway.sim.clear_fault("a")
    # Every slot was given back: two at once pass again.
    with ThreadPoolExecutor(2) as pool:
        assert [a.status_code for a in pool.map(lambda _: _post(gateway), range(2))] == [200, 200]


def test_a_suspended_key_gets_403_until_staff_lift_it(gateway, rf, admin_user):
    key = ApiKey.objects.get(owner=gateway.user)
    request = rf.post("/")
    request.user = admin_user
    request._messages = _NoMessages()
    ApiKeyAdmin(ApiKey, None).suspend(request, ApiKey.objects.filter(pk=key.pk))
    refused = _post(gateway)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "api_key_suspended"
    assert gateway.sim.request_count("a") == 0
    ApiKeyAdmin(ApiKey, None).lift_suspension(request, ApiKey.objects.filter(pk=key.pk))
    assert _post(gateway).status_code == 200


def test_an_account_that_hammers_refused_requests_is_blocked_until_staff_lift_it(
    gateway, settings, rf, admin_user
):
    settings.BLOCK_FAILURES_PER_MINUTE = 5
    for _ in range(6):
        assert _post(gateway, model="no-such-model").status_code == 404
    blocked = _post(gateway)
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "temporarily_blocked"
    assert 1 <= int(blocked.headers["retry-after"]) <= settings.BLOCK_S
    assert User.objects.get(pk=gateway.user.pk).blocked_until is not None
    request = rf.post("/")
    request.user = admin_user
    request._messages = _NoMessages()
    UserAdmin(User, None).lift_block(request, User.objects.filter(pk=gateway.user.pk))
    assert _post(gateway).status_code == 200


class _NoMessages:
    def add(self, *args, **kwargs) -> None:
        pass


def test_an_address_that_keeps_sending_bad_keys_is_turned_away_for_a_while(gateway, settings):
    settings.BAD_KEYS_PER_MINUTE = 5
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # behind our proxy

    def call(key: str, address: str) -> requests.Response:
        headers = {"authorization": f"Bearer {key}", "x-forwarded-for": f"10.9.9.9, {address}"}
        return requests.get(gateway.url + "/v1/models", timeout=5, headers=headers)

    for _ in range(6):
        assert call("sk-reapi-guess", "203.0.113.7").status_code == 401
    blocked = call(gateway.raw_key, "203.0.113.7")  # even the right key, for a while
    assert blocked.status_code == 429 and blocked.json()["error"]["code"] == "too_many_invalid_keys"
    assert int(blocked.headers["retry-after"]) == settings.BAD_KEY_BLOCK_S
    assert call(gateway.raw_key, "198.51.100.2").status_code == 200  # another address: fine
