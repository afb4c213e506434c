"""Streaming load: a fixed number of concurrent clients, each opening a chat-completion stream
back to back for a bounded time, timing the first `data:` line (time to first byte as the
client sees it) and the end of the stream. Loopback only."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp

from bench.loadgen import Result

# One stream may not take longer than this: a wedged server must not wedge the benchmark.
STREAM_TIMEOUT_S = 30.0


@dataclass
class StreamResult:
    ttfb: Result = field(default_factory=Result)  # time to the first `data:` line
    total: Result = field(default_factory=Result)  # time to the end of the stream

    @property
    def completed(self) -> int:
        return len(self.total.latencies_ms)

    @property
    def errors(self) -> int:
        return self.total.errors


async def _one(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[float, float] | None:
    """(ms to first data line, ms to end) for a complete stream ending in [DONE], else None."""
    started = time.perf_counter()
    first = None
    done = False
    async with session.post(url, data=body, headers=headers) as response:
        if response.status != 200:
            await response.read()
            return None
        async for line in response.content:  # StreamReader iterates line by line
            if first is None and line.startswith(b"data:"):
                first = time.perf_counter()
            if line.strip() == b"data: [DONE]":
                done = True
    ended = time.perf_counter()
    if first is None or not done:
        return None
    return (first - started) * 1000, (ended - started) * 1000


async def _run(
    url: str, body: bytes, headers: dict[str, str], concurrency: int, seconds: float
) -> StreamResult:
    if not url.startswith(("http://127.", "http://localhost")):
        raise ValueError("load goes to loopback only")
    result = StreamResult()
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=STREAM_TIMEOUT_S)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, trust_env=False
    ) as session:
        deadline = time.monotonic() + seconds

        async def client() -> None:
            while time.monotonic() < deadline:
                try:
                    timing = await _one(session, url, body, headers)
                except (aiohttp.ClientError, TimeoutError):
                    timing = None
                if timing is None:
                    result.total.errors += 1
                    await asyncio.sleep(0.01)  # a failing server must not turn this into a spin
                    continue
                result.ttfb.latencies_ms.append(timing[0])
                result.total.latencies_ms.append(timing[1])

        started = time.monotonic()
        await asyncio.wait_for(
            asyncio.gather(*(client() for _ in range(concurrency))),
            timeout=seconds + STREAM_TIMEOUT_S + 5,
        )
        elapsed = time.monotonic() - started
        result.ttfb.elapsed_s = result.total.elapsed_s = elapsed
    return result


def run(
    url: str, body: bytes, headers: dict[str, str], *, concurrency: int, seconds: float
) -> StreamResult:
    return asyncio.run(_run(url, body, headers, concurrency, seconds))
