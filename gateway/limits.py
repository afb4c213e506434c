"""Per-key request rate limit (the `rpm_limit` set in Settings → API keys).

A fixed one-minute window counted in the shared cache (one atomic INCR in Redis). Issue 7
replaces it with sliding windows per key and per account, token and concurrency limits."""

from __future__ import annotations

import time

from django.core.cache import cache

from accounts.keys import AuthenticatedKey
from gateway.errors import ApiError


def check_key_rpm(key: AuthenticatedKey, *, now: float | None = None) -> None:
    if not key.rpm_limit:
        return
    now = time.time() if now is None else now
    window = int(now // 60)
    name = f"rpm:{key.id}:{window}"
    if cache.add(name, 1, timeout=70):
        count = 1
    else:
        try:
            count = cache.incr(name)
        except ValueError:  # expired between add and incr
            cache.add(name, 1, timeout=70)
            count = 1
    if count > key.rpm_limit:
        reset_s = max(1, int((window + 1) * 60 - now + 0.999))
        raise ApiError(
            429,
            f"Rate limit reached: this key allows {key.rpm_limit} requests per minute. "
            f"Try again in {reset_s} s.",
            type="requests",
            code="rate_limit_exceeded",
            headers={
                "retry-after": str(reset_s),
                "x-ratelimit-limit-requests": str(key.rpm_limit),
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": f"{reset_s}s",
            },
        )
