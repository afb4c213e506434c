"""What reAPI adds on top of the upstream: requests/s and p50/p99 latency for non-stream chat
completions at concurrency 1 and 16, the simulator called directly versus through reAPI.

    .venv/bin/python bench/overhead.py [--seconds 5] [--workers 1]

Uses DATABASE_URL / REDIS_URL if set (production-like), else a SQLite database of its own in
bench/.var. Starts and stops its own simulator and uvicorn, by PID, on loopback ports."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import loadgen  # noqa: E402
from simulator.testing import free_port, start_simulator  # noqa: E402

BODY = json.dumps(
    {"model": "gpt-5-mini", "max_tokens": 16,
     "messages": [{"role": "user", "content": "Benchmark me, briefly."}]}
).encode()  # fmt: skip


def prepare(env: dict[str, str]) -> str:
    """Migrate, load the catalog, and create a bench user with credits; return its key."""
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--no-input", "-v0"], env=env, check=True)  # noqa: S603
    subprocess.run([*manage, "load_demo_catalog"], env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
    code = (
        "from accounts.models import User; from accounts import keys; from billing import ledger\n"
        "u = User.objects.filter(email='bench@reapi.local').first() or "
        "User.objects.create_user('bench@reapi.local', None)\n"
        # Limits far above any load here: the limiter still runs on every request.
        "User.objects.filter(pk=u.pk).update(rpm_limit=2_000_000_000, "
        "tpm_limit=2_000_000_000, concurrency_limit=100_000)\n"
        "acct = ledger.account_for(u)\n"
        "n = acct.entries.count()\n"
        "ledger.grant(acct, amount_micros=10**15, idempotency_key=f'bench-{n}')\n"
        "print(keys.create(u, name='bench')[1])\n"
    )
    out = subprocess.run(  # noqa: S603
        [*manage, "shell", "-c", code], env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip().splitlines()[-1]


def start_web(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    web = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "reapi.serve", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/v1/models", timeout=0.5)
            return web
        except requests.RequestException:
            time.sleep(0.2)
    web.terminate()
    raise RuntimeError("reAPI did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    sim = start_simulator(quiet=True)
    env = {**os.environ, "SIMULATOR_URL": sim.base_url, "LOG_LEVEL": "WARNING"}
    if not env.get("DATABASE_URL"):
        env["REAPI_VAR_DIR"] = str(ROOT / "bench" / ".var")
    web = None
    try:
        key = prepare(env)
        port = free_port()
        web = start_web(env, port, args.workers)
        headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
        targets = {
            "simulator": f"{sim.base_url}/v1/chat/completions",
            "reAPI": f"http://127.0.0.1:{port}/v1/chat/completions",
        }
        for url in targets.values():  # warm up connections and caches
            loadgen.run(url, BODY, headers, concurrency=4, seconds=1)
        rows = []
        for concurrency in (1, 16):
            results = {
                name: loadgen.run(url, BODY, headers, concurrency=concurrency, seconds=args.seconds)
                for name, url in targets.items()
            }
            direct, gateway = results["simulator"], results["reAPI"]
            for name, r in results.items():
                rows.append(
                    f"| {name} | {concurrency} | {r.rps:,.0f} | {r.pct(50):.2f} | {r.pct(99):.2f} "
                    f"| {r.errors} |"
                )
            rows.append(
                f"| added by reAPI | {concurrency} | | {gateway.pct(50) - direct.pct(50):+.2f} "
                f"| {gateway.pct(99) - direct.pct(99):+.2f} | |"
            )
        db = "PostgreSQL" if env.get("DATABASE_URL") else "SQLite"
        cache = "Redis" if env.get("REDIS_URL") else "in-process cache"
        table = "\n".join(
            [
                f"# reAPI overhead, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
                "",
                f"Non-stream chat completions (16 output tokens), {args.seconds:g} s per cell, "
                f"uvicorn with {args.workers} worker(s), {db}, {cache}, 2-core machine.",
                "",
                "| target | concurrency | requests/s | p50 ms | p99 ms | errors |",
                "| --- | ---: | ---: | ---: | ---: | ---: |",
                *rows,
            ]
        )
        print(table)
        out = ROOT / "bench" / "results" / f"overhead-{datetime.now(UTC):%Y%m%d-%H%M%S}.md"
        out.write_text(table + "\n")
        print(f"\nwritten to {out.relative_to(ROOT)}")
    finally:
        if web is not None:
            web.terminate()
            web.wait(timeout=15)
        sim.stop()


if __name__ == "__main__":
    main()
