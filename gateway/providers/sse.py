"""Server-sent events, read from an aiohttp response."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp


async def iter_sse_data(response: aiohttp.ClientResponse) -> AsyncIterator[str]:
    """Yield the `data` of each event (multi-line data joined with newlines)."""
    data: list[str] = []
    async for raw in response.content:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)
