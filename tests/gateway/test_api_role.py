"""An API-only server (`python -m reapi.serve --role api`, reapi/settings_api.py) as a process:
every protocol answers and charges exactly as on a full server, its files are served by it,
and anything that is a page gets a 404 in the API's shape instead of a half-loaded site.

It loads no admin, sign-in, Stripe or DRF code, so a /v1 path that reached for any of them
would fail here and nowhere else. Needs Redis, like test_two_processes.py: CI always has it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import anthropic as anthropic_sdk
import pytest
import requests
from django.conf import settings
from openai import OpenAI

from billing.models import Hold
from gateway.models import UsageRecord, VideoJob
from tests.gateway.conftest import MEDIUM, PER_SECOND_720P, web_servers
from tests.gateway.test_images import png_size

HELLO = [{"role": "user", "content": "Hi"}]

pytestmark = pytest.mark.skipif(
    not settings.REDIS_URL and os.environ.get("CI") != "true",
    reason="a server process of its own shares the cache through Redis",
)


@pytest.fixture
def api_url(gateway, tmp_path) -> Iterator[str]:
    # Its own broker folder: the video it queues stays out of other tests' workers.
    broker = {
        "CELERY_BROKER_URL": "filesystem://localhost//",
        "REAPI_VAR_DIR": str(tmp_path / "var"),
    }
    with web_servers("api", workers=1, tmp_path=tmp_path, env=broker) as (url,):
        yield url


def test_every_protocol_is_served_and_charged_exactly(gateway, image_model, video_model, api_url):
    client = OpenAI(base_url=api_url + "/v1", api_key=gateway.raw_key, max_retries=0, timeout=20)
    before = gateway.balance()
    spent = 0

    chat = client.chat.completions.with_raw_response.create(
        model="sim-chat", messages=HELLO, max_tokens=20
    )
    usage = chat.parse().usage
    cost = gateway.cost(usage.prompt_tokens, usage.completion_tokens)
    assert cost > 0 and chat.headers["x-reapi-credits-charged"]
    spent += cost

    stream = client.chat.completions.create(
        model="sim-chat", messages=HELLO, max_tokens=20, stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    spent += gateway.cost(chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens)

    message = anthropic_sdk.Anthropic(
        base_url=api_url, api_key=gateway.raw_key, max_retries=0, timeout=20
    ).messages.create(model="sim-chat", max_tokens=20, messages=HELLO)
    assert message.content[0].text
    spent += gateway.cost(message.usage.input_tokens, message.usage.output_tokens)

    response = client.responses.create(model="sim-chat", input="Say something nice.")
    assert response.status == "completed" and response.output_text.strip()
    spent += gateway.cost(response.usage.input_tokens, response.usage.output_tokens)

    image = client.images.generate(
        model="sim-image", prompt="A lighthouse", size="1024x1024", response_format="url"
    )
    link = image.data[0].url
    assert link.startswith(api_url + "/files/")  # served by the API server itself
    fetched = requests.get(link, timeout=5)
    assert fetched.status_code == 200 and png_size(fetched.content) == (1024, 1024)
    spent += MEDIUM

    video = client.videos.create(
        model="sim-video", prompt="Waves at dusk", seconds="4", size="1280x720"
    )
    assert video.status in {"queued", "in_progress"}
    assert client.videos.retrieve(video.id).id == video.id
    held = 4 * PER_SECOND_720P

    assert {m.id for m in client.models.list()} >= {"sim-chat", "sim-image", "sim-video"}
    assert gateway.balance() == before - spent - held
    charged = sum(UsageRecord.objects.values_list("charged_micros", flat=True))
    assert charged == spent and UsageRecord.objects.count() == 5
    # Only the video's hold is open (its worker would settle it); the rest are settled.
    job = VideoJob.objects.get(pk=video.id)
    still_open = Hold.objects.filter(state=Hold.State.OPEN).values_list("request_id", flat=True)
    assert list(still_open) == [job.request_id]


@pytest.mark.parametrize("path", ["/", "/admin/", "/accounts/login/", "/settings/keys", "/docs"])
def test_pages_are_a_404_in_the_api_shape(gateway, api_url, path):
    answer = requests.get(api_url + path, timeout=5, allow_redirects=False)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "unknown_url"


def test_health_and_metrics_are_served_for_the_load_balancer(gateway, api_url):
    assert requests.get(api_url + "/healthz", timeout=5).json() == {"status": "ok"}
    ready = requests.get(api_url + "/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["database"] == "ok"
    client = OpenAI(base_url=api_url + "/v1", api_key=gateway.raw_key, max_retries=0)
    client.chat.completions.create(model="sim-chat", messages=HELLO, max_tokens=5)
    scraped = requests.get(api_url + "/metrics", timeout=5)
    assert scraped.status_code == 200
    assert any(
        line.startswith("reapi_requests_total{") and 'model="sim-chat"' in line
        for line in scraped.text.splitlines()
    )
