"""One pooled aiohttp client session per event loop (uvicorn runs one loop per worker)."""

from __future__ import annotations

import asyncio

import aiohttp

_sessions: dict[int, aiohttp.ClientSession] = {}


def session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    current = _sessions.get(id(loop))
    if current is None or current.closed:
        connector = aiohttp.TCPConnector(
            limit=0,  # no global cap: a cap would queue requests behind slow streams
            limit_per_host=0,
            ttl_dns_cache=300,
            enable_cleanup_closed=True,
        )
        current = aiohttp.ClientSession(
            connector=connector,
            # Never pick up proxies from the environment, never follow redirects blindly.
            trust_env=False,
            auto_decompress=True,
            raise_for_status=False,
        )
        _sessions[id(loop)] = current
    return current


async def close() -> None:
    """Close this loop's session (at server shutdown), so no connection is left dangling."""
    loop = asyncio.get_running_loop()
    current = _sessions.pop(id(loop), None)
    if current is not None and not current.closed:
        await current.close()
