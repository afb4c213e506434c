"""Video jobs driven by a real Celery worker process (with its beat), on the Redis broker in
CI (kombu's filesystem broker in a temporary folder otherwise), sharing the test database:
a job completes with nobody but the worker polling it, and a worker killed mid-job leaves
nothing stuck: the next worker finishes the job, charged once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from gateway.models import Asset, VideoJob
from reapi.celery import app as celery_app
from tests.gateway.conftest import PER_SECOND_720P, database_url

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


class Workers:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *, loglevel: str = "WARNING", output: Path | None = None):
        """A worker with its beat; its stdout and stderr go to `output` when given."""
        sink = output.open("wb") if output else None
        process = subprocess.Popen(  # noqa: S603 (our own worker)
            [sys.executable, "-m", "celery", "-A", "reapi", "worker", "--beat", "--pool",
             "solo", "--loglevel", loglevel, "--queues", "reapi"],
            cwd=ROOT, env=self.env, start_new_session=True, stdout=sink,
            stderr=subprocess.STDOUT if sink else None,
        )  # fmt: skip
        if sink:
            sink.close()  # the child has its own copy
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL the worker and its embedded beat: no chance to clean up."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def workers(gateway, tmp_path) -> Iterator[Workers]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "reapi.settings",
        "DATABASE_URL": database_url(),
        "REAPI_VAR_DIR": str(tmp_path / "var"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "VIDEO_POLL_LEASE_S": "2",
        "LOG_LEVEL": "WARNING",
    }
    previous = dict(celery_app.conf)
    celery_app.conf.task_always_eager = False  # the request queues a real task
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    else:
        env.pop("REDIS_URL", None)
        broker = tmp_path / "var" / "broker"
        for folder in ("queue", "processed", "control"):
            (broker / folder).mkdir(parents=True, exist_ok=True)
        celery_app.conf.broker_url = "filesystem://localhost//"
        celery_app.conf.broker_transport_options = {
            "data_folder_in": str(broker / "queue"), "data_folder_out": str(broker / "queue"),
            "processed_folder": str(broker / "processed"),
            "control_folder": str(broker / "control"), "store_processed": False,
        }  # fmt: skip
    pool = Workers(env)
    try:
        yield pool
    finally:
        pool.stop_all()
        celery_app.conf.update(previous)


def wait_for(condition, limit_s: float = 40.0, step_s: float = 0.2):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step_s)
    raise AssertionError("timed out")


def test_a_worker_finishes_a_job_on_its_own(gateway, video_model, workers, tmp_path):
    workers.start()
    before = gateway.balance()
    created = gateway.client().videos.create(
        model="sim-video", prompt="[sim job_ms=1500] Clouds", seconds="4", size="1280x720"
    )
    job = wait_for(lambda: VideoJob.objects.filter(pk=created.id, status="completed").first())
    assert job.charged_micros == 4 * PER_SECOND_720P
    assert gateway.balance() == before - 4 * PER_SECOND_720P
    stored = tmp_path / "media" / Asset.objects.get().storage_name
    assert stored.read_bytes()[4:8] == b"ftyp"
    gateway.assert_books_closed()


def test_a_worker_killed_mid_job_leaves_nothing_stuck_and_charges_once(
    gateway, video_model, workers
):
    first = workers.start()
    before = gateway.balance()
    created = gateway.client().videos.create(
        model="sim-video", prompt="[sim job_ms=5000] Mountains", seconds="4", size="1280x720"
    )
    # Wait until the first worker has polled the job at least once, then kill it.
    wait_for(lambda: VideoJob.objects.filter(pk=created.id, polls__gte=1).exists())
    workers.kill(first)
    assert VideoJob.objects.get(pk=created.id).status in {"queued", "in_progress"}
    workers.start()
    job = wait_for(lambda: VideoJob.objects.filter(pk=created.id, status="completed").first())
    assert job.charged_micros == 4 * PER_SECOND_720P
    assert gateway.balance() == before - 4 * PER_SECOND_720P
    assert Asset.objects.count() == 1
    gateway.assert_books_closed()


def test_the_worker_logs_json_lines_and_not_a_line_per_sweep(
    gateway, video_model, workers, tmp_path
):
    """Like the web processes (LOG_FORMAT=json), one JSON object per line; beat's sweep of
    video jobs every 2 s used to add three lines each time (sent, received, succeeded)."""
    output = tmp_path / "worker.log"
    worker = workers.start(loglevel="INFO", output=output)
    created = gateway.client().videos.create(
        model="sim-video", prompt="[sim job_ms=1500] Fields", seconds="4", size="1280x720"
    )
    wait_for(lambda: VideoJob.objects.filter(pk=created.id, status="completed").exists())
    time.sleep(2.5)  # at least one more sweep with nothing due
    workers.stop_all()
    assert worker.returncode is not None
    records = [
        json.loads(line) for line in output.read_text().splitlines() if line.startswith("{")
    ]  # fmt: skip (the rest: Celery's start-up banner)
    messages = [r["message"] for r in records]
    assert "video job completed" in messages
    assert not [m for m in messages if "advance_video_jobs" in m or "advance-video-jobs" in m]
    assert not [line for line in output.read_text().splitlines()
                if line.startswith("[") and ": INFO/" in line]  # fmt: skip
