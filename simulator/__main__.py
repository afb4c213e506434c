"""`python -m simulator --host 127.0.0.1 --port 8090 [--tokens-per-second N]`"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import signal

from aiohttp import web

from simulator.endpoint import Settings
from simulator.server import AccessLogger, create_app

logger = logging.getLogger("simulator")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m simulator", description="reAPI upstream simulator"
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback)")
    parser.add_argument("--port", type=int, default=8090, help="0 picks a free port")
    parser.add_argument(
        "--tokens-per-second",
        type=float,
        default=0.0,
        help="default generation speed; 0 = as fast as possible",
    )
    parser.add_argument(
        "--default-tokens", type=int, default=32, help="answer length when not asked otherwise"
    )
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="log method, path, status and latency of each request (never bodies)",
    )
    args = parser.parse_args(argv)
    if args.tokens_per_second < 0:
        parser.error("--tokens-per-second must be >= 0")
    if args.default_tokens < 0:
        parser.error("--default-tokens must be >= 0")
    return args


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def serve(args: argparse.Namespace) -> None:
    settings = Settings(
        tokens_per_second=args.tokens_per_second, default_tokens=args.default_tokens
    )
    runner = web.AppRunner(
        create_app(settings),
        # Stop work (hangs, paced streams) as soon as the client disconnects.
        handler_cancellation=True,
        access_log=logging.getLogger("simulator.access") if args.access_log else None,
        access_log_class=AccessLogger,
        # A hung request must not hold up a restart between test runs.
        shutdown_timeout=1.0,
    )
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, backlog=1024, shutdown_timeout=1.0)
    await site.start()
    if not _is_loopback(args.host):
        logger.warning("the simulator has no authentication; it is listening beyond loopback")
    logger.info(
        "simulator listening on http://%s:%d (tokens_per_second=%g)",
        args.host,
        site.port,
        args.tokens_per_second,
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
