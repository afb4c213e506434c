from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from catalog import selectors
from catalog.demo import MODELS, load_demo_catalog
from catalog.models import Model, Price, Provider, Route
from catalog.pricing import TokenUsage, token_cost_micros, token_hold_micros
from reapi.money import usd_to_micros as usd

pytestmark = pytest.mark.django_db


def make_model(slug: str = "m1") -> Model:
    return Model.objects.create(slug=slug, display_name=slug.upper(), kind=Model.Kind.CHAT)


def test_the_price_in_force_is_the_newest_whose_date_has_come():
    model = make_model()
    now = timezone.now()
    old = Price.objects.create(model=model, effective_from=now - timedelta(days=30))
    current = Price.objects.create(model=model, effective_from=now - timedelta(days=1))
    future = Price.objects.create(model=model, effective_from=now + timedelta(days=14))
    assert selectors.price_in_force(model) == current
    assert selectors.price_in_force(model, at=now - timedelta(days=10)) == old
    assert selectors.upcoming_prices(model) == [future]
    assert selectors.price_in_force(model, at=now + timedelta(days=15)) == future


def test_token_cost_is_exact_and_rounds_down_once():
    price = Price(
        input_micros_per_mtok=usd("1.25"),  # 1,250,000,000 per Mtok = 1,250 per token
        cached_input_micros_per_mtok=usd("0.125"),
        output_micros_per_mtok=usd("10"),
        per_request_micros=0,
    )
    usage = TokenUsage(input_tokens=1000, cached_input_tokens=400, output_tokens=77)
    assert token_cost_micros(price, usage) == 600 * 1250 + 400 * 125 + 77 * 10_000
    odd = Price(input_micros_per_mtok=3, output_micros_per_mtok=0)
    assert token_cost_micros(odd, TokenUsage(input_tokens=333_333, output_tokens=0)) == 0
    assert token_hold_micros(odd, input_tokens=333_333, max_output_tokens=0) == 1


def test_the_hold_always_covers_the_charge():
    price = Price(input_micros_per_mtok=7_777, output_micros_per_mtok=99_999, per_request_micros=3)
    for inp in (0, 1, 17, 999_999):
        for out in (0, 1, 5000):
            hold = token_hold_micros(price, input_tokens=inp, max_output_tokens=out)
            for used in (0, out // 2, out):
                cost = token_cost_micros(price, TokenUsage(input_tokens=inp, output_tokens=used))
                assert cost <= hold


def test_price_tables_must_hold_whole_non_negative_micro_credits():
    model = make_model()
    with pytest.raises(ValidationError):
        Price(model=model, image_micros={"1024x1024:*": 1.5}).full_clean()
    with pytest.raises(ValidationError):
        Price(model=model, video_micros_per_second={"720p": -1}).full_clean()
    Price(model=model, image_micros={"1024x1024:high": 167_000_000}).full_clean()


def test_image_and_video_prices_fall_back_to_wildcards():
    price = Price(
        image_micros={"1024x1024:high": 5, "1024x1024:*": 4, "*:*": 1},
        video_micros_per_second={"720p": 9, "*": 2},
    )
    assert price.image_price(size="1024x1024", quality="high") == 5
    assert price.image_price(size="1024x1024", quality="low") == 4
    assert price.image_price(size="512x512", quality="low") == 1
    assert price.video_price_per_second(resolution="720p") == 9
    assert price.video_price_per_second(resolution="4k") == 2


def test_the_demo_catalog_loads_idempotently_with_the_seed_models():
    first = load_demo_catalog()
    second = load_demo_catalog()
    assert first["models"] == len(MODELS)
    assert second == {"providers": 0, "models": 0, "routes": 0, "prices": 0}
    slugs = set(Model.objects.values_list("slug", flat=True))
    for seed in (
        "gpt-image-2", "gemini-3-pro-image", "gemini-3.1-flash-image", "gemini-2.5-flash-image",
        "seedream-5.0-lite", "seedance-2.0", "happy-horse-1.0", "vidu-q3", "grok-imagine-1.0",
        "veo-3.1", "enhance-video-1.0",
    ):  # fmt: skip
        assert seed in slugs
    assert Model.objects.filter(kind=Model.Kind.CHAT).count() >= 4
    assert Model.objects.filter(kind=Model.Kind.EMBEDDING).exists()
    # Every model can be served by the simulator; real providers stay off until configured.
    for model in Model.objects.all():
        assert model.routes.filter(provider__kind="simulator", enabled=True).exists()
        assert selectors.price_in_force(model) is not None
    assert not Route.objects.filter(provider__kind="openai", enabled=True).exists()
    # The only providers on are the simulator's, whatever protocol they speak.
    for provider in Provider.objects.filter(enabled=True):
        assert provider.slug.startswith("simulator")
        assert provider.base_url.startswith(settings.SIMULATOR_URL)
    gemini = Model.objects.get(slug="gemini-2.5-flash-image").routes.order_by("priority")
    assert [r.provider.kind for r in gemini] == ["gemini", "simulator", "gemini"]


def test_the_snapshot_follows_catalog_edits():
    load_demo_catalog()
    assert selectors.get_model("gpt-5.1") is not None
    model = Model.objects.get(slug="gpt-5.1")
    model.enabled = False
    model.save()
    assert selectors.get_model("gpt-5.1") is None
    info = selectors.get_model("gpt-5-mini")
    assert [r.provider_slug for r in info.routes] == ["simulator", "simulator-b"]
    assert info.price_at(timezone.now()).output_micros_per_mtok == usd("2")


def test_admin_never_renders_a_provider_secret_back(staff_client):
    provider = Provider.objects.create(
        slug="p", name="P", kind="openai", base_url="https://example.invalid/v1",
        api_key="sk-provider-very-secret",
    )  # fmt: skip
    url = reverse("admin:catalog_provider_change", args=[provider.pk])
    page = staff_client.get(url).content.decode()
    assert "sk-provider-very-secret" not in page
    # Saving the form without typing a secret keeps the stored one.
    data = {
        "slug": "p", "name": "P2", "kind": "openai", "base_url": "https://example.invalid/v1",
        "api_key": "", "enabled": "on", "connect_timeout_ms": 1000,
        "first_byte_timeout_ms": 30000, "read_timeout_ms": 600000, "notes": "",
        # The page's read-only inline of the provider's routes (gateway/admin.py).
        "routes-TOTAL_FORMS": "0", "routes-INITIAL_FORMS": "0",
        "routes-MIN_NUM_FORMS": "0", "routes-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    assert staff_client.post(url, data).status_code == 302
    provider.refresh_from_db()
    assert provider.name == "P2" and provider.api_key == "sk-provider-very-secret"
    data["clear_api_key"] = "on"
    staff_client.post(url, data)
    provider.refresh_from_db()
    assert provider.api_key == ""


def test_admin_bulk_disable_takes_models_out_of_the_snapshot(staff_client):
    load_demo_catalog()
    ids = list(Model.objects.filter(kind="video").values_list("pk", flat=True))
    response = staff_client.post(
        reverse("admin:catalog_model_changelist"),
        {"action": "disable", "_selected_action": ids},
    )
    assert response.status_code == 302
    assert not Model.objects.filter(kind="video", enabled=True).exists()
    assert selectors.get_model("veo-3.1") is None


def test_a_described_task_api_must_say_where_to_post_poll_and_fetch():
    from django.core.exceptions import ValidationError

    provider = Provider(
        slug="vidu", name="Vidu", kind="async_task", base_url="https://api.vidu.example/v1",
        options={"create_path": "tasks"},
    )  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        provider.clean()
    message = str(refused.value)
    assert "create_path" in message and "poll_path" in message and "statuses" in message
    provider.options = {
        "create_path": "/tasks", "poll_path": "/tasks/{id}", "result_url_field": "video.url",
        "statuses": {"pending": "queued", "success": "completed", "error": "failed"},
    }  # fmt: skip
    provider.clean()
    provider.options["auth"] = "basic"
    with pytest.raises(ValidationError, match="auth"):
        provider.clean()


@pytest.mark.django_db
def test_the_demo_catalogs_vidu_and_grok_presets_are_valid_and_read_their_answers():
    """The presets are written from the providers' public documentation; their answers here
    are the documented examples."""
    from catalog.demo import load_demo_catalog
    from catalog.selectors import RouteInfo
    from gateway.providers.async_task import AsyncTaskAdapter

    load_demo_catalog()
    adapter = AsyncTaskAdapter()
    documented = {
        "vidu": ({"task_id": "8151", "state": "created"},
                 {"state": "success", "creations": [{"id": "c1", "url": "https://v/1.mp4"}]},
                 "Token vidu-key"),
        "xai-video": ({"request_id": "d97415a1"},
                      {"status": "done", "video": {"url": "https://x/v.mp4", "duration": 8}},
                      "Bearer xai-video-key"),
    }  # fmt: skip
    for slug, (created, finished, authorization) in documented.items():
        provider = Provider.objects.get(slug=slug)
        provider.full_clean()
        route = RouteInfo(
            id=1, provider_slug=slug, provider_kind=provider.kind, base_url=provider.base_url,
            api_key=f"{slug}-key", upstream_model="m", priority=0, weight=1,
            connect_timeout_ms=1, first_byte_timeout_ms=1, read_timeout_ms=1,
            options=provider.options,
        )  # fmt: skip
        job = adapter.video_create_result(route, created, None)
        poll = adapter.video_poll_request(route, job.body["upstream_id"])
        assert poll.headers["authorization"] == authorization
        assert job.body["upstream_id"] in poll.url
        result = adapter.video_poll_result(route, finished)
        assert result.status == "completed" and result.content_url.startswith("https://")
        assert provider.routes.filter(enabled=False).exists()  # staff enable them
