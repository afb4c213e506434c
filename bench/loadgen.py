"""A small async load generator: a fixed number of concurrent clients, each sending the same
request back to back for a bounded time. Loopback only."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp


@dataclass
class Result:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def _run(
    url: str, body: bytes, headers: dict[str, str], concurrency: int, seconds: float
) -> Result:
    if not url.startswith(("http://127.", "http://localhost")):
        raise ValueError("load goes to loopback only")
    result = Result()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
        deadline = time.monotonic() + seconds

        async def client() -> None:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        ok = response.status == 200
                except aiohttp.ClientError:
                    ok = False
                if ok:
                    result.latencies_ms.append((time.perf_counter() - started) * 1000)
                else:
                    result.errors += 1

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        result.elapsed_s = time.monotonic() - started
    return result


def run(url: str, body: bytes, headers: dict[str, str], *, concurrency: int, seconds: float):
    return asyncio.run(_run(url, body, headers, concurrency, seconds))
