"""Fault specs: parsing, merging, per-scope configuration, request counters, and the
connection-level tricks (reset, cut) that every protocol module shares.

A fault spec is a small mapping (see `FAULT_KEYS`). It can come from four layers, merged key by
key, later layers winning:

1. the scope name in the URL (`/s/latency_ms=200,cut_after=3/v1/...`),
2. the control API (`PUT /_sim/scopes/<scope>`, optionally for the next N requests only),
3. the `x-sim-fault` request header,
4. a `[sim key=value ...]` directive in the prompt (where a protocol module finds it).

Most keys mean the same for every protocol (latency, hang, reset, error status, malformed or
cut bodies, pacing, answer length). A few only make sense for some endpoints and are ignored
elsewhere: `images=N` (image generation, `openai_images`) delivers only the first N of the `n`
images asked for, to imitate a partial failure. Video jobs (`openai_videos`, Ark's Seedance
tasks in `ark`, Veo operations in `veo`) have three of their own, fixed when the job is created
(from the faults of its creating POST) and ignored everywhere else, the job's later GETs
included:

* `job_ms=N` (0..3_600_000): how long the job takes from creation to its end (default 600);
* `job=ok|fail|stuck|filtered`: how it ends: `ok` completed (the default), `fail` status
  "failed" with an error object, `stuck` in_progress forever, its progress never reaching 100,
  `filtered` finished but safety-filtered: Veo's operation ends `done` with no video and
  `raiMediaFilteredCount: 1`; the modules without such an outcome (`openai_videos`, `ark`) end
  it like `fail`;
* `download_ms=N` (0..600_000): its content downloads send their headers, then wait this long
  before sending the bytes (a slow download).
"""

from __future__ import annotations

import re
import socket
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any

from aiohttp import web

DEFAULT_SCOPE = "default"


class FaultSpecError(ValueError):
    """A fault spec that does not parse; answered with a 400 so typos in tests are loud."""


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected a boolean, got {value!r}")


def _int_between(low: int, high: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError(f"expected an integer, got {value!r}")
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"expected an integer, got {value!r}")
        number = int(value)
        if not low <= number <= high:
            raise ValueError(f"expected {low}..{high}, got {number}")
        return number

    return convert


def _float_between(low: float, high: float) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        number = float(value)
        if not low <= number <= high:
            raise ValueError(f"expected {low:g}..{high:g}, got {number:g}")
        return number

    return convert


def _one_of(*options: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {value!r}")
        return text

    return convert


def _code(value: Any) -> str:
    text = str(value).strip()
    if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", text):
        raise ValueError(f"expected an error code like rate_limit_exceeded, got {value!r}")
    return text


# Key -> converter. Bounds keep a typo from hanging a test run for hours.
FAULT_KEYS: dict[str, Callable[[Any], Any]] = {
    "latency_ms": _int_between(0, 600_000),
    "status": _int_between(400, 599),
    "reset": _bool,
    "hang_s": _float_between(0, 3600),
    "cut_after": _int_between(0, 1_000_000),
    "malformed": _bool,
    "tokens_per_second": _float_between(0, 1_000_000),
    "tokens": _int_between(0, 200_000),
    "retry_after": _int_between(0, 86_400),
    "code": _code,
    # Image generation only: deliver at most this many images (fewer than `n` asked for).
    "images": _int_between(0, 10),
    # Video jobs only (`openai_videos`, `ark`, `veo`), fixed at creation: duration, outcome,
    # download delay.
    "job_ms": _int_between(0, 3_600_000),
    "job": _one_of("ok", "fail", "stuck", "filtered"),
    "download_ms": _int_between(0, 600_000),
}
_FLAG_KEYS = frozenset({"reset", "malformed"})
_SPLIT = re.compile(r"[,\s]+")
_DIRECTIVE = re.compile(r"\[sim(?:\s+([^\]]*))?\]")


def validate_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Check keys and convert values (JSON numbers or strings) to their types."""
    clean: dict[str, Any] = {}
    for key, value in spec.items():
        convert = FAULT_KEYS.get(key)
        if convert is None:
            raise FaultSpecError(f"unknown fault key {key!r} (known: {', '.join(FAULT_KEYS)})")
        try:
            clean[key] = convert(value)
        except (TypeError, ValueError) as exc:
            raise FaultSpecError(f"bad value for {key}: {exc}") from None
    return clean


def parse_spec(text: str, *, allow_labels: bool = False) -> dict[str, Any]:
    """Parse `key=value` items separated by commas or spaces; a bare `reset`/`malformed` sets
    that flag. With `allow_labels` (scope names), other bare words are labels and ignored."""
    raw: dict[str, Any] = {}
    for item in _SPLIT.split(text.strip()):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if sep:
            raw[key] = value
        elif key in _FLAG_KEYS:
            raw[key] = True
        elif not allow_labels:
            raise FaultSpecError(f"expected key=value, got {item!r}")
    return validate_spec(raw)


def find_directive(text: str) -> str | None:
    """The spec inside the first `[sim ...]` of a prompt text, or None if there is none."""
    if "[sim" not in text:  # cheap check first: almost no prompt has one
        return None
    match = _DIRECTIVE.search(text)
    return None if match is None else (match.group(1) or "")


def split_tool_word(spec: str) -> tuple[str, bool]:
    """Take the bare word `tool` (a request for a tool call, not a fault) out of a
    `[sim ...]` spec: (the fault spec left, whether `tool` was there)."""
    if "tool" not in spec:  # cheap check first
        return spec, False
    words = [w for w in _SPLIT.split(spec.strip()) if w]
    if "tool" not in words:
        return spec, False
    return " ".join(w for w in words if w != "tool"), True


@dataclass(frozen=True, slots=True)
class Faults:
    """The merged faults for one request. `None` means "not set, use the server default"."""

    latency_ms: int = 0
    status: int | None = None
    reset: bool = False
    hang_s: float = 0.0
    cut_after: int | None = None
    malformed: bool = False
    tokens_per_second: float | None = None
    tokens: int | None = None
    retry_after: int | None = None
    code: str | None = None
    images: int | None = None
    job_ms: int | None = None
    job: str | None = None
    download_ms: int | None = None


# One list of keys: the parser and the dataclass must never drift apart.
if {f.name for f in fields(Faults)} != set(FAULT_KEYS):
    raise RuntimeError("Faults fields and FAULT_KEYS differ")


@lru_cache(maxsize=4096)
def _scope_spec(scope: str) -> tuple[tuple[str, Any], ...]:
    # Cached: the scope name is on every request's hot path and rarely changes.
    if scope == DEFAULT_SCOPE:
        return ()
    return tuple(parse_spec(scope, allow_labels=True).items())


@lru_cache(maxsize=4096)
def _scope_faults(scope: str) -> Faults:
    return Faults(**dict(_scope_spec(scope)))


@dataclass(slots=True)
class _Configured:
    spec: dict[str, Any]
    remaining: int | None  # None = until deleted


@dataclass(slots=True)
class ScopeStats:
    requests: int = 0
    in_flight: int = 0
    endpoints: dict[str, int] = field(default_factory=dict)


class SimState:
    """Faults configured through the control API, and request counters per scope.

    Everything runs on one event loop, so plain dicts are safe: a `times` budget is consumed
    synchronously when a request resolves its faults, hence never twice."""

    def __init__(self) -> None:
        self.configured: dict[str, _Configured] = {}
        self.stats: dict[str, ScopeStats] = {}
        self.total = 0

    def configure(self, scope: str, spec: Mapping[str, Any], *, times: int | None) -> None:
        _scope_spec(scope)  # reject a scope name that is itself a bad spec now, not later
        self.configured[scope] = _Configured(spec=validate_spec(spec), remaining=times)

    def unconfigure(self, scope: str) -> bool:
        return self.configured.pop(scope, None) is not None

    def reset(self) -> None:
        self.configured.clear()
        self.stats.clear()
        self.total = 0

    def begin(self, scope: str, endpoint: str) -> ScopeStats:
        stats = self.stats.get(scope)
        if stats is None:
            stats = self.stats[scope] = ScopeStats()
        stats.requests += 1
        stats.in_flight += 1
        stats.endpoints[endpoint] = stats.endpoints.get(endpoint, 0) + 1
        self.total += 1
        return stats

    def resolve(self, scope: str, *, header: str | None, directive: str | None) -> Faults:
        """Merge the layers for one request (consumes one use of a `times`-limited spec)."""
        configured = self.configured.get(scope)
        if configured is None and not header and directive is None:
            return _scope_faults(scope)  # fast path: nothing but the (cached) scope name
        merged = dict(_scope_spec(scope))
        if configured is not None:
            merged.update(configured.spec)
            if configured.remaining is not None:
                configured.remaining -= 1
                if configured.remaining <= 0:
                    del self.configured[scope]
        if header:
            merged.update(parse_spec(header))
        if directive is not None:
            merged.update(parse_spec(directive))
        return Faults(**merged)

    def snapshot(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "scopes": {
                name: {
                    "requests": s.requests,
                    "in_flight": s.in_flight,
                    "endpoints": dict(s.endpoints),
                }
                for name, s in self.stats.items()
            },
        }

    def configured_snapshot(self) -> dict[str, Any]:
        return {
            name: {"spec": dict(c.spec), "remaining": c.remaining}
            for name, c in self.configured.items()
        }


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A protocol-neutral error; each protocol module renders it in its own envelope."""

    status: int
    message: str | None = None  # None: the protocol's usual text for this status
    code: str | None = None
    param: str | None = None
    retry_after: int | None = None


def retry_after_headers(info: ErrorInfo) -> dict[str, str]:
    # Providers send retry-after on 429; the SDKs honour it, so gateways must too.
    seconds = (
        info.retry_after if info.retry_after is not None else (1 if info.status == 429 else None)
    )
    return {} if seconds is None else {"retry-after": str(seconds)}


def reset_connection(request: web.BaseRequest) -> web.StreamResponse:
    """Drop the connection with a TCP RST and no response bytes (like a crashed upstream)."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Linger 0 turns close() into an RST, so the client sees "connection reset".
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    # Never sent: aiohttp's write fails on the closed transport and it moves on quietly. 444 is
    # nginx's "closed without response", so an access log line reads right.
    return web.Response(status=444)


def close_connection(request: web.BaseRequest) -> None:
    """Close after flushing what was written (FIN, not RST), so the client reads the partial
    response and then hits an incomplete body / missing end of stream."""
    transport = request.transport
    if transport is not None:
        transport.close()


async def send_partial(
    request: web.BaseRequest, body: bytes, *, headers: Mapping[str, str] | None = None
) -> web.StreamResponse:
    """Announce the full Content-Length, send the first half of the body, then close."""
    response = web.StreamResponse(status=200, headers=headers)
    response.content_type = "application/json"
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body[: len(body) // 2])
    close_connection(request)
    return response
