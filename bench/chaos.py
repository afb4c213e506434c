"""Chaos run (`make chaos`): thousands of concurrent requests from a few accounts against two
web servers of two workers each (PostgreSQL, Redis, a Celery worker with beat), chat
(streamed or not) and some video jobs, with about a third of the chats carrying upstream
faults (every route failing, slow answers, streams cut in the middle), clients hanging up
mid-request, a web worker and the Celery worker killed (SIGKILL) during the run. Afterwards
the reconciler runs as it would once the holds expire, and the books are checked: no open
hold, every account's balance equal to the sum of its entries and never negative, no request
charged twice or above its hold, every usage row matching the ledger. Prints a markdown
summary and writes it to bench/results/.

    .venv/bin/python bench/chaos.py [--requests 3000] [--concurrency 64]

Loopback only; every process it starts is stopped by PID. Uses its own database
(`reapi_chaos`, dropped and made again) and Redis database 4 (flushed)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import procs, reapi_server  # noqa: E402
from simulator.testing import free_port, start_simulator  # noqa: E402

DATABASE_URL = "postgres://postgres@127.0.0.1:5432/reapi_chaos"
REDIS_URL = "redis://127.0.0.1:6379/4"
MANAGE = [sys.executable, str(ROOT / "manage.py")]
MODELS = ("gpt-5-mini", "claude-haiku-4.5")

SETUP = """
import json
from accounts.models import User
from accounts import keys
from billing import ledger
out = []
for n in range({accounts}):
    user = User.objects.create_user(f"chaos{{n}}@reapi.local", None)
    User.objects.filter(pk=user.pk).update(rpm_limit=1_000_000, tpm_limit=2_000_000_000,
                                           concurrency_limit=10_000)
    ledger.grant(ledger.account_for(user), amount_micros={credits}, idempotency_key=f"chaos-{{n}}")
    out.append(keys.create(user, name="chaos")[1])
video = User.objects.create_user("chaos-video@reapi.local", None)
ledger.grant(ledger.account_for(video), amount_micros=20_000 * 10**6, idempotency_key="chaos-v")
print(json.dumps({{"chat": out, "video": keys.create(video, name="chaos")[1]}}))
"""

# What the reconciler does once every hold has expired, then the checks.
VERIFY = """
import json
from datetime import timedelta
from django.db.models import Count, Sum
from django.utils import timezone
from billing import ledger
from billing.models import CreditAccount, Hold, LedgerEntry
from gateway.models import UsageRecord, VideoJob
from gateway import videos
jobs = dict(VideoJob.objects.values_list("status").annotate(n=Count("id")))
for job in VideoJob.objects.filter(status__in=videos.IN_FLIGHT):
    videos.delete(job)  # jobs still running at the end: cancelled and refunded
released = ledger.release_expired(now=timezone.now() + timedelta(hours=2))
problems = []
if Hold.objects.filter(state=Hold.State.OPEN).exists():
    problems.append("open holds remain")
for account in CreditAccount.objects.filter(user__email__startswith="chaos"):
    total = LedgerEntry.objects.filter(account=account).aggregate(s=Sum("amount_micros"))["s"]
    if total != account.balance_micros:
        problems.append(f"account {{account.pk}}: balance {{account.balance_micros}} != {{total}}")
    if account.balance_micros < 0:
        problems.append(f"account {{account.pk}} is negative")
for hold in Hold.objects.all():
    closing = LedgerEntry.objects.filter(reference=hold.request_id, kind__in=["settle", "release"])
    if closing.count() > 1:
        problems.append(f"hold {{hold.request_id}} closed {{closing.count()}} times")
    returned = closing.aggregate(s=Sum("amount_micros"))["s"] or 0
    charged = hold.amount_micros - returned
    if not 0 <= charged <= hold.amount_micros:
        problems.append(f"hold {{hold.request_id}} charged {{charged}} of {{hold.amount_micros}}")
    row = UsageRecord.objects.filter(request_id=hold.request_id).first()
    if row is not None and row.charged_micros != charged:
        problems.append(f"usage {{hold.request_id}}: {{row.charged_micros}} != ledger {{charged}}")
dupes = UsageRecord.objects.values("request_id").annotate(n=Count("id")).filter(n__gt=1).count()
if dupes:
    problems.append(f"{{dupes}} requests with two usage rows")
print(json.dumps({{
    "released_by_reconciler": released,
    "holds": Hold.objects.count(),
    "usage_rows": UsageRecord.objects.count(),
    "charged_micros": UsageRecord.objects.aggregate(s=Sum("charged_micros"))["s"] or 0,
    "usage_by_status": dict(UsageRecord.objects.values_list("status").annotate(n=Count("id"))),
    "video_jobs": jobs,
    "problems": problems[:50],
    "problem_count": len(problems),
}}))
"""


def shell(env: dict[str, str], code: str) -> str:
    result = subprocess.run(  # noqa: S603 (our own manage.py)
        [*MANAGE, "shell", "-c", code], env=env, check=True, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    return result.stdout.strip().splitlines()[-1]


def fresh_database() -> None:
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c"]
    subprocess.run([*psql, "drop database if exists reapi_chaos"], check=True, timeout=60)
    subprocess.run([*psql, "create database reapi_chaos"], check=True, timeout=60)


FAULTS = (  # (share of the faulty requests, directive, what it does)
    (0.4, "[sim status=503]", "every route fails: all refunded"),
    (0.3, "[sim cut_after=3]", "the stream is cut after 3 chunks"),
    (0.3, "[sim latency_ms=400]", "slow: the client may hang up first"),
)


VIDEO_SHARE = 0.04  # of the requests: a video job, which the Celery worker carries on
VIDEO_KEY: list[str] = []  # the account that pays for them (its own, with more credits)


async def video(http, url: str, key: str, rnd: random.Random, tally: Counter) -> None:
    """A 4 s video job: some fail upstream, some take a few seconds (the worker is killed
    while they run)."""
    directive = rnd.choice(["[sim job_ms=2000]", "[sim job_ms=6000]", "[sim job=fail]"])
    body = {"model": "seedance-2.0", "prompt": f"{directive} waves", "seconds": "4",
            "size": "1280x720"}  # fmt: skip
    async with http.post(url + "/v1/videos", json=body,
                         headers={"authorization": f"Bearer {key}"}) as answer:  # fmt: skip
        tally[f"video jobs: HTTP {answer.status}"] += 1
        await answer.read()


async def one(http, url: str, key: str, rnd: random.Random, fault_share: float, tally: Counter):
    if rnd.random() < VIDEO_SHARE:
        try:
            await asyncio.wait_for(video(http, url, VIDEO_KEY[0], rnd, tally), timeout=30)
        except (TimeoutError, aiohttp.ClientError) as error:
            tally[f"video jobs: {type(error).__name__}"] += 1
        return
    stream = rnd.random() < 0.4
    prompt = "Tell me something"
    if rnd.random() < fault_share:
        pick, acc = rnd.random(), 0.0
        for share, directive, _ in FAULTS:
            acc += share
            if pick <= acc:
                prompt = f"{directive} {prompt}"
                tally[f"fault {directive}"] += 1
                break
    body = {"model": rnd.choice(MODELS), "messages": [{"role": "user", "content": prompt}],
            "max_tokens": 40, "stream": stream}  # fmt: skip
    abort_after = rnd.uniform(0.02, 0.3) if rnd.random() < 0.1 else None
    headers = {"authorization": f"Bearer {key}"}

    async def call() -> None:
        async with http.post(url + "/v1/chat/completions", json=body, headers=headers) as answer:
            tally[f"HTTP {answer.status}"] += 1
            async for _ in answer.content.iter_chunked(1024):
                pass

    try:
        if abort_after is None:
            await asyncio.wait_for(call(), timeout=30)
        else:
            tally["client aborts"] += 1
            await asyncio.wait_for(call(), timeout=abort_after)
    except TimeoutError:
        if abort_after is None:
            tally["client timeouts"] += 1
    except aiohttp.ClientError as error:
        tally[f"connection error {type(error).__name__}"] += 1


async def load(urls: list[str], keys: list[str], *, requests: int, concurrency: int,
               fault_share: float, events, seed: int) -> Counter:  # fmt: skip
    rnd = random.Random(seed)
    tally: Counter = Counter()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(requests):
        queue.put_nowait(n)
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=True)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as http:

        async def worker() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                for at, event in events:
                    if n == at:
                        event(tally)
                await one(http, rnd.choice(urls), rnd.choice(keys), rnd, fault_share, tally)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--accounts", type=int, default=3)
    parser.add_argument("--fault-share", type=float, default=0.3)
    parser.add_argument("--credits", type=int, default=50_000_000, help="micro-credits each")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    fresh_database()
    sim = start_simulator(quiet=True)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "reapi.settings", "DATABASE_URL": DATABASE_URL,
           "REDIS_URL": REDIS_URL, "SIMULATOR_URL": sim.url(None, suffix=""),
           "LOG_LEVEL": "ERROR", "LOG_FORMAT": "plain"}  # fmt: skip
    subprocess.run(["redis-cli", "-n", "4", "flushdb"], check=True, capture_output=True)
    subprocess.run([*MANAGE, "migrate", "--no-input", "-v0"], env=env, check=True)  # noqa: S603
    subprocess.run([*MANAGE, "load_demo_catalog"], env=env, check=True,  # noqa: S603
                   stdout=subprocess.DEVNULL)  # fmt: skip
    made = json.loads(shell(env, SETUP.format(accounts=args.accounts, credits=args.credits)))
    keys = made["chat"]
    VIDEO_KEY.append(made["video"])
    logs = ROOT / "var" / "chaos"
    logs.mkdir(parents=True, exist_ok=True)
    ports = [free_port(), free_port()]
    webs = [reapi_server.start(env, port, 2, logs / f"web-{port}.log") for port in ports]
    worker = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "celery", "-A", "reapi", "worker", "--beat", "--concurrency", "2",
         "--loglevel", "WARNING", "--queues", "reapi", "-s", str(logs / "beat-schedule")],
        cwd=ROOT, env=env, start_new_session=True,
        stdout=(logs / "worker.log").open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    killed: list[str] = []
    try:
        for web, port in zip(webs, ports, strict=True):
            reapi_server.wait_ready(web, port, keys[0])

        def kill_web_worker(tally: Counter) -> None:
            children = procs.workers(webs[0].pid)
            if children:
                os.kill(children[0], signal.SIGKILL)
                killed.append(f"web worker {children[0]} (server {ports[0]})")

        def kill_celery(tally: Counter) -> None:
            nonlocal worker
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            killed.append(f"Celery worker {worker.pid} (and its pool)")
            worker = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "celery", "-A", "reapi", "worker", "--beat",
                 "--concurrency", "2", "--loglevel", "WARNING", "--queues", "reapi",
                 "-s", str(logs / "beat-schedule")],
                cwd=ROOT, env=env, start_new_session=True,
                stdout=(logs / "worker.log").open("ab"), stderr=subprocess.STDOUT,
            )  # fmt: skip

        events = [(args.requests // 3, kill_web_worker), (args.requests // 2, kill_celery)]
        started = time.monotonic()
        tally = asyncio.run(load(
            [f"http://127.0.0.1:{p}" for p in ports], keys, requests=args.requests,
            concurrency=args.concurrency, fault_share=args.fault_share, events=events,
            seed=args.seed,
        ))  # fmt: skip
        seconds = time.monotonic() - started
        time.sleep(10)  # streams still closing; video jobs the restarted worker finishes
    finally:
        for web in webs:
            procs.stop(web)
        try:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(worker.pid, signal.SIGKILL)
        sim.stop()
    books = json.loads(shell(env, VERIFY.format()))
    report = render(args, tally, seconds, killed, books)
    print(report)
    out = ROOT / "bench" / "results" / f"chaos-{datetime.now(UTC):%Y%m%d-%H%M%S}.md"
    out.write_text(report)
    print(f"written to {out.relative_to(ROOT)}")
    sys.exit(1 if books["problem_count"] else 0)


def render(args, tally: Counter, seconds: float, killed: list[str], books: dict) -> str:
    lines = [
        f"# Chaos run, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"{args.requests} requests ({args.concurrency} at a time; chats from {args.accounts} "
        f"accounts of {args.credits / 1e6:g} credits, video jobs from a fourth) against two "
        f"web servers of two workers each, PostgreSQL, Redis and a Celery worker with beat; "
        f"{seconds:.1f} s.",
        "",
        "| what | count |",
        "| --- | ---: |",
    ]
    lines += [f"| {name} | {count} |" for name, count in sorted(tally.items())]
    lines += [f"| killed: {what} | 1 |" for what in killed]
    lines += [
        "",
        "Afterwards (reconciler run as if every hold had expired):",
        "",
        f"- holds taken: {books['holds']}; released by the reconciler: "
        f"{books['released_by_reconciler']}",
        f"- video jobs when the load ended: {books['video_jobs']} (those still running were then "
        "cancelled and refunded)",
        f"- usage rows: {books['usage_rows']} by status {books['usage_by_status']}; "
        f"charged {books['charged_micros'] / 1e6:g} credits",
        f"- problems found: **{books['problem_count']}**",
    ]
    lines += [f"  - {problem}" for problem in books["problems"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
