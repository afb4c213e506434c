"""Start the web server, a Celery worker and the upstream simulator; stop them on Ctrl-C.

Used by `make run`. Each child is started here and stopped here, by PID.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

PORT = int(os.environ.get("PORT", "8000"))
SIMULATOR_PORT = int(os.environ.get("SIMULATOR_PORT", "8090"))
WEB_WORKERS = os.environ.get("WEB_CONCURRENCY", "1")


def main() -> int:
    python = sys.executable
    commands = {
        "simulator": [
            python, "-m", "simulator", "--host", "127.0.0.1", "--port", str(SIMULATOR_PORT),
        ],
        "worker": [
            python, "-m", "celery", "-A", "reapi", "worker", "--beat",
            "--loglevel", "INFO", "--concurrency", "2", "--queues", "reapi",
        ],
        "web": [
            python, "-m", "reapi.serve", "--host", "127.0.0.1",
            "--port", str(PORT), "--workers", WEB_WORKERS,
        ],
    }  # fmt: skip
    children: dict[str, subprocess.Popen[bytes]] = {}
    for name, argv in commands.items():
        children[name] = subprocess.Popen(argv)  # noqa: S603 (our own interpreter and modules)
    base = f"http://127.0.0.1:{PORT}"
    print(
        f"\nreAPI is starting on {base}\n"
        f"  API base URL:  {base}/v1\n"
        f"  Dashboard:     {base}/settings/keys/\n"
        f"  Admin:         {base}/admin/\n"
        "                 (make staff with: .venv/bin/python manage.py createsuperuser)\n"
        f"  Simulator:     http://127.0.0.1:{SIMULATOR_PORT}\n"
        "Press Ctrl-C to stop.\n",
        flush=True,
    )
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                print(f"{name} exited with {child.returncode}; stopping the rest.", flush=True)
                exit_code = child.returncode or 1
                stopping = True
                break
        time.sleep(0.5)
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 10
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
