"""Per-route circuit breakers, shared by every process through the cache (Redis in
production), so that later requests skip a broken upstream without paying for it again.

A route's failures are counted in a sliding-ish window (a counter that expires
BREAKER_WINDOW_S after its first failure). At BREAKER_FAILURES the breaker opens for
BREAKER_COOLDOWN_S: the router puts the route last. When the cooldown has passed the next
request tries it again (half-open); success closes the breaker, failure opens it again.

The hot path reads a small process-local copy of the open breakers, refreshed from the
cache at most once a second, so a healthy request costs no cache round trip at all; writes
happen only on failures and on the first success after one."""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.core.cache import cache

OPEN_KEY = "breakers:open"  # {route_id: open_until (unix time)}
REFRESH_S = 1.0


class _Local:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[int, float] = {}
        self.loaded_at = 0.0
        self.failing: set[int] = set()  # routes with failures we may need to clear


_local = _Local()


def _open_breakers() -> dict[int, float]:
    now = time.monotonic()
    if now - _local.loaded_at >= REFRESH_S:
        _local.open = dict(cache.get(OPEN_KEY) or {})
        _local.loaded_at = now
    return _local.open


def is_open(route_id: int, *, now: float | None = None) -> bool:
    until = _open_breakers().get(route_id)
    return until is not None and (now or time.time()) < until


def record_failure(route_id: int) -> bool:
    """Count a failure; returns True when this failure opened the breaker."""
    _local.failing.add(route_id)
    name = f"breakers:fail:{route_id}"
    if cache.add(name, 1, timeout=settings.BREAKER_WINDOW_S):
        count = 1
    else:
        try:
            count = cache.incr(name)
        except ValueError:
            cache.add(name, 1, timeout=settings.BREAKER_WINDOW_S)
            count = 1
    if count < settings.BREAKER_FAILURES:
        return False
    with _local.lock:
        breakers = dict(cache.get(OPEN_KEY) or {})
        breakers[route_id] = time.time() + settings.BREAKER_COOLDOWN_S
        cache.set(OPEN_KEY, breakers, timeout=None)
        _local.open, _local.loaded_at = breakers, time.monotonic()
    return True


def record_success(route_id: int) -> None:
    """Close the breaker (a half-open trial worked) and forget recent failures."""
    if route_id not in _local.failing and route_id not in _open_breakers():
        return  # the common case: nothing to write
    _local.failing.discard(route_id)
    cache.delete(f"breakers:fail:{route_id}")
    set_state(route_id, open_for_s=None)


def set_state(route_id: int, *, open_for_s: float | None) -> None:
    """Open a route's breaker for a while, or close it (None). Staff use this too."""
    with _local.lock:
        breakers = dict(cache.get(OPEN_KEY) or {})
        if open_for_s is None:
            if breakers.pop(route_id, None) is None:
                return
        else:
            breakers[route_id] = time.time() + open_for_s
        cache.set(OPEN_KEY, breakers, timeout=None)
        _local.open, _local.loaded_at = breakers, time.monotonic()


def state(route_id: int) -> str:
    until = dict(cache.get(OPEN_KEY) or {}).get(route_id)
    if until is None:
        return "closed"
    return "open" if time.time() < until else "half-open"


def reset() -> None:
    """Forget every breaker (tests)."""
    cache.delete(OPEN_KEY)
    _local.open, _local.loaded_at, _local.failing = {}, 0.0, set()
