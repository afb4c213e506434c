"""Run the ASGI app under uvicorn, one or more worker processes.

    python -m reapi.serve --host 127.0.0.1 --port 8000 --workers 2 [--role api]

Why not `uvicorn --workers N`: with several workers uvicorn binds the listening socket
itself with protocol 0, and asyncio only turns Nagle's algorithm off (TCP_NODELAY) on
sockets whose protocol says TCP. Every response then waits for the client's delayed ACK:
about 40 ms added to each request. Here the listening socket is made with TCP_NODELAY,
which accepted connections inherit on Linux."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
from pathlib import Path

import uvicorn
from uvicorn.supervisors import Multiprocess


class Config(uvicorn.Config):
    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")))
    parser.add_argument("--log-level", default="info")
    parser.add_argument(
        "--role", choices=("all", "api"), default="all",
        help="all: the pages and the API; api: only the API (reapi/settings_api.py)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.role == "api":  # the workers inherit it
        os.environ["DJANGO_SETTINGS_MODULE"] = "reapi.settings_api"
    if args.workers > 1:
        _share_metrics()
    config = Config(
        "reapi.asgi:application",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    if config.workers > 1:
        sock = config.bind_socket()
        Multiprocess(config, sockets=[sock]).run()
    else:
        server.run()


def _share_metrics() -> None:
    """Several workers: their Prometheus counters live in files one scrape sums
    (gateway/metrics.py). A fresh folder per start, so old processes' counts do not linger."""
    folder = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or "var/prometheus")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder.resolve())


if __name__ == "__main__":
    main()
