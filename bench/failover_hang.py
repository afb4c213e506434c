"""An upstream that hangs: how long a request takes to fail over to the next route.

`python bench/failover_hang.py` (PostgreSQL and Redis on 127.0.0.1, as `make bench`) starts
the simulator and reAPI (1 worker), routes a model first to a simulator scope that hangs
(accepts, then never answers) and second to a healthy scope, and times sequential requests:
streaming (abandoned at the provider's first-byte timeout) and non-stream (abandoned at its
read timeout, since a non-stream answer legitimately sends nothing until it is done). Each
request is timed until the whole answer arrived, beside the same request to a model whose
first route is healthy. Once the breaker opens (BREAKER_FAILURES hangs), later requests skip
the hanging route entirely: the table shows both phases. Loopback only, bounded in count.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import compare, reapi_server  # noqa: E402
from simulator.testing import free_port, start_simulator  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIRST_BYTE_MS = 300
READ_MS = 1_000

_CATALOG = """
from catalog.models import Model, Price, Provider, Route
from catalog import selectors
base = Model.objects.get(slug="gpt-5-mini")
price = base.prices.order_by("-effective_from").first()
hang, _ = Provider.objects.update_or_create(slug="bench-hang", defaults=dict(
    name="bench-hang", kind="simulator", base_url={hang_url!r}, enabled=True,
    first_byte_timeout_ms={first_byte}, read_timeout_ms={read}))
fallback = Provider.objects.get(slug="simulator")
model, _ = Model.objects.update_or_create(slug="bench-failover-hang", defaults=dict(
    display_name="bench-failover-hang", kind="chat", max_output_tokens=1000, enabled=True))
for provider, priority in ((hang, 0), (fallback, 1)):
    Route.objects.update_or_create(model=model, provider=provider, upstream_model="gpt-5-mini",
                                   defaults=dict(priority=priority, enabled=True))
Price.objects.update_or_create(model=model, effective_from=price.effective_from, defaults=dict(
    input_micros_per_mtok=price.input_micros_per_mtok,
    output_micros_per_mtok=price.output_micros_per_mtok))
selectors.invalidate()
"""


def timed(
    http: requests.Session, url: str, key: str, model: str, stream: bool
) -> tuple[float, str]:
    body = {"model": model, "max_tokens": 8, "stream": stream,
            "messages": [{"role": "user", "content": "Hello"}]}  # fmt: skip
    started = time.perf_counter()
    answer = http.post(url, data=json.dumps(body), timeout=30, stream=stream,
                       headers={"authorization": f"Bearer {key}",
                                "content-type": "application/json"})  # fmt: skip
    for _ in answer.iter_content(chunk_size=None):
        pass
    answer.raise_for_status()
    return (time.perf_counter() - started) * 1000, answer.headers.get("x-reapi-provider", "")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=8, help="per phase and mode")
    args = parser.parse_args()
    sim = start_simulator(quiet=True)
    web = None
    try:
        env = compare.reapi_env(sim.base_url)
        env["BREAKER_FAILURES"] = "1000000"  # phase one: measure the timeout on every request
        if env["DATABASE_URL"] == reapi_server.DEFAULT_DATABASE_URL:
            reapi_server.ensure_default_database()
        key = reapi_server.prepare(env, sim.base_url, free_port())
        code = _CATALOG.format(hang_url=f"{sim.base_url}/s/hang_s=60/v1",
                               first_byte=FIRST_BYTE_MS, read=READ_MS)  # fmt: skip
        subprocess.run([*reapi_server.MANAGE, "shell", "-c", code], env=env, check=True,  # noqa: S603
                       capture_output=True, timeout=120)  # fmt: skip
        port = free_port()
        log = ROOT / "bench" / ".var" / "failover_hang.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        web = reapi_server.start(env, port, 1, log)
        reapi_server.wait_ready(web, port, key)
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        rows = []
        with requests.Session() as http:
            http.trust_env = False
            for stream in (True, False):
                healthy = [timed(http, url, key, "gpt-5-mini", stream)[0]
                           for _ in range(args.requests)]  # fmt: skip
                hung = [timed(http, url, key, "bench-failover-hang", stream)
                        for _ in range(args.requests)]  # fmt: skip
                assert all(provider == "simulator" for _, provider in hung)
                limit = FIRST_BYTE_MS if stream else READ_MS
                rows.append((
                    "stream" if stream else "non-stream", limit,
                    statistics.median(healthy), statistics.median(t for t, _ in hung),
                    max(t for t, _ in hung),
                ))  # fmt: skip
        print(f"\nA hanging first route, {args.requests} sequential requests per row "
              "(times in ms, the whole answer):\n")  # fmt: skip
        print("| mode | timeout | healthy p50 | with the hang p50 | max | added p50 |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for mode, limit, ok, hang, worst in rows:
            print(f"| {mode} | {limit} | {ok:.1f} | {hang:.1f} | {worst:.1f} | {hang - ok:.1f} |")
        print("\nEvery request was answered by the second route (x-reapi-provider: simulator).")
        print("With the breaker on (BREAKER_FAILURES, default 5), requests after the fifth")
        print("hang skip that route without waiting: tests/gateway/test_breakers.py.")
    finally:
        if web is not None:
            web.terminate()
            web.wait(timeout=15)
        sim.stop()


if __name__ == "__main__":
    main()
