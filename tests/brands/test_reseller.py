"""The reseller's console (/reseller/): Rita runs Acme AI; Mallory runs another brand on the
same installation. Each sees and changes only its own brand, customers and figures."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.test import Client
from django.urls import reverse

from accounts import keys
from accounts.models import User
from billing import ledger
from billing.models import LedgerEntry
from brands.models import Brand, BrandModel
from catalog.models import Model
from gateway.models import UsageRecord
from tests.conftest import CREDIT


def console(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_only_a_brands_owner_gets_in(acme, rita, carol, alice, staff):
    assert console(rita).get("/reseller/").status_code == 200
    # A customer, not a reseller: nothing here (staff use /admin/).
    assert console(alice).get("/reseller/", follow=True).status_code == 404
    assert console(staff).get("/reseller/", follow=True).status_code == 404
    # Signed out (Carol is nobody on our site): to the sign-in page, and back after.
    for client in (Client(), console(carol)):
        answer = client.get("/reseller/report/", follow=True)
        assert (
            answer.redirect_chain[-1][0]
            == reverse("account_login") + "?next=%2Freseller%2Freport%2F"
        )
    EmailAddress.objects.create(user=rita, email=rita.email, verified=True, primary=True)
    signed_in = Client().post(
        reverse("account_login") + "?next=%2Freseller%2Freport%2F",
        {"login": "rita@example.com", "password": "rita-password-1"}, follow=True,
    )  # fmt: skip
    assert signed_in.redirect_chain[-1][0] == "/reseller/report/"
    assert "Revenue and usage" in signed_in.content.decode()


@pytest.mark.django_db
def test_a_reseller_sees_its_customers_and_never_another_brands(acme, rita, carol, frank):
    client = console(rita)
    page = client.get("/reseller/brands/customer/").content.decode()
    page = page.split('id="result_list"')[1].split("</table>")[0]
    assert "carol@example.com" in page and "frank@example.com" not in page
    assert "rita@example.com" not in page  # the operator's customers are not hers
    assert client.get(f"/reseller/brands/customer/{frank.pk}/change/").status_code == 302  # gone
    assert client.get(f"/reseller/brands/customer/{carol.pk}/change/").status_code == 200
    brands = client.get("/reseller/brands/brand/").content.decode()
    assert "Acme AI" in brands and "Globex" not in brands
    other = Brand.objects.get(slug="globex")
    assert client.get(f"/reseller/brands/brand/{other.pk}/change/").status_code == 302
    adjust = client.post(reverse("reseller:customer_adjust", args=[frank.pk]), {
        "amount_credits": "100", "reason": "x", "idempotency_key": "adjust:steal",
    })  # fmt: skip
    assert adjust.status_code == 404
    assert ledger.account_for(frank).balance_micros == 7 * CREDIT


@pytest.mark.django_db
def test_a_reseller_suspends_and_credits_its_customer_through_the_ledger(acme, rita, carol, frank):
    client = console(rita)
    _, raw = keys.create(carol, name="k")
    changelist = "/reseller/brands/customer/"
    # Suspending Frank through a forged form does nothing: he is not in Rita's queryset.
    client.post(changelist, {"action": "suspend", "_selected_action": [carol.pk, frank.pk]})
    carol.refresh_from_db()
    frank.refresh_from_db()
    assert carol.suspended_at is not None and frank.suspended_at is None
    with pytest.raises(keys.AccountSuspended):
        keys.authenticate(raw)
    client.post(changelist, {"action": "lift_suspension", "_selected_action": [carol.pk]})
    carol.refresh_from_db()
    assert carol.suspended_at is None
    form = {"amount_credits": "5", "reason": "goodwill", "idempotency_key": "adjust:rita-1"}
    url = reverse("reseller:customer_adjust", args=[carol.pk])
    assert client.post(url, form).status_code == 302
    assert client.post(url, form).status_code == 302  # a double submit: once
    entry = LedgerEntry.objects.get(idempotency_key="adjust:rita-1")
    assert (entry.account.user, entry.amount_micros, entry.created_by) == (carol, 5 * CREDIT, rita)
    assert ledger.account_for(carol).balance_micros == 15 * CREDIT
    too_much = {"amount_credits": "-1000", "reason": "x", "idempotency_key": "adjust:rita-2"}
    assert client.post(url, too_much).status_code == 200  # refused: never below zero
    assert ledger.account_for(carol).balance_micros == 15 * CREDIT


@pytest.mark.django_db
def test_a_reseller_sets_markups_but_not_the_domain_or_disclosure(acme, rita):
    chat = Model.objects.create(slug="m-chat", display_name="Chat", kind="chat")
    client = console(rita)
    url = f"/reseller/brands/brand/{acme.pk}/change/"
    form = {
        "name": "Acme AI Pro", "logo_url": "", "primary_color": "#112233",
        "support_email": "care@acme.test", "from_email": "", "markup_bp": "1500",
        "all_models": "", "domain": "evil.test", "disclose_operator": "on",
        "offers-TOTAL_FORMS": "1", "offers-INITIAL_FORMS": "0",
        "offers-MIN_NUM_FORMS": "0", "offers-MAX_NUM_FORMS": "1000",
        "offers-0-model": chat.pk, "offers-0-markup_bp": "4000",
        "packs-TOTAL_FORMS": "0", "packs-INITIAL_FORMS": "0",
        "packs-MIN_NUM_FORMS": "0", "packs-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    answer = client.post(url, form)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    acme.refresh_from_db()
    assert (acme.name, acme.markup_bp, acme.all_models) == ("Acme AI Pro", 1500, False)
    assert (acme.domain, acme.disclose_operator) == ("acme.test", False)  # unchanged
    assert BrandModel.objects.get(brand=acme).markup_bp == 4000


@pytest.mark.django_db
def test_the_report_shows_the_brands_revenue_and_nothing_else(acme, rita, carol, frank):
    for i, (user, retail, wholesale) in enumerate(
        [(carol, 3 * CREDIT, 2 * CREDIT), (carol, CREDIT, CREDIT // 2), (frank, 9 * CREDIT, CREDIT)]
    ):
        UsageRecord.objects.create(
            request_id=f"req_{i}", user=user, endpoint="chat.completions", model_slug="m-chat",
            status="ok", http_status=200, charged_micros=retail, wholesale_micros=wholesale,
        )  # fmt: skip
    page = console(rita).get(reverse("reseller:report")).content.decode()
    totals = page.split('id="totals"')[1].split("</table>")[0]
    assert "<td>2</td><td>4</td><td>2.5</td><td>1.5</td>" in totals  # Carol's two requests
    assert "9" not in totals  # Frank's are Globex's
    assert 'id="wholesale-balance">50</strong>' in page


@pytest.mark.django_db
def test_a_reseller_sets_its_stripe_secrets_which_are_never_shown_again(acme, rita):
    client = console(rita)
    url = f"/reseller/brands/brand/{acme.pk}/change/"
    form = {
        "name": "Acme AI", "logo_url": "", "primary_color": "#112233",
        "support_email": "help@acme.test", "from_email": "", "markup_bp": "2500",
        "all_models": "on", "stripe_secret_key": "sk_test_acme_secret",
        "stripe_webhook_secret": "whsec_acme_secret",
        "offers-TOTAL_FORMS": "0", "offers-INITIAL_FORMS": "0",
        "offers-MIN_NUM_FORMS": "0", "offers-MAX_NUM_FORMS": "1000",
        "packs-TOTAL_FORMS": "1", "packs-INITIAL_FORMS": "0",
        "packs-MIN_NUM_FORMS": "0", "packs-MAX_NUM_FORMS": "1000",
        "packs-0-name": "Acme 8k", "packs-0-credits_micros": str(8_000 * CREDIT),
        "packs-0-price_cents": "1000", "packs-0-currency": "usd", "packs-0-active": "on",
        "packs-0-sort_order": "0",
    }  # fmt: skip
    assert client.post(url, form).status_code == 302
    acme.refresh_from_db()
    assert (acme.stripe_secret_key, acme.stripe_webhook_secret) == (
        "sk_test_acme_secret", "whsec_acme_secret")  # fmt: skip
    assert acme.packs.get().name == "Acme 8k"
    page = client.get(url).content.decode()
    assert "sk_test_acme_secret" not in page and "whsec_acme_secret" not in page
    form |= {"stripe_secret_key": "", "stripe_webhook_secret": "", "packs-TOTAL_FORMS": "0"}
    form.pop("packs-0-name")
    client.post(url, form)  # left empty: kept
    acme.refresh_from_db()
    assert acme.stripe_secret_key == "sk_test_acme_secret"


@pytest.mark.django_db
def test_a_reseller_sees_its_customers_payment_issues_and_no_one_elses(acme, rita, carol, frank):
    from billing.models import PaymentIssue

    PaymentIssue.objects.create(
        user=carol,
        kind="refund",
        stripe_id="brand:acme:refund:ch_1",
        amount_cents=250,
        credits_removed_micros=2_000 * CREDIT,
    )
    PaymentIssue.objects.create(user=frank, kind="dispute", stripe_id="brand:globex:du_1",
                                amount_cents=500)  # fmt: skip
    client = console(rita)
    listing = client.get("/reseller/brands/customer/").content.decode()
    assert '<td class="field-open_issues">1</td>' in listing
    page = client.get(f"/reseller/brands/customer/{carol.pk}/change/").content.decode()
    assert "Refund of $2.50 USD · 2,000 credits taken back · open" in page
    assert "Dispute" not in page
