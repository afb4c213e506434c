"""Start the simulator as a real subprocess and script it (for pytest fixtures, `make run`,
benchmarks).

    with start_simulator() as sim:
        sim.set_fault("route-a", status=503, times=1)
        client = OpenAI(base_url=sim.url("route-a"), api_key="x")

No aiohttp here: this module only needs `requests`, so it is cheap to import from tests.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import requests

_PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A loopback port that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def closed_port() -> int:
    """A loopback port with nothing listening, for "connection refused" routes.

    A listening server cannot refuse connections, so point a route at this port instead."""
    return free_port()


class SimulatorProcess:
    """A running simulator subprocess and a small client for its control API."""

    def __init__(self, process: subprocess.Popen[bytes], host: str, port: int) -> None:
        self.process = process
        self.host = host
        self.port = port
        self.base_url = f"http://{host}:{port}"
        self._http = requests.Session()
        self._http.trust_env = False  # never route loopback calls through an env proxy

    def url(self, scope: str | None = None, *, suffix: str = "/v1") -> str:
        """Base URL of a scope, e.g. `http://127.0.0.1:PORT/s/route-a/v1` (what the gateway
        stores for an OpenAI-compatible route). `suffix=""` for protocols rooted elsewhere, e.g.
        the Anthropic SDK's `base_url`, to which it appends `/v1/messages` itself."""
        if scope is None:
            return self.base_url + suffix
        return f"{self.base_url}/s/{quote(scope, safe='=,:._-')}{suffix}"

    def _control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, self.base_url + path, timeout=5, **kwargs)
        response.raise_for_status()
        return response.json()

    def set_fault(self, scope: str = "default", *, times: int | None = None, **spec: Any) -> Any:
        """Replace the faults of `scope` (for the next `times` requests only, if given)."""
        body = dict(spec)
        if times is not None:
            body["times"] = times
        return self._control("PUT", f"/_sim/scopes/{quote(scope, safe='=,:._-')}", json=body)

    def clear_fault(self, scope: str = "default") -> None:
        self._control("DELETE", f"/_sim/scopes/{quote(scope, safe='=,:._-')}")

    def stats(self) -> dict[str, Any]:
        return self._control("GET", "/_sim/stats")

    def request_count(self, scope: str = "default") -> int:
        """How many protocol requests `scope` has received since the last reset."""
        return self.stats()["scopes"].get(scope, {}).get("requests", 0)

    def reset(self) -> None:
        """Clear every configured fault and counter."""
        self._control("POST", "/_sim/reset")

    def healthy(self) -> bool:
        try:
            return self._http.get(self.base_url + "/_sim/health", timeout=0.5).ok
        except requests.RequestException:
            return False

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate our own subprocess (by its PID) and wait for it."""
        self._http.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout_s)

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start_simulator(
    *,
    tokens_per_second: float = 0.0,
    default_tokens: int | None = None,
    access_log: bool = False,
    port: int | None = None,
    startup_timeout_s: float = 10.0,
    quiet: bool = False,
) -> SimulatorProcess:
    """Start `python -m simulator` on a free loopback port and wait until it answers.

    Retries on a fresh port if another process grabbed the one we picked in between."""
    deadline = time.monotonic() + startup_timeout_s
    attempts = 1 if port is not None else 3
    for _ in range(attempts):
        chosen = port if port is not None else free_port()
        args = [
            sys.executable,
            "-m",
            "simulator",
            "--host",
            LOOPBACK,
            "--port",
            str(chosen),
            "--tokens-per-second",
            str(tokens_per_second),
        ]
        if default_tokens is not None:
            args += ["--default-tokens", str(default_tokens)]
        if access_log:
            args.append("--access-log")
        output = subprocess.DEVNULL if quiet else None
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed args
            args, cwd=_PROJECT_ROOT, env=env, stdout=output, stderr=output
        )
        sim = SimulatorProcess(process, LOOPBACK, chosen)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break  # exited: most likely the port was taken; try another one
            if sim.healthy():
                return sim
            time.sleep(0.05)
        with contextlib.suppress(Exception):
            sim.stop()
        if time.monotonic() >= deadline:
            break
    raise RuntimeError(f"the simulator did not start within {startup_timeout_s:g}s")
