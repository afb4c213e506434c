"""API rate limits: requests per minute, tokens per minute and concurrent requests, per key
and per account, checked and counted atomically (one Redis round trip per request).

Where limits come from: the key's own (`ApiKey.rpm_limit`, ... — optional), the account's
(`User.rpm_limit`, ... set by staff), else the subscription plan's (`Plan.rpm_limit`, ...),
else the site default (`RATE_LIMIT_ACCOUNT_*`). A request must pass every limit that applies.

- Requests and tokens use a sliding window: the current minute's count plus the previous
  minute's weighted by how much of it still overlaps the last 60 s. It never admits more
  than the limit in a burst (the check and the count are one atomic step), and it has no
  reset cliff where twice the limit could pass.
- A request is admitted on tokens while the window's tokens are below the limit; its actual
  tokens (input + output) are counted when it finishes. So in-flight requests can overshoot
  the token limit once, as with other providers, but never twice.
- Concurrency is a set of in-flight request ids with their start time: `finish` removes the
  id; a process that dies leaves its ids, which expire after STALE_S.

With REDIS_URL the state is in Redis, shared by every process and machine (a Lua script
does the check and the counting in one round trip); without it (the embedded default, one
web process) the same rules run in process memory.

Abuse: an account whose requests keep being refused (any 4xx we answer after knowing the
account, 429s included) more than BLOCK_FAILURES_PER_MINUTE times in a minute is blocked for
BLOCK_S seconds (`User.blocked_until`, which staff can lift in admin).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from accounts import keys
from accounts.keys import AuthenticatedKey, Limits
from accounts.models import User
from gateway.errors import ApiError

WINDOW_MS = 60_000
STALE_S = 15 * 60  # an in-flight id older than this belongs to a dead process
SCOPES = ("key", "account")
# Which limit refused a request: the code's index in the limiter's answer.
REFUSALS = {1: ("key", "requests"), 2: ("key", "tokens"), 3: ("key", "concurrency"),
            4: ("account", "requests"), 5: ("account", "tokens"),
            6: ("account", "concurrency")}  # fmt: skip


@dataclass(frozen=True)
class Grant:
    """An admitted request's place in the limits, and what its response headers say."""

    request_id: str
    key_id: int
    account_id: int
    requests_limit: int
    requests_remaining: int
    requests_reset_ms: int
    tokens_limit: int
    tokens_remaining: int
    tokens_reset_ms: int


def _limits(limits: Limits) -> list[int]:
    """The six limits in the limiter's order; 0 means none."""
    return [limits.key_rpm or 0, limits.key_tpm or 0, limits.key_concurrency or 0,
            limits.account_rpm or 0, limits.account_tpm or 0,
            limits.account_concurrency or 0]  # fmt: skip


# KEYS: key prefix, account prefix. ARGV: now_ms, request id, window_ms, stale_ms, then the
# six limits (key rpm, tpm, concurrency; account rpm, tpm, concurrency; 0 = none).
# Returns {0, req_limit, req_remaining, req_reset_ms, tok_limit, tok_remaining, tok_reset_ms}
# or {code, retry_after_ms}.
_LUA_ADMIT = """
local now = tonumber(ARGV[1])
local rid = ARGV[2]
local win = tonumber(ARGV[3])
local stale = tonumber(ARGV[4])
local idx = math.floor(now / win)
local into = now - idx * win
local left = 1 - into / win
local function weighted(name)
  local cur = tonumber(redis.call('GET', name .. ':' .. idx) or '0')
  local prev = tonumber(redis.call('GET', name .. ':' .. (idx - 1)) or '0')
  return cur + prev * left, cur, prev
end
-- ms until `used + extra <= limit` holds again, for a window at (cur, prev).
local function wait_ms(cur, prev, limit, extra)
  if cur + extra > limit then
    if cur == 0 then return win - into end
    local need = 1 - (limit - extra) / cur
    if need < 0 then need = 0 end
    return (win - into) + math.ceil(need * win)
  end
  if prev == 0 then return 1 end
  local need = 1 - (limit - cur - extra) / prev
  return math.max(1, math.ceil(need * win) - into)
end
local best = {-1, -1, 0, -1, -1, 0}
for i = 1, 2 do
  local prefix = KEYS[i]
  local rpm = tonumber(ARGV[4 + (i - 1) * 3 + 1])
  local tpm = tonumber(ARGV[4 + (i - 1) * 3 + 2])
  local conc = tonumber(ARGV[4 + (i - 1) * 3 + 3])
  local code = (i - 1) * 3
  if rpm > 0 then
    local used, cur, prev = weighted(prefix .. ':r')
    if used + 1 > rpm then return {code + 1, wait_ms(cur, prev, rpm, 1)} end
    local remaining = math.floor(rpm - used - 1)
    if best[2] < 0 or remaining < best[2] then
      best[1] = rpm; best[2] = remaining; best[3] = 2 * win - into
    end
  end
  if tpm > 0 then
    local used, cur, prev = weighted(prefix .. ':t')
    if used >= tpm then return {code + 2, wait_ms(cur, prev, tpm, 0)} end
    local remaining = math.floor(tpm - used)
    if best[5] < 0 or remaining < best[5] then
      best[4] = tpm; best[5] = remaining
      best[6] = (cur > 0 and (2 * win - into)) or (prev > 0 and (win - into)) or 0
    end
  end
  if conc > 0 then
    redis.call('ZREMRANGEBYSCORE', prefix .. ':c', '-inf', now - stale)
    if redis.call('ZCARD', prefix .. ':c') >= conc then return {code + 3, 1000} end
  end
end
for i = 1, 2 do
  local prefix = KEYS[i]
  if tonumber(ARGV[4 + (i - 1) * 3 + 1]) > 0 then
    local name = prefix .. ':r:' .. idx
    redis.call('INCR', name)
    redis.call('PEXPIRE', name, win * 2)
  end
  if tonumber(ARGV[4 + (i - 1) * 3 + 3]) > 0 then
    redis.call('ZADD', prefix .. ':c', now, rid)
    redis.call('PEXPIRE', prefix .. ':c', stale)
  end
end
return {0, best[1], best[2], best[3], best[4], best[5], best[6]}
"""


class _RedisBackend:
    def __init__(self, url: str) -> None:
        import redis  # only when configured

        self.client = redis.Redis.from_url(url)
        self.admit_script = self.client.register_script(_LUA_ADMIT)

    def admit(self, prefixes: tuple[str, str], request_id: str, now_ms: int,
              limits: list[int]) -> list[int]:  # fmt: skip
        answer = self.admit_script(
            keys=list(prefixes), args=[now_ms, request_id, WINDOW_MS, STALE_S * 1000, *limits]
        )
        return [int(x) for x in answer]

    def finish(self, prefixes: tuple[str, str], request_id: str, now_ms: int,
               tokens: int) -> None:  # fmt: skip
        idx = now_ms // WINDOW_MS
        pipe = self.client.pipeline(transaction=False)
        for prefix in prefixes:
            pipe.zrem(f"{prefix}:c", request_id)
            if tokens > 0:
                pipe.incrby(f"{prefix}:t:{idx}", tokens)
                pipe.pexpire(f"{prefix}:t:{idx}", WINDOW_MS * 2)
        pipe.execute()


class _MemoryBackend:
    """The same rules as the Lua script, for one process without Redis."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.inflight: dict[str, dict[str, int]] = {}

    def _weighted(self, name: str, idx: int, left: float) -> tuple[float, int, int]:
        cur = self.counts.get(f"{name}:{idx}", 0)
        prev = self.counts.get(f"{name}:{idx - 1}", 0)
        return cur + prev * left, cur, prev

    @staticmethod
    def _wait_ms(cur: int, prev: int, limit: int, extra: int, into: int) -> int:
        if cur + extra > limit:
            if cur == 0:
                return WINDOW_MS - into
            need = max(0.0, 1 - (limit - extra) / cur)
            return (WINDOW_MS - into) + math.ceil(need * WINDOW_MS)
        if prev == 0:
            return 1
        need = 1 - (limit - cur - extra) / prev
        return max(1, math.ceil(need * WINDOW_MS) - into)

    def admit(self, prefixes: tuple[str, str], request_id: str, now_ms: int,
              limits: list[int]) -> list[int]:  # fmt: skip
        idx, into = divmod(now_ms, WINDOW_MS)
        left = 1 - into / WINDOW_MS
        best = [-1, -1, 0, -1, -1, 0]
        with self.lock:
            if len(self.counts) > 100_000:
                self.counts = {k: v for k, v in self.counts.items()
                               if int(k.rsplit(":", 1)[1]) >= idx - 1}  # fmt: skip
            for i, prefix in enumerate(prefixes):
                rpm, tpm, conc = limits[i * 3 : i * 3 + 3]
                code = i * 3
                if rpm > 0:
                    used, cur, prev = self._weighted(f"{prefix}:r", idx, left)
                    if used + 1 > rpm:
                        return [code + 1, self._wait_ms(cur, prev, rpm, 1, into)]
                    remaining = math.floor(rpm - used - 1)
                    if best[1] < 0 or remaining < best[1]:
                        best[0:3] = [rpm, remaining, 2 * WINDOW_MS - into]
                if tpm > 0:
                    used, cur, prev = self._weighted(f"{prefix}:t", idx, left)
                    if used >= tpm:
                        return [code + 2, self._wait_ms(cur, prev, tpm, 0, into)]
                    remaining = math.floor(tpm - used)
                    if best[4] < 0 or remaining < best[4]:
                        reset = 2 * WINDOW_MS - into if cur else (WINDOW_MS - into if prev else 0)
                        best[3:6] = [tpm, remaining, reset]
                if conc > 0:
                    flights = self.inflight.setdefault(prefix, {})
                    for rid in [r for r, t in flights.items() if t < now_ms - STALE_S * 1000]:
                        del flights[rid]
                    if len(flights) >= conc:
                        return [code + 3, 1000]
            for i, prefix in enumerate(prefixes):
                if limits[i * 3] > 0:
                    name = f"{prefix}:r:{idx}"
                    self.counts[name] = self.counts.get(name, 0) + 1
                if limits[i * 3 + 2] > 0:
                    self.inflight.setdefault(prefix, {})[request_id] = now_ms
        return [0, *best]

    def finish(self, prefixes: tuple[str, str], request_id: str, now_ms: int,
               tokens: int) -> None:  # fmt: skip
        idx = now_ms // WINDOW_MS
        with self.lock:
            for prefix in prefixes:
                self.inflight.get(prefix, {}).pop(request_id, None)
                if tokens > 0:
                    name = f"{prefix}:t:{idx}"
                    self.counts[name] = self.counts.get(name, 0) + tokens


_backend: _RedisBackend | _MemoryBackend | None = None
_backend_lock = threading.Lock()


def backend() -> _RedisBackend | _MemoryBackend:
    global _backend
    if _backend is None:
        with _backend_lock:
            if _backend is None:
                url = settings.REDIS_URL
                _backend = _RedisBackend(url) if url else _MemoryBackend()
    return _backend


def reset() -> None:
    """Forget the in-memory state (tests); Redis state is cleared with the cache."""
    global _backend
    _backend = None
    bad_keys.failures.clear()
    bad_keys.blocked.clear()


def _prefixes(key_id: int, account_id: int) -> tuple[str, str]:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "reapi")
    return (f"{prefix}:rl:k:{key_id}", f"{prefix}:rl:a:{account_id}")


def _duration(ms: int) -> str:
    """OpenAI's reset format: 20ms, 1s, 6m0s."""
    if ms < 1000:
        return f"{max(ms, 0)}ms"
    seconds = math.ceil(ms / 1000)
    return f"{seconds}s" if seconds < 60 else f"{seconds // 60}m{seconds % 60}s"


def admit(key: AuthenticatedKey, request_id: str) -> Grant:
    """Count the request against every limit, or raise a 429 saying which one it hit."""
    if key.blocked_until is not None and key.blocked_until > timezone.now():
        retry = max(1, math.ceil((key.blocked_until - timezone.now()).total_seconds()))
        raise ApiError(
            429,
            "This account is temporarily blocked after too many refused requests. Try again "
            f"in {retry} s, or contact support.",
            type="requests",
            code="temporarily_blocked",
            headers={"retry-after": str(retry)},
        )
    now_ms = int(time.time() * 1000)
    prefixes = _prefixes(key.id, key.owner_id)
    answer = backend().admit(prefixes, request_id, now_ms, _limits(key.limits))
    if answer[0] != 0:
        scope, what = REFUSALS[answer[0]]
        limit = _limits(key.limits)[answer[0] - 1]
        retry_s = max(1, math.ceil(answer[1] / 1000))
        who = "this API key" if scope == "key" else "this account"
        unit = {"requests": "requests per minute", "tokens": "tokens per minute",
                "concurrency": "concurrent requests"}[what]  # fmt: skip
        headers = {"retry-after": str(retry_s)}
        if what != "concurrency":
            headers.update({
                f"x-ratelimit-limit-{what}": str(limit),
                f"x-ratelimit-remaining-{what}": "0",
                f"x-ratelimit-reset-{what}": _duration(answer[1]),
            })  # fmt: skip
        raise ApiError(
            429,
            f"Rate limit reached: {who} allows {limit:,} {unit}. Try again in {retry_s} s.",
            type=what,
            code="rate_limit_exceeded",
            headers=headers,
        )
    return Grant(request_id, key.id, key.owner_id, *answer[1:])


def finish(grant: Grant, *, tokens: int) -> None:
    """The request is over: free its concurrency slot and count its tokens."""
    now_ms = int(time.time() * 1000)
    prefixes = _prefixes(grant.key_id, grant.account_id)
    backend().finish(prefixes, grant.request_id, now_ms, tokens)


def headers(grant: Grant | None, *, anthropic: bool = False) -> dict[str, str]:
    """The rate-limit headers of a response (OpenAI's names, or Anthropic's)."""
    if grant is None:
        return {}
    out: dict[str, str] = {}
    now = timezone.now()
    for what, limit, remaining, reset_ms in (
        ("requests", grant.requests_limit, grant.requests_remaining, grant.requests_reset_ms),
        ("tokens", grant.tokens_limit, grant.tokens_remaining, grant.tokens_reset_ms),
    ):
        if limit < 0:
            continue
        if anthropic:
            reset = (now + timedelta(milliseconds=reset_ms)).replace(microsecond=0)
            out[f"anthropic-ratelimit-{what}-limit"] = str(limit)
            out[f"anthropic-ratelimit-{what}-remaining"] = str(max(remaining, 0))
            out[f"anthropic-ratelimit-{what}-reset"] = reset.isoformat().replace("+00:00", "Z")
        else:
            out[f"x-ratelimit-limit-{what}"] = str(limit)
            out[f"x-ratelimit-remaining-{what}"] = str(max(remaining, 0))
            out[f"x-ratelimit-reset-{what}"] = _duration(reset_ms)
    return out


def note_refused(account_id: int) -> None:
    """Count a refused request of an account; past the threshold, block it for BLOCK_S."""
    threshold = settings.BLOCK_FAILURES_PER_MINUTE
    if threshold <= 0:
        return
    name = f"refused:{account_id}:{int(time.time() // 60)}"
    if cache.add(name, 1, timeout=120):
        count = 1
    else:
        try:
            count = cache.incr(name)
        except ValueError:
            cache.add(name, 1, timeout=120)
            count = 1
    if count == threshold + 1:
        until = timezone.now() + timedelta(seconds=settings.BLOCK_S)
        User.objects.filter(pk=account_id).update(blocked_until=until)
        keys.forget_cached_for(User(pk=account_id))


class _BadKeys:
    """Clients that keep sending keys that do not work: after BAD_KEYS_PER_MINUTE refusals
    from one address within a minute, that address gets 429 on /v1 for BAD_KEY_BLOCK_S,
    whatever key it sends next. Counted in each web process (no shared round trip on the
    request path), so across N processes an address gets at most N times the limit: with
    keys of 256 random bits this is a brake on noise and abuse, not what keeps keys safe."""

    MAX_ADDRESSES = 100_000

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.failures: dict[str, list[float]] = {}
        self.blocked: dict[str, float] = {}

    def is_blocked(self, address: str) -> bool:
        until = self.blocked.get(address)
        if until is None:
            return False
        if time.monotonic() < until:
            return True
        with self.lock:
            self.blocked.pop(address, None)
        return False

    def note(self, address: str) -> None:
        now = time.monotonic()
        with self.lock:
            if len(self.failures) >= self.MAX_ADDRESSES:
                self.failures.clear()
            recent = [t for t in self.failures.get(address, ()) if now - t < 60] + [now]
            self.failures[address] = recent
            if len(recent) > settings.BAD_KEYS_PER_MINUTE:
                self.blocked[address] = now + settings.BAD_KEY_BLOCK_S
                self.failures.pop(address, None)


bad_keys = _BadKeys()
