"""Reads of the catalog shaped for the request path and the pages.

The request path resolves a model slug on every call, so the enabled catalog is kept as an
in-process snapshot, rebuilt when staff save anything (signals bump a version number in the
shared cache, so every process notices within CATALOG_CHECK_S seconds).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from django.core.cache import cache
from django.utils import timezone

from catalog.models import Model, Price, Provider, Route

T = TypeVar("T")

VERSION_KEY = "catalog:version"
CATALOG_CHECK_S = 2.0


@dataclass(frozen=True)
class RouteInfo:
    id: int
    provider_slug: str
    provider_kind: str
    base_url: str
    api_key: str
    upstream_model: str
    priority: int
    weight: int
    connect_timeout_ms: int
    first_byte_timeout_ms: int
    read_timeout_ms: int
    options: Any = None  # Provider.options (a dict); adapters configured by data read it


@dataclass(frozen=True)
class ModelInfo:
    id: int
    slug: str
    display_name: str
    kind: str
    owned_by: str
    created: int
    context_window: int | None
    max_output_tokens: int | None
    supports_streaming: bool
    max_images: int | None
    max_video_seconds: int | None
    routes: tuple[RouteInfo, ...]
    # Every price row, newest first; the one in force is picked at request time.
    prices: tuple[Price, ...]

    def price_at(self, at: datetime) -> Price | None:
        for price in self.prices:
            if price.effective_from <= at:
                return price
        return None


class Snapshot(Generic[T]):
    """An in-process copy of what `build()` reads from the database, rebuilt when the
    catalog's version changes (checked at most every CATALOG_CHECK_S). The brands' settings
    (brands/selectors.py) ride on the same version."""

    def __init__(self, build: Callable[[], T]) -> None:
        self.build = build
        self.lock = threading.Lock()
        self.value: T | None = None
        self.version: object = None
        self.checked_at = 0.0
        _snapshots.append(self)

    def get(self) -> T:
        now = time.monotonic()
        if now - self.checked_at < CATALOG_CHECK_S and self.version is not None:
            return self.value  # type: ignore[return-value]
        with self.lock:
            version = cache.get(VERSION_KEY, 0)
            if version != self.version or self.version is None:
                self.value = self.build()
                self.version = version
            self.checked_at = now
            return self.value

    def reset(self) -> None:
        self.checked_at = 0.0
        self.version = None


_snapshots: list[Snapshot] = []


def invalidate() -> None:
    """Tell every process that the catalog (or a brand) changed."""
    try:
        cache.incr(VERSION_KEY)
    except ValueError:
        cache.set(VERSION_KEY, 1, None)
    for snapshot in _snapshots:
        snapshot.reset()


def route_info(route: Route) -> RouteInfo:
    """What the request path needs of a route (and its provider, which should be selected)."""
    provider = route.provider
    return RouteInfo(
        id=route.id,
        provider_slug=provider.slug,
        provider_kind=provider.kind,
        base_url=provider.base_url.rstrip("/"),
        api_key=provider.api_key,
        upstream_model=route.upstream_model,
        priority=route.priority,
        weight=route.weight,
        connect_timeout_ms=provider.connect_timeout_ms,
        first_byte_timeout_ms=provider.first_byte_timeout_ms,
        read_timeout_ms=provider.read_timeout_ms,
        options=provider.options or {},
    )


def _build() -> dict[str, ModelInfo]:
    models = Model.objects.filter(enabled=True).prefetch_related("prices")
    routes: dict[int, list[RouteInfo]] = {}
    for route in (
        Route.objects.filter(enabled=True, provider__enabled=True, model__enabled=True)
        .select_related("provider")
        .order_by("priority", "-weight", "id")
    ):
        routes.setdefault(route.model_id, []).append(route_info(route))
    return {
        m.slug: ModelInfo(
            id=m.id,
            slug=m.slug,
            display_name=m.display_name,
            kind=m.kind,
            owned_by=m.owned_by,
            created=int(m.created_at.timestamp()),
            context_window=m.context_window,
            max_output_tokens=m.max_output_tokens,
            supports_streaming=m.supports_streaming,
            max_images=m.max_images,
            max_video_seconds=m.max_video_seconds,
            routes=tuple(routes.get(m.id, ())),
            prices=tuple(sorted(m.prices.all(), key=lambda p: p.effective_from, reverse=True)),
        )
        for m in models
    }


_models = Snapshot(_build)


def enabled_models() -> dict[str, ModelInfo]:
    """The enabled catalog by slug, from the in-process snapshot."""
    return _models.get()


def get_model(slug: str) -> ModelInfo | None:
    return enabled_models().get(slug)


def price_in_force(model: Model, *, at: datetime | None = None) -> Price | None:
    return model.prices.filter(effective_from__lte=at or timezone.now()).first()


def upcoming_prices(model: Model, *, at: datetime | None = None) -> list[Price]:
    return list(
        model.prices.filter(effective_from__gt=at or timezone.now()).order_by("effective_from")
    )


def providers_by_slug() -> dict[str, Provider]:
    return {p.slug: p for p in Provider.objects.all()}
