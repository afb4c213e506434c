"""A real gateway for the tests: uvicorn serving reapi.asgi on a free loopback port (in a
thread of the test process, so it shares the test database), in front of the real simulator
(a subprocess). Tests talk to it with the official openai SDK or plain HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import uvicorn
from django.conf import settings
from django.core.cache import cache
from openai import OpenAI

from accounts import keys
from accounts.models import User
from billing import ledger
from billing.models import CreditAccount, Hold
from catalog import selectors
from catalog.models import Model, Price, Provider, Route
from gateway import admission, health, limits
from reapi.money import usd_to_micros as usd
from simulator.testing import SimulatorProcess, free_port, start_simulator

CREDIT = 1_000_000


@pytest.fixture(scope="session")
def simulator() -> Iterator[SimulatorProcess]:
    sim = start_simulator(quiet=True)
    yield sim
    sim.stop()


class _ThreadedServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # not the main thread
        pass


@pytest.fixture(scope="session")
def gateway_url() -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        "reapi.asgi:application", host="127.0.0.1", port=port, log_level="warning",
        lifespan="on", access_log=False,
    )  # fmt: skip
    server = _ThreadedServer(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the gateway did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@dataclass
class Gateway:
    url: str
    sim: SimulatorProcess
    user: User
    raw_key: str
    model: Model
    price: Price
    primary: Provider
    backup: Provider

    def client(self, **kwargs) -> OpenAI:
        kwargs.setdefault("api_key", self.raw_key)
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 20)
        return OpenAI(base_url=self.url + "/v1", **kwargs)

    def balance(self) -> int:
        return CreditAccount.objects.get(user=self.user).balance_micros

    def account(self) -> CreditAccount:
        return CreditAccount.objects.get(user=self.user)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> int:
        return (
            prompt_tokens * self.price.input_micros_per_mtok
            + completion_tokens * self.price.output_micros_per_mtok
        ) // 1_000_000

    def assert_books_closed(self) -> None:
        account = self.account()
        assert ledger.entries_total(account) == account.balance_micros
        assert account.balance_micros >= 0
        assert not Hold.objects.filter(account=account, state=Hold.State.OPEN).exists()


def reset_process_state() -> None:
    cache.clear()
    keys.cache.clear()
    health.reset()
    limits.reset()
    selectors.invalidate()
    admission._account_ids.clear()
    keys._last_touch.clear()


@pytest.fixture
def gateway(transactional_db, simulator, gateway_url) -> Iterator[Gateway]:
    """Alice with 100 credits and a key; model `sim-chat` routed to simulator scope `a`
    (priority 0) then scope `b` (priority 1)."""
    reset_process_state()
    simulator.reset()
    primary = Provider.objects.create(
        slug="sim-a", name="Sim A", kind="simulator", base_url=simulator.url("a"),
        first_byte_timeout_ms=2000, read_timeout_ms=2000,
    )  # fmt: skip
    backup = Provider.objects.create(
        slug="sim-b", name="Sim B", kind="simulator", base_url=simulator.url("b"),
        first_byte_timeout_ms=2000, read_timeout_ms=2000,
    )  # fmt: skip
    model = Model.objects.create(
        slug="sim-chat", display_name="Sim Chat", kind="chat", owned_by="reapi",
        max_output_tokens=1000,
    )  # fmt: skip
    Route.objects.create(model=model, provider=primary, upstream_model="up-a", priority=0)
    Route.objects.create(model=model, provider=backup, upstream_model="up-b", priority=1)
    price = Price.objects.create(
        model=model, input_micros_per_mtok=usd("1.25"), output_micros_per_mtok=usd("10"),
        effective_from=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    user = User.objects.create_user("alice@example.com", "alice-password-1")
    ledger.grant(ledger.account_for(user), amount_micros=100 * CREDIT, idempotency_key="fund-alice")
    _, raw = keys.create(user, name="test")
    selectors.invalidate()
    yield Gateway(gateway_url, simulator, user, raw, model, price, primary, backup)
    reset_process_state()


LOW, MEDIUM, OTHER = 10_000, 40_000, 55_000  # micro-credits per image (image_model)


@pytest.fixture
def image_model(gateway) -> Model:
    provider = Provider.objects.create(
        slug="sim-images", name="Sim images", kind="simulator", base_url=gateway.sim.url("i"),
        first_byte_timeout_ms=2000, read_timeout_ms=5000,
    )  # fmt: skip
    model = Model.objects.create(
        slug="sim-image", display_name="Sim Image", kind="image", owned_by="reapi", max_images=4
    )
    Route.objects.create(model=model, provider=provider, upstream_model="gpt-image-1")
    Price.objects.create(
        model=model, effective_from=datetime(2026, 1, 1, tzinfo=UTC),
        image_micros={"1024x1024:low": LOW, "1024x1024:*": MEDIUM, "*:*": OTHER},
    )  # fmt: skip
    selectors.invalidate()
    return model


PER_SECOND_720P = 100_000
PER_SECOND_1080P = 200_000


@pytest.fixture
def video_model(gateway) -> Model:
    provider = Provider.objects.create(
        slug="sim-videos", name="Sim videos", kind="simulator", base_url=gateway.sim.url("v"),
        first_byte_timeout_ms=2000, read_timeout_ms=5000,
    )  # fmt: skip
    model = Model.objects.create(
        slug="sim-video", display_name="Sim Video", kind="video", owned_by="reapi",
        max_video_seconds=12,
    )  # fmt: skip
    Route.objects.create(model=model, provider=provider, upstream_model="sora-2")
    Price.objects.create(
        model=model, effective_from=datetime(2026, 1, 1, tzinfo=UTC),
        video_micros_per_second={"720p": PER_SECOND_720P, "1080p": PER_SECOND_1080P},
    )  # fmt: skip
    selectors.invalidate()
    return model


def database_url() -> str:
    """The test database as a DATABASE_URL, for processes the tests start themselves."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def web_servers(
    *roles: str, workers: int, tmp_path: Path, env: dict[str, str] | None = None
) -> Iterator[list[str]]:
    """One `python -m reapi.serve` per role (`all`, `api`), each with `workers` worker
    processes, on the test database and Redis, as on separate machines; yields their URLs."""
    more = env or {}
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "reapi.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        **more,
        "CACHE_KEY_PREFIX": settings.CACHES["default"].get("KEY_PREFIX", "reapi"),
        "LOG_LEVEL": "WARNING",
        # The same secrets as this process: they open the providers' keys and sign links.
        "SECRET_KEY": settings.SECRET_KEY,
        "SECRETS_ENCRYPTION_KEYS": ",".join(settings.SECRETS_ENCRYPTION_KEYS),
    }
    processes, urls = [], []
    try:
        for n, role in enumerate(roles):
            port = free_port()
            metrics = tmp_path / f"metrics-{n}"
            metrics.mkdir()
            machine = {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
            processes.append(subprocess.Popen(  # noqa: S603 (our own server)
                [sys.executable, "-m", "reapi.serve", "--host", "127.0.0.1", "--port", str(port),
                 "--workers", str(workers), "--role", role, "--log-level", "warning"],
                cwd=ROOT, env=machine,
            ))  # fmt: skip
            urls.append(f"http://127.0.0.1:{port}")
        for url, process in zip(urls, processes, strict=True):
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, "a web process exited"
                try:
                    if requests.get(url + "/v1/models", timeout=1).status_code == 401:
                        break
                except requests.RequestException:
                    pass
                assert time.monotonic() < deadline, "a web process did not start"
                time.sleep(0.2)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def first_route_to(gateway: Gateway, *, kind: str, scope: str, upstream_model: str) -> Provider:
    """Point sim-chat's first route at a provider of another kind (the simulator speaks every
    protocol under /s/<scope>; these providers' base URLs carry no /v1)."""
    provider = Provider.objects.create(
        slug=f"sim-{kind}", name=f"Sim {kind}", kind=kind,
        base_url=gateway.sim.url(scope, suffix=""), api_key=f"{kind}-test-key",
        first_byte_timeout_ms=2000, read_timeout_ms=2000,
    )  # fmt: skip
    Route.objects.filter(model=gateway.model, provider=gateway.primary).update(
        provider=provider, upstream_model=upstream_model
    )
    selectors.invalidate()
    return provider


@pytest.fixture
def beat():
    """What Celery beat does for video jobs, every 0.2 s, while the test runs."""
    from gateway import videos

    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            videos.advance_due()
            time.sleep(0.2)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(5)
