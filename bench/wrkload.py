"""Closed-loop HTTP load with wrk (/usr/bin/wrk): a fixed number of keep-alive connections
sending the same POST back to back. wrk is C, so on a 2-core machine it leaves more CPU to the
servers being measured than a Python client would.

A Lua `done()` hook prints the counts and percentiles on one machine-readable line, so nothing
depends on the layout of wrk's human-readable report (which `--latency` also prints, and which
is kept in the log)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

WRK = "/usr/bin/wrk"
RESULT_LINE = re.compile(r"^BENCH_RESULT (.*)$", re.MULTILINE)

_DONE_HOOK = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d "
    .. "p50_us=%.0f p99_us=%.0f\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int  # responses received, any status
    bad_status: int  # responses that were not 2xx/3xx (counted in `requests`)
    socket_errors: int  # connect/read/write errors and timeouts (not in `requests`)
    duration_s: float
    p50_ms: float
    p99_ms: float

    @property
    def ok(self) -> int:
        return max(self.requests - self.bad_status, 0)

    @property
    def errors(self) -> int:
        return self.bad_status + self.socket_errors

    @property
    def rps(self) -> float:
        return self.ok / self.duration_s if self.duration_s else 0.0


def _lua_string(text: str) -> str:
    """A Lua long-bracket literal: no escaping needed as long as the closing bracket is absent."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def write_script(path: Path, body: bytes, headers: dict[str, str]) -> Path:
    lines = ['wrk.method = "POST"', f"wrk.body = {_lua_string(body.decode())}"]
    # The spaces matter: `t[[[x]]]` would parse as a call `t[[...]]` with a long string.
    lines += [f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n" + _DONE_HOOK)
    return path


def run(
    url: str, script: Path, *, connections: int, seconds: float, log: Path | None = None
) -> WrkResult:
    if not url.startswith(("http://127.", "http://localhost")):
        raise ValueError("load goes to loopback only")
    threads = min(2, connections)  # the machine has 2 cores; more threads only add switching
    args = [
        WRK, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
        "--timeout", "10s", "--latency", "-s", str(script), url,
    ]  # fmt: skip
    # wrk stops on its own after -d; the timeout only guards against a wedged run.
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if log is not None:
        with log.open("a") as f:
            f.write(f"$ {' '.join(args)}\n{out.stdout}{out.stderr}\n")
    match = RESULT_LINE.search(out.stdout)
    if out.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout}")
    values = dict(item.split("=") for item in match.group(1).split())
    n = {k: int(float(v)) for k, v in values.items()}
    return WrkResult(
        requests=n["requests"],
        bad_status=n["status"],
        socket_errors=n["connect"] + n["read"] + n["write"] + n["timeout"],
        duration_s=n["duration_us"] / 1e6,
        p50_ms=n["p50_us"] / 1000,
        p99_ms=n["p99_us"] / 1000,
    )
