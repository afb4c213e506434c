"""Per-route circuit breakers, shared by every process through the cache (Redis in
production), so that later requests skip a broken upstream without paying for it again.

A route's failures are counted in a sliding-ish window (a counter that expires
BREAKER_WINDOW_S after its first failure). At BREAKER_FAILURES the breaker opens for
BREAKER_COOLDOWN_S: the router puts the route last. When the cooldown has passed the next
request tries it again (half-open); success closes the breaker, failure opens it again.

Latency: each process keeps a moving average of every route's time to first byte and
publishes it at most once a second into one shared map; the router weights routes of one
priority by it (a route twice as slow gets half the traffic, never less than MIN_SHARE of
its weight, so it keeps being measured).

The hot path reads a small process-local copy of the open breakers and the latencies,
refreshed from the cache at most once a second, so a healthy request costs no cache round
trip at all; writes happen on failures, on the first success after one, and once a second
for latency."""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.core.cache import cache

OPEN_KEY = "breakers:open"  # {route_id: open_until (unix time)}
LATENCY_KEY = "routes:latency"  # {route_id: moving average of time to first byte, ms}
REFRESH_S = 1.0
ALPHA = 0.2  # weight of the newest sample in the moving average
MIN_SHARE = 0.05
UNMEASURED = 1000.0


class _Local:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[int, float] = {}
        self.loaded_at = 0.0
        self.failing: set[int] = set()  # routes with failures we may need to clear
        self.latency: dict[int, float] = {}  # shared view, refreshed with `open`
        self.measured: dict[int, float] = {}  # this process's samples since it published
        self.published_at = 0.0


_local = _Local()


def _open_breakers() -> dict[int, float]:
    now = time.monotonic()
    if now - _local.loaded_at >= REFRESH_S:
        found = cache.get_many([OPEN_KEY, LATENCY_KEY])
        _local.open = dict(found.get(OPEN_KEY) or {})
        _local.latency = {**(found.get(LATENCY_KEY) or {}), **_local.measured}
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


def record_latency(route_id: int, ms: float) -> None:
    """Fold one time-to-first-byte sample into the route's average; publish once a second."""
    known = _local.measured.get(route_id, _local.latency.get(route_id))
    average = ms if known is None else known + ALPHA * (ms - known)
    _local.measured[route_id] = average
    _local.latency[route_id] = average
    now = time.monotonic()
    if now - _local.published_at < REFRESH_S:
        return
    _local.published_at = now
    with _local.lock:
        shared = dict(cache.get(LATENCY_KEY) or {})
        shared.update(_local.measured)
        cache.set(LATENCY_KEY, shared, timeout=3600)
        _local.measured = {}


def latency_factor(route_ids: list[int]) -> dict[int, float]:
    """Each route's share multiplier among `route_ids`: fastest / its latency, at least
    MIN_SHARE. A route never measured gets UNMEASURED, so it is almost surely tried next and
    measured; until then the others are compared among themselves."""
    _open_breakers()  # refresh the shared view if due
    known = {r: _local.latency[r] for r in route_ids if r in _local.latency}
    if not known:
        return dict.fromkeys(route_ids, 1.0)
    fastest = max(min(known.values()), 1.0)
    return {
        r: max(MIN_SHARE, fastest / max(known[r], 1.0)) if r in known else UNMEASURED
        for r in route_ids
    }


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
    cache.delete_many([OPEN_KEY, LATENCY_KEY])
    _local.open, _local.loaded_at, _local.failing = {}, 0.0, set()
    _local.latency, _local.measured, _local.published_at = {}, {}, 0.0


def breaker_states() -> list[tuple[str, str, bool]]:
    """(provider slug, model slug, open?) for every enabled route: for /metrics and admin."""
    from catalog.models import Route

    now = time.time()
    opened = cache.get(OPEN_KEY) or {}
    routes = Route.objects.filter(enabled=True).values_list("id", "provider__slug", "model__slug")
    return [(provider, model, opened.get(pk, 0) > now) for pk, provider, model in routes]
