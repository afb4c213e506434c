"""One real simulator process per test module, reset before every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from simulator.testing import SimulatorProcess, start_simulator


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorProcess]:
    with start_simulator(quiet=True) as process:
        yield process


@pytest.fixture(autouse=True)
def clean(sim: SimulatorProcess) -> None:
    sim.reset()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # never send loopback calls through an environment proxy
        yield session
