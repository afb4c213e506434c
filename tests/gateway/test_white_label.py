"""White-label requests end to end (openai SDK → reAPI → simulator): a brand's customer pays
the brand's marked-up price, the reseller pays the operator's price for the same usage, in
the same transaction, and both ledgers balance after every outcome."""

from __future__ import annotations

from datetime import timedelta

import openai
import pytest
import requests
from django.utils import timezone

from accounts import keys
from accounts.models import User
from billing import ledger
from billing.models import CreditAccount, Hold, LedgerEntry
from brands.models import BrandModel
from brands.pricing import marked_up
from catalog.models import Model, Price, Route
from catalog.pricing import TokenUsage, token_cost_micros
from gateway.models import UsageRecord, VideoJob
from tests.brands.conftest import fund, make_brand
from tests.gateway.conftest import CREDIT, LOW, PER_SECOND_720P
from tests.gateway.test_videos import run_until_done

HELLO = [{"role": "user", "content": "Say something nice."}]


@pytest.fixture
def shop(gateway):
    """Rita resells `sim-chat` as Acme AI at 25 %; Carol is Acme's customer with a key."""
    rita = User.objects.create_user("rita@example.com", "rita-password-1")
    fund(rita, 50, "fund-rita")
    brand = make_brand(rita)
    carol = User.objects.create_user("carol@example.com", "carol-password-1", brand=brand)
    fund(carol, 100, "fund-carol")
    _, raw = keys.create(carol, name="carol's key")
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=raw, max_retries=0, timeout=20)
    return brand, rita, carol, raw, client


def balance(user: User) -> int:
    return CreditAccount.objects.get(user=user).balance_micros


def assert_books_balance(*users: User) -> None:
    for user in users:
        account = CreditAccount.objects.get(user=user)
        assert ledger.entries_total(account) == account.balance_micros >= 0
        assert not Hold.objects.filter(account=account, state=Hold.State.OPEN).exists()


def test_a_request_bills_the_brand_price_and_the_wholesale_price_together(gateway, shop):
    brand, rita, carol, raw, client = shop
    before_carol, before_rita = balance(carol), balance(rita)
    answer = client.chat.completions.with_raw_response.create(model="sim-chat", messages=HELLO)
    completion = answer.parse()
    usage = TokenUsage(completion.usage.prompt_tokens, completion.usage.completion_tokens)
    retail = token_cost_micros(marked_up(gateway.price, 2500), usage)
    wholesale = token_cost_micros(gateway.price, usage)
    assert 0 < wholesale < retail
    assert balance(carol) == before_carol - retail
    assert balance(rita) == before_rita - wholesale
    request_id = answer.headers["x-request-id"]
    record = UsageRecord.objects.get(request_id=request_id)
    assert (record.user_id, record.charged_micros, record.wholesale_micros) == (
        carol.id, retail, wholesale)  # fmt: skip
    # The reseller's side is its own hold, settled in the same transaction as Carol's.
    hold = Hold.objects.get(request_id=request_id)
    backing = Hold.objects.get(backs=hold)
    assert backing.account.user == rita
    assert (hold.state, backing.state) == ("settled", "settled")
    assert (hold.charged_micros, backing.charged_micros) == (retail, wholesale)
    assert LedgerEntry.objects.filter(reference=request_id, account__user=carol).count() == 2
    assert_books_balance(carol, rita)


def test_headers_and_keys_name_neither_us_nor_the_provider(gateway, shop):
    _, _, _, raw, client = shop
    assert raw.startswith("sk-") and "reapi" not in raw
    answer = client.chat.completions.with_raw_response.create(model="sim-chat", messages=HELLO)
    names = {name.lower() for name in answer.headers}
    assert not [n for n in names if "reapi" in n]
    assert "x-credits-charged" in names and "x-model" in names
    assert answer.headers["x-model"] == "sim-chat"
    # The operator's own customers keep the documented headers.
    ours = gateway.client().chat.completions.with_raw_response.create(
        model="sim-chat", messages=HELLO
    )
    assert ours.headers["x-reapi-provider"] == "sim-a"


def test_a_stream_settles_both_sides(gateway, shop):
    _, rita, carol, _, client = shop
    before_rita = balance(rita)
    stream = client.chat.completions.create(
        model="sim-chat", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    usage = [chunk.usage for chunk in stream if chunk.usage][-1]
    wholesale = token_cost_micros(
        gateway.price, TokenUsage(usage.prompt_tokens, usage.completion_tokens)
    )
    assert balance(rita) == before_rita - wholesale
    assert_books_balance(carol, rita)


def test_an_upstream_failure_refunds_the_customer_and_the_reseller(gateway, shop):
    _, rita, carol, _, client = shop
    before = balance(carol), balance(rita)
    gateway.sim.set_fault("a", status=503)
    gateway.sim.set_fault("b", status=503)
    with pytest.raises(openai.APIStatusError) as failed:
        client.chat.completions.create(model="sim-chat", messages=HELLO)
    assert failed.value.status_code == 502
    assert (balance(carol), balance(rita)) == before
    released = Hold.objects.filter(account__user__in=[carol, rita], state="released")
    assert released.count() == 2
    assert_books_balance(carol, rita)


def test_a_reseller_out_of_credits_stops_its_customers_with_a_clear_error(gateway, shop):
    brand, rita, carol, _, client = shop
    ledger.debit(ledger.account_for(rita), amount_micros=balance(rita), idempotency_key="drain",
                 memo="test")  # fmt: skip
    before_carol = balance(carol)
    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(model="sim-chat", messages=HELLO)
    error = refused.value
    assert error.status_code == 503
    assert error.body["code"] == "service_credits_exhausted"
    assert "Acme AI" in error.body["message"] and "help@acme.test" in error.body["message"]
    assert "reAPI" not in error.body["message"]
    # Nothing moved: no hold on either side, Carol's balance as it was.
    assert balance(carol) == before_carol
    assert not Hold.objects.filter(account__user__in=[carol, rita]).exists()
    assert gateway.sim.request_count("a") == gateway.sim.request_count("b") == 0
    assert_books_balance(carol, rita)


def test_a_brand_offers_only_its_models_at_its_prices(gateway, shop):
    brand, _, _, raw, client = shop
    other = Model.objects.create(slug="sim-other", display_name="Other", kind="chat",
                                 max_output_tokens=100)  # fmt: skip
    Route.objects.create(model=other, provider=gateway.primary, upstream_model="up-o")
    Price.objects.create(model=other, input_micros_per_mtok=1_000_000,
                         output_micros_per_mtok=3_000_000,
                         effective_from=gateway.price.effective_from)  # fmt: skip
    brand.all_models = False
    brand.save()
    BrandModel.objects.create(brand=brand, model=gateway.model, markup_bp=5000)  # own markup
    listed = {m.id: m for m in client.models.list().data}
    assert set(listed) == {"sim-chat"}
    pricing = listed["sim-chat"].model_extra["pricing"]
    assert pricing["input_micros_per_mtok"] == gateway.price.input_micros_per_mtok * 3 // 2
    assert pricing["output_micros_per_mtok"] == gateway.price.output_micros_per_mtok * 3 // 2
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="sim-other", messages=HELLO)
    assert missing.value.body["code"] == "model_not_found"
    # The operator's customers still see every model at the operator's prices.
    ours = {m.id: m for m in gateway.client().models.list().data}
    assert {"sim-chat", "sim-other"} <= set(ours)
    assert ours["sim-chat"].model_extra["pricing"]["input_micros_per_mtok"] == (
        gateway.price.input_micros_per_mtok)  # fmt: skip


def test_a_disabled_brand_refuses_its_customers(gateway, shop):
    brand, _, carol, raw, client = shop
    brand.enabled = False
    brand.save()
    before = balance(carol)
    response = requests.post(
        gateway.url + "/v1/chat/completions", timeout=10,
        headers={"authorization": f"Bearer {raw}"},
        json={"model": "sim-chat", "messages": HELLO},
    )  # fmt: skip
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "service_disabled"
    assert balance(carol) == before


# --- per-unit requests: images and video jobs -----------------------------------------------


def test_images_charge_the_brand_per_image_and_the_reseller_ours(gateway, shop, image_model):
    _, rita, carol, _, client = shop
    before = balance(carol), balance(rita)
    result = client.images.generate(model="sim-image", prompt="[sim images=2] Two cats", n=3,
                                    size="1024x1024", quality="low")  # fmt: skip
    assert len(result.data) == 2  # a partial delivery: two of three
    brand_each = LOW * 5 // 4  # 25 % on a round figure
    assert balance(carol) == before[0] - 2 * brand_each
    assert balance(rita) == before[1] - 2 * LOW
    row = UsageRecord.objects.get(user=carol)
    assert (row.units, row.charged_micros, row.wholesale_micros) == (2, 2 * brand_each, 2 * LOW)
    assert_books_balance(carol, rita)


@pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
def test_a_video_job_settles_both_sides_when_done_and_refunds_both_when_it_fails(
    gateway, shop, video_model
):
    _, rita, carol, _, client = shop
    before = balance(carol), balance(rita)
    done = client.videos.create(model="sim-video", prompt="[sim job_ms=300] Waves",
                                seconds="4", size="1280x720")  # fmt: skip
    brand_second = PER_SECOND_720P * 5 // 4
    assert balance(carol) == before[0] - 4 * brand_second  # held at once, both sides
    assert balance(rita) == before[1] - 4 * PER_SECOND_720P
    assert run_until_done(done.id).status == "completed"
    assert balance(carol) == before[0] - 4 * brand_second
    assert balance(rita) == before[1] - 4 * PER_SECOND_720P
    row = UsageRecord.objects.get(request_id=VideoJob.objects.get(pk=done.id).request_id)
    assert (row.charged_micros, row.wholesale_micros) == (4 * brand_second, 4 * PER_SECOND_720P)
    failed = client.videos.create(model="sim-video", prompt="[sim job=fail] Storm",
                                  seconds="8", size="1280x720")  # fmt: skip
    assert run_until_done(failed.id).status == "failed"
    assert balance(carol) == before[0] - 4 * brand_second  # the failed job cost neither side
    assert balance(rita) == before[1] - 4 * PER_SECOND_720P
    assert_books_balance(carol, rita)


def test_the_reconciler_releases_a_stuck_requests_two_holds_together(gateway, shop):
    _, rita, carol, _, _ = shop
    before = balance(carol), balance(rita)
    hold = ledger.reserve(ledger.account_for(carol), amount_micros=5 * CREDIT,
                          request_id="req_stuck", wholesale=(ledger.account_for(rita).pk,
                                                             4 * CREDIT))  # fmt: skip
    assert (balance(carol), balance(rita)) == (before[0] - 5 * CREDIT, before[1] - 4 * CREDIT)
    assert ledger.release_expired(now=timezone.now() + timedelta(days=1)) == 1
    assert (balance(carol), balance(rita)) == before
    assert Hold.objects.get(backs=hold).state == "released"
    assert_books_balance(carol, rita)


def test_links_to_stored_files_are_on_the_brands_domain(gateway, shop, image_model, settings):
    _, _, _, raw, client = shop
    settings.SITE_URL = "https://api.reapi.example"
    theirs = client.images.generate(model="sim-image", prompt="A boat", response_format="url")
    assert theirs.data[0].url.startswith("https://acme.test/files/")
    ours = gateway.client().images.generate(model="sim-image", prompt="A boat",
                                            response_format="url")  # fmt: skip
    assert ours.data[0].url.startswith("https://api.reapi.example/files/")


def test_a_forwarded_proto_header_counts_only_behind_our_proxy(gateway, image_model, settings):
    settings.SITE_URL = ""
    spoofed = gateway.client(default_headers={"x-forwarded-proto": "https"})
    answer = spoofed.images.generate(model="sim-image", prompt="A boat", response_format="url")
    assert answer.data[0].url.startswith("http://127.0.0.1:")
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    answer = spoofed.images.generate(model="sim-image", prompt="A boat", response_format="url")
    assert answer.data[0].url.startswith("https://127.0.0.1:")
