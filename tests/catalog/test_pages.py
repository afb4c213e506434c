"""The public model pages: every enabled model with its price in credits, worked examples
computed like the charge, announced changes with their date, and code to copy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from catalog import selectors
from catalog.demo import load_demo_catalog
from catalog.models import Model, Price


@pytest.fixture
def catalog(db):
    load_demo_catalog()
    selectors.invalidate()


def test_the_model_list_groups_models_by_kind_with_prices(catalog):
    page = Client().get(reverse("catalog:models")).content.decode()
    for slug in ("gpt-5.1", "gpt-image-2", "seedance-2.0", "enhance-video-1.0"):
        assert f'href="/models/{slug}/"' in page
    assert page.index("<h2>Chat</h2>") < page.index("<h2>Images</h2>") < page.index("<h2>Video")


def test_a_chat_models_page_shows_per_thousand_token_prices_and_sdk_code(catalog):
    price = Model.objects.get(slug="gpt-5.1").prices.get()
    page = Client().get(reverse("catalog:model", args=["gpt-5.1"])).content.decode()
    # $1.25 and $10 per million tokens → 1.25 and 10 credits per 1,000 tokens
    assert price.input_micros_per_mtok == 1_250_000_000
    assert "1,000 input tokens</td><td>1.25</td>" in page
    assert "1,000 output tokens</td><td>10</td>" in page
    assert 'OpenAI(base_url="http://testserver/v1"' in page
    assert 'Anthropic(base_url="http://testserver"' in page


def test_media_pages_give_per_image_and_per_video_examples(catalog):
    image = Client().get(reverse("catalog:model", args=["gpt-image-2"])).content.decode()
    assert "image" in image and "client.images.generate" in image
    video = Client().get(reverse("catalog:model", args=["seedance-2.0"])).content.decode()
    # $0.10 per second of 720p → 100 credits a second → a 5 s 720p video is 500 credits
    assert "A 5 s 720p video</td><td>500</td>" in video
    tool = Client().get(reverse("catalog:model", args=["enhance-video-1.0"])).content.decode()
    assert "input_reference=open(" in tool


def test_an_announced_change_is_shown_with_its_date(catalog):
    model = Model.objects.get(slug="gpt-5.1")
    when = timezone.now() + timedelta(days=20)
    Price.objects.create(model=model, effective_from=when, input_micros_per_mtok=2_000_000_000,
                         output_micros_per_mtok=12_000_000_000)  # fmt: skip
    selectors.invalidate()
    page = Client().get(reverse("catalog:model", args=["gpt-5.1"])).content.decode()
    assert f"New price from {when:%Y-%m-%d %H:%M} UTC" in page
    assert "1,000 input tokens 2 credits" in page
    listing = Client().get(reverse("catalog:models")).content.decode()
    assert f"New price from {when:%Y-%m-%d}" in listing


def test_disabled_and_unknown_models_are_404(catalog):
    Model.objects.filter(slug="gpt-5.1").update(enabled=False)
    selectors.invalidate()
    assert Client().get(reverse("catalog:model", args=["gpt-5.1"])).status_code == 404
    assert Client().get(reverse("catalog:model", args=["nope"])).status_code == 404
    assert Price.objects.filter(effective_from=datetime(2026, 1, 1, tzinfo=UTC)).exists()
