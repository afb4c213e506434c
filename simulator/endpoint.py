"""The small interface a protocol module implements: a list of `Endpoint`s.

The server mounts every endpoint both at the root (`/v1/...`, the default scope) and under a
scope prefix (`/s/<scope>/v1/...`), counts it, resolves the request's faults and applies the
protocol-neutral ones (latency, hang, reset, error status) before calling the handler. The
handler then only deals with what depends on the response shape: tokens, pacing, `cut_after`
and `malformed`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from simulator.faults import ErrorInfo, Faults


@dataclass(frozen=True, slots=True)
class Settings:
    """Server-wide defaults (from the CLI)."""

    tokens_per_second: float = 0.0  # 0 = as fast as possible
    default_tokens: int = 32


@dataclass(frozen=True, slots=True)
class Call:
    """One request as a handler sees it."""

    request: web.Request
    scope: str
    body: Any  # parsed JSON body, or None for endpoints without one
    faults: Faults
    settings: Settings

    @property
    def tokens_per_second(self) -> float:
        rate = self.faults.tokens_per_second
        return self.settings.tokens_per_second if rate is None else rate


Handler = Callable[[Call], Awaitable[web.StreamResponse]]
ErrorRenderer = Callable[[ErrorInfo], web.StreamResponse]


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str  # "*" for any
    path: str  # below the scope root, e.g. "/v1/chat/completions"
    handler: Handler
    render_error: ErrorRenderer  # errors in this protocol's envelope
    # Returns the text inside a `[sim ...]` directive found in the body, or None.
    directive: Callable[[Any], str | None] | None = None
    json_body: bool = False  # read and parse the body as JSON before faults are resolved
    fallback: bool = False  # catch-all: mounted after every specific endpoint

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"
