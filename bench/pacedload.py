"""Paced (open-loop) HTTP load: requests start on a fixed schedule, `rate` per second spread
evenly, over at most `connections` keep-alive connections. wrk only runs closed loops, which
sit at saturation once the server is the bottleneck; the latency a user sees "below
saturation" needs the arrival rate held under what the server can do.

Why not `hey -q`: its rate is per connection, and all its connections tick together, so
16 connections at 20/s each arrive as a burst of 16 every 50 ms (measured: the simulator alone
shows a 2 ms p50 that way, 0.3 ms when the same rate comes evenly).

Latency is timed from the moment a request is sent. A request whose start time comes while
every connection is still busy waits for one and is counted as `late`: more than a handful
means the rate was not below saturation after all."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp

from bench.loadgen import Result


@dataclass
class PacedResult:
    rate: float  # asked for, requests/s
    latency: Result = field(default_factory=Result)  # ms, 2xx answers only
    errors: int = 0
    late: int = 0  # started late: every connection was busy at its scheduled time

    @property
    def ok(self) -> int:
        return len(self.latency.latencies_ms)


async def _run(
    url: str, body: bytes, headers: dict[str, str], connections: int, rate: float, seconds: float
) -> PacedResult:
    if not url.startswith(("http://127.", "http://localhost")):
        raise ValueError("load goes to loopback only")
    if rate <= 0 or connections <= 0 or seconds <= 0:
        raise ValueError("rate, connections and seconds must be positive")
    result = PacedResult(rate=rate)
    free = asyncio.Semaphore(connections)
    timeout = aiohttp.ClientTimeout(total=10)
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:

        async def one() -> None:
            async with free:
                started = time.perf_counter()
                try:
                    async with session.post(
                        url, data=body, headers=headers, timeout=timeout
                    ) as response:
                        await response.read()
                        ok = 200 <= response.status < 300
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
                if ok:
                    result.latency.latencies_ms.append((time.perf_counter() - started) * 1000)
                else:
                    result.errors += 1

        loop = asyncio.get_running_loop()
        count = max(1, int(rate * seconds))
        begin = loop.time() + 0.01
        running: list[asyncio.Task[None]] = []
        for k in range(count):
            delay = begin + k / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if free.locked():
                result.late += 1
            running.append(asyncio.create_task(one()))
        await asyncio.gather(*running)
        result.latency.elapsed_s = loop.time() - begin
    return result


def run(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    connections: int,
    rate: float,
    seconds: float,
) -> PacedResult:
    """POST `body` at `rate` requests/s for `seconds`, over at most `connections` at once."""
    return asyncio.run(_run(url, body, headers, connections, rate, seconds))
