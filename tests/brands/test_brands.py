"""White-label brands: prices marked up exactly, each site its own (name, look, sign-in,
emails), and the two ledgers in step under concurrency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from accounts import keys
from accounts.models import User
from billing import alerts, ledger
from billing.models import CreditAccount, Hold
from brands.models import BrandModel
from brands.pricing import mark_up, marked_up
from catalog import announcements, pricing
from catalog.models import Model, Price
from catalog.pricing import TokenUsage, token_cost_micros
from reapi.money import credits_text
from tests.billing.test_ledger_concurrency import run_in_threads
from tests.brands.conftest import ACME_HOST
from tests.conftest import CREDIT

# --- prices -------------------------------------------------------------------------------


def test_a_markup_is_applied_to_each_rate_and_rounded_up_once():
    assert mark_up(1_250_000, 2500) == 1_562_500  # 25 % of 1.25 credits, exact
    assert mark_up(1, 3) == 2  # 1.0003 micro-credits: up, never down
    assert mark_up(0, 2500) == 0
    assert mark_up(7, 0) == 7
    price = Price(
        input_micros_per_mtok=1_000_001, cached_input_micros_per_mtok=100_000,
        output_micros_per_mtok=8_000_000, per_request_micros=3,
        image_micros={"1024x1024:*": 40_000}, video_micros_per_second={"720p": 99_999},
    )  # fmt: skip
    brand = marked_up(price, 1000)  # 10 %
    assert (brand.input_micros_per_mtok, brand.cached_input_micros_per_mtok) == (1_100_002, 110_000)
    assert (brand.output_micros_per_mtok, brand.per_request_micros) == (8_800_000, 4)
    assert brand.image_price(size="1024x1024", quality="high") == 44_000
    assert brand.video_price_per_second(resolution="720p") == 109_999  # 109,998.9 → up
    assert price.input_micros_per_mtok == 1_000_001  # the operator's row is untouched


RATES = st.integers(min_value=0, max_value=200_000_000)
TOKENS = st.integers(min_value=0, max_value=2_000_000)


@given(rate_in=RATES, rate_out=RATES, per_request=st.integers(0, 10_000),
       markup=st.integers(0, 50_000), tokens_in=TOKENS, tokens_out=TOKENS)  # fmt: skip
def test_a_brand_never_charges_less_than_wholesale_nor_more_than_the_markup_allows(
    rate_in, rate_out, per_request, markup, tokens_in, tokens_out
):
    price = Price(input_micros_per_mtok=rate_in, output_micros_per_mtok=rate_out,
                  per_request_micros=per_request)  # fmt: skip
    usage = TokenUsage(tokens_in, tokens_out)
    wholesale = token_cost_micros(price, usage)
    retail = token_cost_micros(marked_up(price, markup), usage)
    assert isinstance(retail, int) and retail >= wholesale
    # Each rate rose by at most the markup plus one micro-credit (its rounding up), and the
    # wholesale bill is at most one micro-credit below its exact value: so at most this.
    bound = (
        (wholesale + 1) * (10_000 + markup) // 10_000 + (tokens_in + tokens_out) // 1_000_000 + 2
    )
    assert retail <= bound


# --- the site a page is for -----------------------------------------------------------------


def acme_client(**kwargs) -> Client:
    return Client(HTTP_HOST=ACME_HOST, **kwargs)


@pytest.mark.django_db
def test_a_brand_domain_shows_the_brands_name_and_colour_and_ours_shows_ours(acme):
    page = acme_client().get("/").content.decode()
    assert "<title>" in page and "Acme AI" in page and "#aa3300" in page
    assert "reAPI" not in page
    assert "Powered by" not in page
    ours = Client().get("/").content.decode()
    assert "reAPI" in ours and "Acme AI" not in ours
    acme.disclose_operator = True
    acme.save()
    assert "Powered by reAPI" in acme_client().get("/").content.decode()


@pytest.mark.django_db
def test_customers_sign_in_only_on_their_own_site(acme, carol, alice):
    assert acme_client().login(email="carol@example.com", password="carol-password-1") is False
    # Through allauth's form, as a person does.
    form = {"login": "carol@example.com", "password": "carol-password-1"}
    assert acme_client().post(reverse("account_login"), form).status_code == 302
    assert Client().post(reverse("account_login"), form).status_code == 200  # refused on ours
    ours = {"login": "alice@example.com", "password": "alice-password-1"}
    assert Client().post(reverse("account_login"), ours).status_code == 302
    assert acme_client().post(reverse("account_login"), ours).status_code == 200


@pytest.mark.django_db
def test_a_session_never_crosses_sites(acme, carol):
    client = Client()
    client.force_login(carol)
    settings_page = reverse("accounts:keys")
    assert client.get(settings_page, HTTP_HOST=ACME_HOST).status_code == 200
    assert client.get(settings_page).status_code == 302  # on ours Carol is nobody


@pytest.mark.django_db
def test_signing_up_on_a_brand_domain_makes_a_customer_of_the_brand(acme, mailoutbox):
    answer = acme_client().post(reverse("account_signup"), {
        "email": "dave@example.com", "password1": "a-long-pass-2026",
        "password2": "a-long-pass-2026",
    })  # fmt: skip
    assert answer.status_code == 302
    dave = User.objects.get(email="dave@example.com")
    assert dave.brand == acme
    assert mailoutbox[0].from_email == "Acme AI <no-reply@localhost>"
    assert "reAPI" not in mailoutbox[0].subject + mailoutbox[0].body
    _, raw = keys.create(dave, name="first")
    assert raw.startswith("sk-") and not raw.startswith(keys.KEY_PREFIX)


# --- emails ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_low_balance_alert_comes_from_the_brand(acme, carol):
    User.objects.filter(pk=carol.pk).update(low_balance_threshold_micros=500 * CREDIT)
    assert alerts.send_low_balance_alerts() == 1
    sent = mail.outbox[0]
    assert sent.from_email == "Acme AI <no-reply@localhost>"
    assert "Acme AI" in sent.subject and "https://acme.test/settings/billing/" in sent.body
    assert "reAPI" not in sent.subject + sent.body


@pytest.mark.django_db
def test_price_announcements_tell_each_site_its_own_prices(acme, carol, alice):
    ledger.grant(ledger.account_for(alice), amount_micros=CREDIT, idempotency_key="alice-1")
    offered = Model.objects.create(slug="m-offered", display_name="Offered", kind="chat")
    hidden = Model.objects.create(slug="m-hidden", display_name="Hidden", kind="chat")
    acme.all_models = False
    acme.save()
    BrandModel.objects.create(brand=acme, model=offered)
    later = timezone.now() + timedelta(days=20)
    for model in (offered, hidden):
        Price.objects.create(model=model, effective_from=datetime(2026, 1, 1, tzinfo=UTC),
                             input_micros_per_mtok=CREDIT)  # fmt: skip
        Price.objects.create(model=model, effective_from=later, input_micros_per_mtok=2 * CREDIT)
    assert announcements.announce_price_changes() == 3  # Rita, Alice (ours) and Carol (Acme)
    by_recipient = {m.to[0]: m for m in mail.outbox}
    to_carol = by_recipient["carol@example.com"]
    assert to_carol.from_email == "Acme AI <no-reply@localhost>"
    assert "Offered" in to_carol.body and "Hidden" not in to_carol.body
    assert "2.5 credits per million input" in to_carol.body  # 2 credits + 25 %
    assert "https://acme.test/v1/models" in to_carol.body and "reAPI" not in to_carol.subject
    to_alice = by_recipient["alice@example.com"]
    assert "Hidden" in to_alice.body and "2 credits per million input" in to_alice.body


@pytest.mark.django_db
def test_the_contact_form_on_a_brand_domain_writes_to_the_brands_support(acme):
    acme_client().post(reverse("content:contact"), {
        "name": "Eve", "email": "eve@example.com", "subject": "Hello", "message": "A question.",
    })  # fmt: skip
    assert mail.outbox[0].to == ["help@acme.test"]


# --- the dual ledger under concurrency (row locks: PostgreSQL in CI) ------------------------


@pytest.mark.django_db(transaction=True)
def test_the_two_ledgers_agree_under_concurrency(rita, acme):
    customers = [
        User.objects.create_user(f"c{i}@example.com", "pw-customer-1", brand=acme) for i in range(4)
    ]
    for i, customer in enumerate(customers):
        ledger.grant(ledger.account_for(customer), amount_micros=20 * CREDIT,
                     idempotency_key=f"fund-c{i}")  # fmt: skip
    reseller = ledger.account_for(rita)  # 50 credits: room for 25 wholesale holds of 2
    accounts = [ledger.account_for(c) for c in customers]

    def one_request(i: int) -> Hold:
        hold = ledger.reserve(accounts[i % 4], amount_micros=3 * CREDIT, request_id=f"wl-{i}",
                              wholesale=(reseller.pk, 2 * CREDIT))  # fmt: skip
        if i % 3 == 0:
            return ledger.release(hold)
        return ledger.settle(hold, charged_micros=CREDIT + i, wholesale_micros=CREDIT // 2 + i)

    results = run_in_threads(40, one_request)
    done = [r for r in results if isinstance(r, Hold)]
    refused = [r for r in results if not isinstance(r, Hold)]
    assert all(isinstance(r, ledger.LedgerError) for r in refused), refused[:3]
    assert done and len(done) + len(refused) == 40
    # Every customer hold has exactly one wholesale hold, in the same state.
    for hold in Hold.objects.filter(backs__isnull=True, account__in=accounts):
        backing = Hold.objects.get(backs=hold)
        assert backing.account_id == reseller.pk and backing.state == hold.state
    assert not Hold.objects.filter(state=Hold.State.OPEN).exists()
    expected_wholesale = sum(CREDIT // 2 + i for i in range(40)
                             if i % 3 and any(h.request_id == f"wl-{i}" for h in done))  # fmt: skip
    reseller.refresh_from_db()
    assert reseller.balance_micros == 50 * CREDIT - expected_wholesale
    for account in [reseller, *accounts]:
        account.refresh_from_db()
        assert ledger.entries_total(account) == account.balance_micros >= 0
    assert CreditAccount.objects.get(pk=reseller.pk).balance_micros >= 0


# --- a brand's pages --------------------------------------------------------------------------


@pytest.fixture
def two_models(acme):
    """`m-offered` (Acme offers it, at its 25 %) and `m-hidden` (Acme does not)."""
    acme.all_models = False
    acme.save()
    made = []
    for slug in ("m-offered", "m-hidden"):
        model = Model.objects.create(slug=slug, display_name=slug.title(), kind="chat")
        Price.objects.create(
            model=model, effective_from=datetime(2026, 1, 1, tzinfo=UTC),
            input_micros_per_mtok=2 * CREDIT, output_micros_per_mtok=8 * CREDIT,
        )  # fmt: skip
        made.append(model)
    BrandModel.objects.create(brand=acme, model=made[0])
    return made


@pytest.mark.django_db
def test_the_models_pages_show_the_brands_offer_at_its_prices(two_models):
    page = acme_client().get(reverse("catalog:models")).content.decode()
    assert "M-Offered" in page and "M-Hidden" not in page
    detail = acme_client().get(reverse("catalog:model", args=["m-offered"])).content.decode()
    ours = Client().get(reverse("catalog:model", args=["m-offered"])).content.decode()
    operator_price = two_models[0].prices.get()
    for brand_example, example in zip(
        pricing.examples(marked_up(operator_price, 2500), "chat"),
        pricing.examples(operator_price, "chat"), strict=True,
    ):  # fmt: skip
        assert brand_example.micros == example.micros * 5 // 4  # 25 % on round figures
        assert f"<td>{credits_text(brand_example.micros)}</td>" in detail
        assert f"<td>{credits_text(example.micros)}</td>" in ours
    assert acme_client().get(reverse("catalog:model", args=["m-hidden"])).status_code == 404
    home = acme_client().get("/").content.decode()
    assert "M-Offered" in home and "M-Hidden" not in home
    listing = Client().get(reverse("catalog:models")).content.decode()
    assert "M-Offered" in listing and "M-Hidden" in listing


@pytest.mark.django_db
def test_docs_and_legal_pages_name_the_brand(acme, settings):
    settings.SITE_URL = "https://api.reapi.example"
    docs = acme_client().get(reverse("content:docs")).content.decode()
    assert "http://acme.test/v1" in docs and "ACME_API_KEY" in docs
    assert "reapi" not in docs.lower()
    faq = acme_client().get(reverse("content:faq")).content.decode()
    assert "reapi" not in faq.lower()
    terms = acme_client().get(reverse("content:page", args=["terms"])).content.decode()
    assert "Acme AI" in terms and "reAPI" not in terms
    ours = Client().get(reverse("content:page", args=["terms"])).content.decode()
    assert "reAPI" in ours and "Acme AI" not in ours
    assert "https://api.reapi.example/v1" in Client().get(reverse("content:docs")).content.decode()
    for name in ("content:blog", "content:updates", "content:blog-rss"):
        assert acme_client().get(reverse(name)).status_code == 404
        assert Client().get(reverse(name)).status_code == 200


@pytest.mark.django_db
def test_a_brands_customer_buys_credits_from_the_brand_not_from_us(acme, carol):
    from billing.models import CreditPack

    CreditPack.objects.create(slug="starter", name="Starter", credits_micros=5_000 * CREDIT,
                              price_cents=500, stripe_price_id="price_x", active=True)  # fmt: skip
    client = acme_client()
    client.force_login(carol)
    page = client.get(reverse("billing:page")).content.decode()
    assert "Starter" not in page and "help@acme.test" in page
    bought = client.post(reverse("billing:buy-pack", args=["starter"]))
    assert bought.status_code == 302 and bought["Location"] == reverse("billing:page")
    assert ledger.account_for(carol).balance_micros == 10 * CREDIT


@pytest.mark.django_db
def test_a_brands_customer_usage_export_does_not_name_providers(acme, carol):
    from gateway.models import UsageRecord

    UsageRecord.objects.create(
        request_id="req_x", user=carol, endpoint="chat.completions", model_slug="m",
        provider_slug="secret-upstream", status="ok", http_status=200, charged_micros=CREDIT,
        wholesale_micros=1,
    )  # fmt: skip
    client = acme_client()
    client.force_login(carol)
    answer = client.get(reverse("gateway:usage-csv"))
    body = b"".join(answer.streaming_content).decode()
    assert "req_x" in body and "secret-upstream" not in body and "reapi" not in body.lower()
    assert "reapi" not in answer["Content-Disposition"]


# --- every page on a brand's domain -----------------------------------------------------------

OPERATOR_ONLY = ("admin/", "reseller/", "stripe/", "metrics", "healthz", "readyz", "i18n/")


def _page_urls() -> list[str]:
    from django.urls import get_resolver
    from django.urls.resolvers import URLResolver

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif "<" not in route and "(?P" not in route and not route.startswith(OPERATOR_ONLY):
                yield "/" + route.replace("^", "").replace("$", "")

    return sorted(set(walk(get_resolver().url_patterns)))


@pytest.mark.django_db
def test_no_page_on_a_brands_domain_names_us_or_another_brand(acme, carol, other_brand):
    visitor, customer = acme_client(), acme_client()
    customer.force_login(carol)
    checked = 0
    for url in _page_urls():
        for client in (visitor, customer):
            answer = client.get(url)
            assert answer.status_code < 500, url
            if answer.status_code != 200 or answer.get("Content-Type", "").startswith("text/css"):
                continue
            body = answer.getvalue().decode() if answer.streaming else answer.content.decode()
            assert "reAPI" not in body and "sk-reapi" not in body, url
            assert "Globex" not in body, url
            checked += 1
    assert checked > 20


# --- one email, one account per site --------------------------------------------------------


@pytest.mark.django_db
def test_the_same_email_is_a_separate_account_on_each_site(acme, other_brand, mailoutbox):
    from allauth.account.models import EmailAddress

    sites = {"acme": acme_client(), "globex": Client(HTTP_HOST="globex.test"), "ours": Client()}
    for name, client in sites.items():
        cache.clear()  # allauth allows one confirmation email per address every 3 minutes
        password = f"{name}-pass-2026"
        answer = client.post(reverse("account_signup"), {
            "email": "dana@example.com", "password1": password, "password2": password,
        })  # fmt: skip
        assert answer.status_code == 302, name
    assert [m.to for m in mailoutbox] == [["dana@example.com"]] * 3  # one to confirm, each
    assert {m.from_email for m in mailoutbox} == {
        "Acme AI <no-reply@localhost>", "Globex <no-reply@localhost>", "reAPI <no-reply@localhost>"
    }  # fmt: skip
    accounts = {u.brand_id: u for u in User.objects.filter(email="dana@example.com")}
    assert set(accounts) == {acme.id, other_brand.id, None}
    assert EmailAddress.objects.filter(email="dana@example.com").count() == 3
    EmailAddress.objects.filter(email="dana@example.com").update(verified=True)
    # Each password opens its own site's account, and no other.
    for name, client in sites.items():
        for other in sites:
            fresh = Client(HTTP_HOST=client.defaults.get("HTTP_HOST", "testserver"))
            form = {"login": "dana@example.com", "password": f"{other}-pass-2026"}
            answer = fresh.post(reverse("account_login"), form)
            assert answer.status_code == (302 if other == name else 200), (name, other)
            if other == name:
                brand_id = {"acme": acme.id, "globex": other_brand.id, "ours": None}[name]
                assert fresh.session["_auth_user_id"] == str(accounts[brand_id].pk)
    # Signing up again on one site makes no second account there (the owner is told).
    cache.clear()
    before = len(mailoutbox)
    again = acme_client().post(reverse("account_signup"), {
        "email": "dana@example.com", "password1": "another-pass-2026",
        "password2": "another-pass-2026",
    })  # fmt: skip
    assert again.status_code == 302
    assert User.objects.filter(email="dana@example.com", brand=acme).count() == 1
    assert len(mailoutbox) == before + 1 and mailoutbox[-1].to == ["dana@example.com"]


@pytest.mark.django_db
def test_a_password_reset_reaches_only_the_account_of_that_site(acme, other_brand, mailoutbox):
    from allauth.account.models import EmailAddress

    for brand in (acme, other_brand, None):
        user = User.objects.create_user("erin@example.com", "erin-pass-2026", brand=brand)
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    acme_client().post(reverse("account_reset_password"), {"email": "erin@example.com"})
    assert len(mailoutbox) == 1
    sent = mailoutbox[0]
    assert sent.from_email == "Acme AI <no-reply@localhost>" and "http://acme.test/" in sent.body
    link = next(word for word in sent.body.split() if "/password/reset/key/" in word)
    reset = acme_client()
    page = reset.get(link.replace("http://acme.test", ""), follow=True)
    form_url = page.redirect_chain[-1][0] if page.redirect_chain else link
    reset.post(form_url, {"password1": "new-erin-pass-2026", "password2": "new-erin-pass-2026"})
    changed = [u for u in User.objects.filter(email="erin@example.com")
               if u.check_password("new-erin-pass-2026")]  # fmt: skip
    assert [u.brand_id for u in changed] == [acme.id]


@pytest.mark.django_db
def test_the_playground_offers_the_brands_models_at_its_prices(two_models, carol):
    client = acme_client()
    client.force_login(carol)
    page = client.get(reverse("gateway:playground")).content.decode()
    assert '"m-offered"' in page and '"m-hidden"' not in page
    assert '"input_micros_per_mtok": 2500000' in page  # 2 credits + 25 %
