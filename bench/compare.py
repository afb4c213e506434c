"""reAPI versus the LiteLLM proxy, both in front of the same bundled simulator, in one run:
throughput, latency, CPU per request, memory and failover cost (issue 5).

    .venv/bin/python bench/compare.py [--seconds N] [--workers 2] [--quick]

Starts on loopback, and stops again by PID: the simulator; reAPI under uvicorn (PostgreSQL at
DATABASE_URL, Redis at REDIS_URL, defaults below); the LiteLLM proxy from bench/.litellm-venv
with no database. Non-stream load comes from wrk, streams from an aiohttp client, failover
from sequential requests. Writes bench/results/compare-<UTC timestamp>.md; logs, configs and
wrk scripts of the run go to bench/.var/compare/<timestamp>/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import litellm_proxy, pacedload, procs, reapi_server, streamload, wrkload  # noqa: E402
from bench.loadgen import Result  # noqa: E402
from simulator.testing import closed_port, free_port, start_simulator  # noqa: E402

CONCURRENCY = (1, 16, 64)
STREAM_CONCURRENCY = (1, 16)
# "Below saturation": at most 16 at once, at these shares of reAPI's closed-loop c=16 rate.
PACED_CONCURRENCY = 16
PACED_SHARES = (0.25, 0.5)
PACED_TARGET_SHARE = 0.5  # the one the target row reads: the busier of the two
MODEL = "gpt-5-mini"
FAILOVER = {"refuses the connection": "bench-failover-refused", "answers 503": "bench-failover-503"}
UPSTREAM, REAPI, LITELLM = "upstream", "reAPI", "LiteLLM"
PROMPT = [{"role": "user", "content": "Benchmark me, briefly."}]


def chat_body(model: str = MODEL, *, stream: bool = False) -> bytes:
    body: dict[str, Any] = {"model": model, "max_tokens": 16, "messages": PROMPT}
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


@dataclass
class Target:
    name: str
    base_url: str  # up to and including /v1
    key: str
    pid: int  # root of the server's process tree
    # Did this answer come from the fallback route? (None for the upstream: no failover.)
    used_fallback: Callable[[requests.Response], bool] | None = None
    script: Path | None = None  # wrk script with this target's key

    @property
    def chat_url(self) -> str:
        return f"{self.base_url}/chat/completions"

    @property
    def headers(self) -> dict[str, str]:
        return {"content-type": "application/json", "authorization": f"Bearer {self.key}"}


@dataclass
class Cell:
    """One measurement: a latency summary plus the CPU it cost, per completed request."""

    rps: float
    p50: float
    p99: float
    errors: int
    cpu_ms: float  # the server's process tree, ms CPU per completed request
    svc_ms: float  # PostgreSQL backends of the bench DB + Redis, ms CPU per completed request
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def total_cpu_ms(self) -> float:
        return self.cpu_ms + self.svc_ms


@dataclass
class FailoverSeries:
    latency: Result = field(default_factory=Result)
    via_fallback: int = 0


# --- measuring ---------------------------------------------------------------------------


class CpuMeter:
    """CPU used by a server's tree and by the shared services, around one load cell."""

    def __init__(self, pid: int, db_name: str) -> None:
        self.pid, self.db_name = pid, db_name

    def __enter__(self) -> CpuMeter:
        self._svc = procs.snapshot(procs.service_pids(self.db_name))
        self._tree = procs.tree_snapshot(self.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        self.tree_s = procs.cpu_delta(self._tree, procs.tree_snapshot(self.pid))
        after = procs.snapshot(procs.service_pids(self.db_name))
        self.svc_s = procs.cpu_delta(self._svc, after)


def per_request_ms(seconds: float, requests_done: int) -> float:
    return seconds * 1000 / requests_done if requests_done else float("nan")


def nonstream_cell(t: Target, concurrency: int, seconds: float, db: str, log: Path) -> Cell:
    assert t.script is not None
    with CpuMeter(t.pid, db) as cpu:
        r = wrkload.run(t.chat_url, t.script, connections=concurrency, seconds=seconds, log=log)
    return Cell(
        rps=r.rps, p50=r.p50_ms, p99=r.p99_ms, errors=r.errors,
        cpu_ms=per_request_ms(cpu.tree_s, r.ok), svc_ms=per_request_ms(cpu.svc_s, r.ok),
    )  # fmt: skip


def paced_cell(t: Target, rate: float, seconds: float, db: str) -> Cell:
    with CpuMeter(t.pid, db) as cpu:
        r = pacedload.run(
            t.chat_url, chat_body(), t.headers, connections=PACED_CONCURRENCY, rate=rate,
            seconds=seconds,
        )  # fmt: skip
    return Cell(
        rps=r.latency.rps, p50=r.latency.pct(50), p99=r.latency.pct(99), errors=r.errors,
        cpu_ms=per_request_ms(cpu.tree_s, r.ok), svc_ms=per_request_ms(cpu.svc_s, r.ok),
        extra={"rate": rate, "late": r.late},
    )  # fmt: skip


def paced_rates(nonstream: dict[tuple[int, str], Cell], share: float) -> dict[str, float]:
    """The rate each target is held at: `share` of reAPI's closed-loop c=16 rate for the
    upstream and reAPI (the same rate, so "added" compares like with like); LiteLLM at the
    same rate if it can take it, else at `share` of its own."""
    rate = max(10.0, round(nonstream[(PACED_CONCURRENCY, REAPI)].rps * share / 10) * 10)
    own = max(10.0, round(nonstream[(PACED_CONCURRENCY, LITELLM)].rps * share / 10) * 10)
    return {UPSTREAM: rate, REAPI: rate, LITELLM: min(rate, own)}


def stream_cell(t: Target, concurrency: int, seconds: float, db: str) -> Cell:
    body = chat_body(stream=True)
    with CpuMeter(t.pid, db) as cpu:
        r = streamload.run(t.chat_url, body, t.headers, concurrency=concurrency, seconds=seconds)
    return Cell(
        rps=r.total.rps, p50=r.total.pct(50), p99=r.total.pct(99), errors=r.errors,
        cpu_ms=per_request_ms(cpu.tree_s, r.completed),
        svc_ms=per_request_ms(cpu.svc_s, r.completed),
        extra={"ttfb_p50": r.ttfb.pct(50), "ttfb_p99": r.ttfb.pct(99)},
    )  # fmt: skip


def failover_series(t: Target, count: int, limit_s: float) -> dict[str, FailoverSeries]:
    """`count` sequential requests per model, the models interleaved so that drift in the
    machine's load hits all of them alike; bounded by `limit_s` as well."""
    assert t.used_fallback is not None
    models = [MODEL, *FAILOVER.values()]
    series = {m: FailoverSeries() for m in models}
    bodies = {m: chat_body(m) for m in models}
    deadline = time.monotonic() + limit_s
    with requests.Session() as http:
        http.trust_env = False
        for _ in range(count):
            if time.monotonic() > deadline:
                break
            for m in models:
                started = time.perf_counter()
                try:
                    resp = http.post(t.chat_url, data=bodies[m], headers=t.headers, timeout=10)
                except requests.RequestException:
                    series[m].latency.errors += 1
                    continue
                elapsed = (time.perf_counter() - started) * 1000
                if resp.status_code != 200:
                    series[m].latency.errors += 1
                    continue
                series[m].latency.latencies_ms.append(elapsed)
                series[m].via_fallback += t.used_fallback(resp)
    return series


def idle_cpu_percent(pid: int, seconds: float = 2.0) -> float:
    before = procs.tree_snapshot(pid)
    time.sleep(seconds)
    return procs.cpu_delta(before, procs.tree_snapshot(pid)) / seconds * 100


def memory(pid: int, measure: Callable[[int], float] = procs.rss_mb) -> dict[str, float]:
    """RSS (or another `measure`) of the server's main process and of each worker, in MiB."""
    workers = procs.workers(pid)
    if not workers:  # one worker: uvicorn and LiteLLM serve from the main process itself
        return {"single process": measure(pid)}
    rows = {"main process": measure(pid)}
    for i, worker in enumerate(workers, 1):
        rows[f"worker {i}"] = measure(worker)
    return rows


# --- starting and warming up --------------------------------------------------------------


def reapi_env(simulator_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.setdefault("DATABASE_URL", reapi_server.DEFAULT_DATABASE_URL)
    env.setdefault("REDIS_URL", reapi_server.DEFAULT_REDIS_URL)
    env.update(
        SIMULATOR_URL=simulator_url,
        LOG_LEVEL="WARNING",
        NO_PROXY="127.0.0.1,localhost",
        # Keep the generated secret and any local files away from the developer's var/.
        REAPI_VAR_DIR=str(ROOT / "bench" / ".var"),
    )
    return env


def warm_up(targets: list[Target], seconds: float, log: Path) -> None:
    """Open connection pools, fill caches, load lazily imported code paths: streams and
    failover included, so the first measured cell does not pay for them."""
    for t in targets:
        assert t.script is not None
        wrkload.run(t.chat_url, t.script, connections=16, seconds=seconds, log=log)
        streamload.run(t.chat_url, chat_body(stream=True), t.headers, concurrency=4, seconds=1)
        if t.used_fallback is not None:
            failover_series(t, count=5, limit_s=20)


def say(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --- the report ---------------------------------------------------------------------------


def f(value: float, digits: int = 2) -> str:
    return "n/a" if value != value else f"{value:,.{digits}f}"  # NaN check without math


def signed(value: float) -> str:
    return "n/a" if value != value else f"{value:+,.2f}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b and a == a and b == b else "n/a"


def machine_facts(
    args: argparse.Namespace, env: dict[str, str], litellm_version: str, autovacuum: str
) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    wrk = subprocess.run(
        [wrkload.WRK, "--version"], capture_output=True, text=True, check=False, timeout=10
    )
    wrk_version = (wrk.stdout or wrk.stderr).split("[")[0].strip()
    return (
        f"Machine: {os.cpu_count()} CPUs (nproc) {cpu}, Linux {platform.release()}, "
        f"Python {platform.python_version()}. "
        f"reAPI: uvicorn, {args.workers} workers, `--role {args.role}`, PostgreSQL "
        f"`{reapi_server.redacted(env['DATABASE_URL'])}` (VACUUM ANALYZE before the run; "
        f"autovacuum {autovacuum}), Redis "
        f"`{reapi_server.redacted(env['REDIS_URL'])}`. "
        f"LiteLLM {litellm_version}: `litellm --num_workers {args.workers}`, no database, "
        f"no Redis. Upstream: the bundled simulator (1 process, instant answers). "
        f"Cells: {args.seconds:g} s each; failover: {args.failover_requests} sequential "
        f"requests per model. Load: {wrk_version} (non-stream, ≤2 threads), aiohttp (streams "
        f"and paced), requests (failover); all on the same 2-core box, loopback only."
    )


def nonstream_table(cells: dict[tuple[int, str], Cell]) -> list[str]:
    lines = [
        "| concurrency | target | requests/s | p50 ms | p99 ms | added p50 ms | added p99 ms "
        "| CPU ms/req | PG+Redis CPU ms/req | total CPU ms/req | errors |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in CONCURRENCY:
        up = cells[(c, UPSTREAM)]
        for name in (UPSTREAM, REAPI, LITELLM):
            x = cells[(c, name)]
            added_p50, added_p99 = signed(x.p50 - up.p50), signed(x.p99 - up.p99)
            if name == UPSTREAM:
                added_p50 = added_p99 = "—"
            lines.append(
                f"| {c} | {name} | {f(x.rps, 0)} | {f(x.p50)} | {f(x.p99)} | {added_p50} "
                f"| {added_p99} | {f(x.cpu_ms, 3)} | {f(x.svc_ms, 3)} | {f(x.total_cpu_ms, 3)} "
                f"| {x.errors} |"
            )
        r, lt = cells[(c, REAPI)], cells[(c, LITELLM)]
        lines.append(
            f"| {c} | **reAPI ÷ LiteLLM** | {ratio(r.rps, lt.rps)} | {ratio(r.p50, lt.p50)} "
            f"| {ratio(r.p99, lt.p99)} | {ratio(r.p50 - up.p50, lt.p50 - up.p50)} "
            f"| {ratio(r.p99 - up.p99, lt.p99 - up.p99)} | {ratio(r.cpu_ms, lt.cpu_ms)} "
            f"| | {ratio(r.total_cpu_ms, lt.total_cpu_ms)} | |"
        )
    return lines


def paced_table(cells: dict[tuple[float, str], Cell]) -> list[str]:
    lines = [
        "| share of reAPI's c=16 rate | target | rate asked /s | answered /s | p50 ms | p99 ms "
        "| added p50 ms | added p99 ms | CPU ms/req | PG+Redis CPU ms/req | total CPU ms/req "
        "| started late | errors |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |",
    ]
    for share in PACED_SHARES:
        up = cells[(share, UPSTREAM)]
        for name in (UPSTREAM, REAPI, LITELLM):
            x = cells[(share, name)]
            same_rate = x.extra["rate"] == up.extra["rate"]
            added_p50, added_p99 = signed(x.p50 - up.p50), signed(x.p99 - up.p99)
            if name == UPSTREAM or not same_rate:
                added_p50 = added_p99 = "—"
            lines.append(
                f"| {share:.0%} | {name} | {f(x.extra['rate'], 0)} | {f(x.rps, 0)} | {f(x.p50)} "
                f"| {f(x.p99)} | {added_p50} | {added_p99} | {f(x.cpu_ms, 3)} "
                f"| {f(x.svc_ms, 3)} | {f(x.total_cpu_ms, 3)} | {x.extra['late']:.0f} "
                f"| {x.errors} |"
            )
    return lines


def stream_table(all_cells: dict[tuple[int, str], Cell]) -> list[str]:
    lines = [
        "| concurrency | target | streams/s | first data p50 ms | first data p99 ms "
        "| total p50 ms | total p99 ms | added first data p50/p99 ms | added total p50/p99 ms "
        "| CPU ms/stream | PG+Redis CPU ms/stream | total CPU ms/stream | errors |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |",
    ]
    for c in STREAM_CONCURRENCY:
        cells = {name: all_cells[(c, name)] for name in (UPSTREAM, REAPI, LITELLM)}
        lines += _stream_rows(c, cells)
    return lines


def _stream_rows(c: int, cells: dict[str, Cell]) -> list[str]:
    lines = []
    up = cells[UPSTREAM]
    for name in (UPSTREAM, REAPI, LITELLM):
        x = cells[name]
        if name == UPSTREAM:
            added_ttfb = added_total = "—"
        else:
            added_ttfb = (
                f"{signed(x.extra['ttfb_p50'] - up.extra['ttfb_p50'])} / "
                f"{signed(x.extra['ttfb_p99'] - up.extra['ttfb_p99'])}"
            )
            added_total = f"{signed(x.p50 - up.p50)} / {signed(x.p99 - up.p99)}"
        lines.append(
            f"| {c} | {name} | {f(x.rps, 0)} | {f(x.extra['ttfb_p50'])} | {f(x.extra['ttfb_p99'])} "
            f"| {f(x.p50)} | {f(x.p99)} | {added_ttfb} | {added_total} | {f(x.cpu_ms, 3)} "
            f"| {f(x.svc_ms, 3)} | {f(x.total_cpu_ms, 3)} | {x.errors} |"
        )
    r, lt = cells[REAPI], cells[LITELLM]
    lines.append(
        f"| {c} | **reAPI ÷ LiteLLM** | {ratio(r.rps, lt.rps)} "
        f"| {ratio(r.extra['ttfb_p50'], lt.extra['ttfb_p50'])} "
        f"| {ratio(r.extra['ttfb_p99'], lt.extra['ttfb_p99'])} | {ratio(r.p50, lt.p50)} "
        f"| {ratio(r.p99, lt.p99)} | | | {ratio(r.cpu_ms, lt.cpu_ms)} | "
        f"| {ratio(r.total_cpu_ms, lt.total_cpu_ms)} | |"
    )
    return lines


def failover_table(results: dict[str, dict[str, FailoverSeries]]) -> list[str]:
    lines = [
        "| gateway | first route | p50 ms | p99 ms | added p50 ms | added p99 ms "
        "| served by the fallback | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    added: dict[tuple[str, str], float] = {}
    for gateway in (REAPI, LITELLM):
        series = results[gateway]
        plain = series[MODEL].latency
        lines.append(
            f"| {gateway} | healthy (`{MODEL}`) | {f(plain.pct(50))} | {f(plain.pct(99))} | — | — "
            f"| — | {plain.errors} |"
        )
        for label, model in FAILOVER.items():
            s = series[model]
            added[(gateway, model)] = s.latency.pct(50) - plain.pct(50)
            lines.append(
                f"| {gateway} | {label} (`{model}`) | {f(s.latency.pct(50))} "
                f"| {f(s.latency.pct(99))} | {signed(added[(gateway, model)])} "
                f"| {signed(s.latency.pct(99) - plain.pct(99))} "
                f"| {s.via_fallback}/{len(s.latency.latencies_ms)} | {s.latency.errors} |"
            )
    lines.append("")
    for label, model in FAILOVER.items():
        lines.append(
            f"- First route {label}: added p50 reAPI {signed(added[(REAPI, model)])} ms, "
            f"LiteLLM {signed(added[(LITELLM, model)])} ms."
        )
    return lines


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def memory_table(
    idle: dict[str, dict[str, float]],
    loaded: dict[str, dict[str, float]],
    idle_cpu: dict[str, float],
    loaded_pss: dict[str, dict[str, float]],
) -> list[str]:
    lines = [
        "| server | process | RSS idle MiB | RSS after the load MiB | PSS after the load MiB |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for name in (REAPI, LITELLM, UPSTREAM):
        for proc, rss in idle[name].items():
            after = loaded[name].get(proc, float("nan"))
            pss = loaded_pss[name].get(proc, float("nan"))
            lines.append(f"| {name} | {proc} | {f(rss, 1)} | {f(after, 1)} | {f(pss, 1)} |")
        in_workers = [
            [v for k, v in rows[name].items() if k.startswith("worker")]
            for rows in (idle, loaded, loaded_pss)
        ]
        if in_workers[0]:
            lines.append(
                f"| {name} | **mean per worker** | "
                + " | ".join(f(mean(values), 1) for values in in_workers)
                + " |"
            )
    lines.append("")
    lines.append(
        "Idle CPU after warm-up (whole tree, % of one core): "
        + ", ".join(f"{name} {f(v, 1)} %" for name, v in idle_cpu.items())
        + "."
    )
    return lines


def targets_table(
    nonstream: dict[tuple[int, str], Cell],
    paced: dict[tuple[float, str], Cell],
    stream: dict[tuple[int, str], Cell],
    failover: dict[str, dict[str, FailoverSeries]],
    idle: dict[str, dict[str, float]],
    loaded: dict[str, dict[str, float]],
) -> list[str]:
    """Each target of issue 5 beside what this run measured."""

    def added(cells: dict, c: int, key: str) -> float:
        return getattr(cells[(c, REAPI)], key) - getattr(cells[(c, UPSTREAM)], key)

    def ttfb_added(c: int) -> float:
        return stream[(c, REAPI)].extra["ttfb_p50"] - stream[(c, UPSTREAM)].extra["ttfb_p50"]

    throughput = min(nonstream[(c, REAPI)].rps / nonstream[(c, LITELLM)].rps for c in (16, 64))
    paced_rate = paced[(PACED_TARGET_SHARE, REAPI)].extra["rate"]
    paced_added = paced[(PACED_TARGET_SHARE, REAPI)].p99 - paced[(PACED_TARGET_SHARE, UPSTREAM)].p99
    stream_cpu = stream[(16, REAPI)].cpu_ms / stream[(16, LITELLM)].cpu_ms
    plain = failover[REAPI][MODEL].latency.pct(50)
    failover_added = max(failover[REAPI][m].latency.pct(50) - plain for m in FAILOVER.values())
    workers = [v for k, v in {**idle[REAPI], **{f"{k} ": v for k, v in loaded[REAPI].items()}}
               .items() if k.startswith("worker")]  # fmt: skip
    rows = [
        ("Non-stream requests/s ≥ 10× LiteLLM's (c=16 and 64, the lower)",
         f"{throughput:.2f}×", throughput >= 10),
        ("Added p50 ≤ 1 ms at c=1", f"{signed(added(nonstream, 1, 'p50'))} ms",
         added(nonstream, 1, "p50") <= 1),
        (f"Added p99 ≤ 5 ms at c=16 below saturation (paced at {f(paced_rate, 0)}/s, "
         f"{PACED_TARGET_SHARE:.0%} of saturation)",
         f"{signed(paced_added)} ms", paced_added <= 5),
        ("Streaming: added time to first byte ≤ 2 ms at c=1 (p50)",
         f"{signed(ttfb_added(1))} ms", ttfb_added(1) <= 2),
        ("CPU per stream ≤ 1/10 of LiteLLM's (server processes, c=16)",
         f"{stream_cpu:.2f}×", stream_cpu <= 0.1),
        ("Failover (refused connection or 503) ≤ 50 ms added (p50)",
         f"{signed(failover_added)} ms", failover_added <= 50),
        ("One account, 64 concurrent requests: no errors",
         f"{nonstream[(64, REAPI)].errors} errors", nonstream[(64, REAPI)].errors == 0),
        ("RSS per worker ≤ 100 MiB, idle and after the load",
         f"{max(workers):.1f} MiB at most", max(workers) <= 100),
    ]  # fmt: skip
    return [
        "| target | this run | met |",
        "| --- | ---: | --- |",
        *(f"| {what} | {value} | {'yes' if ok else 'no'} |" for what, value, ok in rows),
    ]


def report(
    facts: str,
    nonstream: dict[tuple[int, str], Cell],
    paced: dict[tuple[float, str], Cell],
    stream: dict[tuple[int, str], Cell],
    failover: dict[str, dict[str, FailoverSeries]],
    # RSS idle, RSS after the load, idle CPU, PSS after the load
    mem: tuple[
        dict[str, dict[str, float]],
        dict[str, dict[str, float]],
        dict[str, float],
        dict[str, dict[str, float]],
    ],
) -> str:
    return "\n".join(
        [
            f"# reAPI vs LiteLLM, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "",
            facts,
            "",
            "## Issue 5's targets",
            "",
            *targets_table(nonstream, paced, stream, failover, mem[0], mem[1]),
            "",
            "Added = the gateway's figure minus the upstream called directly at the same "
            "concurrency. CPU ms/req = utime+stime of the server's whole process tree (main "
            "process and workers) during the cell ÷ completed requests; PG+Redis = the same for "
            "the PostgreSQL backends of the bench database plus the Redis server (work reAPI "
            "hands off; for LiteLLM and the upstream it is background noise); total = both. "
            "Ratios are reAPI ÷ LiteLLM: below 1 is better for reAPI, except requests/s.",
            "",
            "## Non-stream chat completions (max_tokens 16; wrk, keep-alive)",
            "",
            *nonstream_table(nonstream),
            "",
            f"## Below saturation: non-stream, paced, at most {PACED_CONCURRENCY} at once",
            "",
            "wrk's closed loops above run at saturation. Here requests start on an even "
            f"schedule (aiohttp, `bench/pacedload.py`) over at most {PACED_CONCURRENCY} "
            "keep-alive connections: "
            + " and ".join(f"{share:.0%}" for share in PACED_SHARES)
            + f" of reAPI's c={PACED_CONCURRENCY} requests/s, the same rate for the upstream "
            "alone; LiteLLM at that rate, or at that share of its own if it cannot take it "
            "(then no added figures). "
            "Started late = requests whose start found every connection busy.",
            "",
            *paced_table(paced),
            "",
            "## Streaming chat completions (aiohttp client)",
            "",
            "First data = time to the first `data:` line; total = until `data: [DONE]`.",
            "",
            *stream_table(stream),
            "",
            "## Failover (sequential requests, models interleaved)",
            "",
            "Added = p50/p99 of the failover model minus the healthy model's, same gateway. "
            "Both gateways try the failing route once and then the simulator (LiteLLM: "
            "num_retries 0, cooldowns off, fallbacks to the gpt-5-mini group).",
            "",
            *failover_table(failover),
            "",
            "## Memory",
            "",
            *memory_table(*mem),
            "",
        ]
    )


# --- main ---------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=float, help="per load cell, whole seconds (default 8, quick 3)"
    )
    parser.add_argument("--workers", type=int, default=2, help="uvicorn / LiteLLM workers")
    parser.add_argument(
        "--role", choices=("api", "all"), default="api",
        help="reAPI's reapi.serve --role: api (the /v1 servers of production) or all (pages too)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="short cells, fewer requests")
    parser.add_argument("--failover-requests", type=int, help="per model (default 200; quick 60)")
    args = parser.parse_args()
    if args.seconds is None:
        args.seconds = 3.0 if args.quick else 8.0
    if args.failover_requests is None:
        args.failover_requests = 60 if args.quick else 200
    return args


def _terminate_on_sigterm() -> None:
    """SIGTERM to us must still run the cleanup in `finally`, as Ctrl-C does."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def main() -> None:
    args = parse_args()
    _terminate_on_sigterm()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = ROOT / "bench" / ".var" / "compare" / stamp
    run_dir.mkdir(parents=True, exist_ok=True)
    wrk_log = run_dir / "wrk.log"
    litellm_version = litellm_proxy.version()

    sim = start_simulator(quiet=True)
    web: subprocess.Popen[bytes] | None = None
    lite: subprocess.Popen[bytes] | None = None
    try:
        say(f"simulator at {sim.base_url}; logs in {run_dir.relative_to(ROOT)}")
        dead_port = closed_port()  # the same refusing port for both gateways

        # LiteLLM takes ~20 s to start: let it boot while reAPI is being prepared.
        master_key = litellm_proxy.new_master_key()
        cfg = litellm_proxy.config(sim.base_url, dead_port, master_key)
        cfg_path = litellm_proxy.write_config(run_dir / "litellm.yaml", cfg)
        lite_port = free_port()
        lite = litellm_proxy.start(
            cfg_path, lite_port, args.workers, run_dir / "litellm.log", run_dir
        )

        env = reapi_env(sim.base_url)
        if "DATABASE_URL" not in os.environ:
            reapi_server.ensure_default_database()
        say("preparing reAPI (migrate, catalog, bench key)")
        key = reapi_server.prepare(env, sim.base_url, dead_port)
        autovacuum = reapi_server.vacuum(env["DATABASE_URL"])
        web_port = free_port()
        web = reapi_server.start(env, web_port, args.workers, run_dir / "reapi.log", role=args.role)
        reapi_server.wait_ready(web, web_port, key)
        say("reAPI ready; waiting for LiteLLM")
        litellm_proxy.wait_ready(lite, lite_port, master_key)
        for process in (web, lite):
            procs.wait_idle(process.pid)  # every worker done starting before the warm-up
        say("both gateways ready")

        targets = [
            Target(UPSTREAM, f"{sim.base_url}/v1", "sk-bench-upstream", sim.process.pid),
            Target(
                REAPI, f"http://127.0.0.1:{web_port}/v1", key, web.pid,
                used_fallback=lambda r: r.headers.get("x-reapi-provider") == "simulator",
            ),
            Target(
                LITELLM, f"http://127.0.0.1:{lite_port}/v1", master_key, lite.pid,
                used_fallback=lambda r: r.headers.get("x-litellm-attempted-fallbacks") == "1",
            ),
        ]  # fmt: skip
        for t in targets:
            t.script = wrkload.write_script(run_dir / f"wrk-{t.name}.lua", chat_body(), t.headers)
        by_name = {t.name: t for t in targets}
        db = reapi_server.database_name(env["DATABASE_URL"])

        say("warming up")
        warm_up(targets, seconds=min(3.0, args.seconds), log=wrk_log)
        for t in targets:
            procs.wait_idle(t.pid, limit_s=10)
        idle_cpu = {t.name: idle_cpu_percent(t.pid) for t in targets}
        idle_mem = {t.name: memory(t.pid) for t in targets}

        nonstream: dict[tuple[int, str], Cell] = {}
        for c in CONCURRENCY:
            for t in targets:  # the three targets back to back: drift hits them alike
                say(f"non-stream, concurrency {c}: {t.name}")
                nonstream[(c, t.name)] = nonstream_cell(t, c, args.seconds, db, wrk_log)
        paced: dict[tuple[float, str], Cell] = {}
        for share in PACED_SHARES:
            rates = paced_rates(nonstream, share)
            for t in targets:
                rate = rates[t.name]
                say(f"non-stream, at most {PACED_CONCURRENCY} at once, {rate:g}/s: {t.name}")
                paced[(share, t.name)] = paced_cell(t, rate, args.seconds, db)
        stream: dict[tuple[int, str], Cell] = {}
        for c in STREAM_CONCURRENCY:
            for t in targets:
                say(f"streaming, concurrency {c}: {t.name}")
                stream[(c, t.name)] = stream_cell(t, c, args.seconds, db)
        failover = {}
        for name in (REAPI, LITELLM):
            say(f"failover: {name}")
            failover[name] = failover_series(
                by_name[name], args.failover_requests, limit_s=max(30.0, args.seconds * 10)
            )
        loaded_mem = {t.name: memory(t.pid) for t in targets}
        loaded_pss = {t.name: memory(t.pid, procs.pss_mb) for t in targets}

        facts = machine_facts(args, env, litellm_version, autovacuum)
        mem = (idle_mem, loaded_mem, idle_cpu, loaded_pss)
        text = report(facts, nonstream, paced, stream, failover, mem)
        print(text)
        out = ROOT / "bench" / "results" / f"compare-{stamp}.md"
        out.write_text(text)
        say(f"written to {out.relative_to(ROOT)}")
    finally:
        for process in (lite, web):
            if process is not None:
                procs.stop(process)
        sim.stop()


if __name__ == "__main__":
    main()
