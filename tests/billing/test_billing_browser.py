"""The Billing page in a real browser (Debian's Chromium, driven by Playwright): subscribe
through Checkout (the stand-in's hosted page, which sends Stripe's signed webhooks to the
live server), upgrade, cancel and resume, with the balance and the ledger checked after each.

Set REAPI_SCREENSHOTS=<dir> to keep a screenshot of each step."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.urls import reverse

from tests.billing.conftest import SECRET
from tests.conftest import CREDIT, login_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def test_subscribe_upgrade_cancel_and_resume_in_a_browser(world, live_server, chromium):
    standin = world.standin
    endpoint = reverse("djstripe:djstripe_webhook_by_uuid", args=[world.endpoint.djstripe_uuid])
    standin.send_webhooks_to(live_server.url + endpoint, SECRET)
    shots = Path(os.environ["REAPI_SCREENSHOTS"]) if os.environ.get("REAPI_SCREENSHOTS") else None

    def shot(page, name: str) -> None:
        if shots:
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / f"billing-{name}.png"), full_page=True)

    context = chromium.new_context()
    context.add_cookies([login_cookie(world.user, live_server.url)])
    page = context.new_page()
    before = world.balance()

    page.goto(live_server.url + reverse("billing:page"))
    shot(page, "1-start")
    page.locator("#plan li", has_text="Starter").get_by_role("button", name="Subscribe").click()
    page.wait_for_url(standin.url + "/pay/**")
    shot(page, "2-checkout")
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url("**/settings/billing/?checkout=success")
    assert "your payment is with Stripe" in page.content()
    page.reload()  # the webhooks were delivered before the redirect; as a user would look
    shot(page, "3-subscribed")
    assert "You are on" in page.locator("#plan").inner_text()
    assert "Starter" in page.locator("#plan").inner_text()
    assert world.balance() == before + 10_000 * CREDIT
    assert page.locator("#balance").inner_text() == f"{(before // CREDIT) + 10_000:,}"

    page.get_by_role("button", name="Switch to Pro").click()
    page.wait_for_load_state()
    shot(page, "4-upgraded")
    assert "You are now on Pro" in page.content()
    assert world.balance() == before + 40_000 * CREDIT  # the upgrade's paid invoice
    world.user.refresh_from_db()
    assert world.user.plan.slug == "pro"

    page.get_by_role("button", name="Cancel at the end of the period").click()
    page.wait_for_load_state()
    shot(page, "5-cancelled")
    assert "Your plan ends on" in page.locator("#plan").inner_text()
    subscription = standin.objects("subscription")[0]
    assert subscription["cancel_at_period_end"] is True

    page.get_by_role("button", name="Resume my plan").click()
    page.wait_for_load_state()
    shot(page, "6-resumed")
    assert "It renews on" in page.locator("#plan").inner_text()
    assert standin.get(subscription["id"])["cancel_at_period_end"] is False

    assert standin.deliveries and all(status == 200 for _, _, status in standin.deliveries)
    assert world.balance() == before + 40_000 * CREDIT
    world.assert_books_closed()
    context.close()
