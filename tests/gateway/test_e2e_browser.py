"""A customer's whole journey in a real browser (Debian's Chromium through Playwright), against
the real server (uvicorn: pages and /v1), the upstream simulator and the Stripe stand-in:
sign up, verify the email, buy a credit pack through Checkout and its signed webhook, create
and copy a key, call the API with it, see the usage and its cost, use the playground, rotate
and revoke keys, close the account and find the key dead.

Screenshots of each main page at desktop and phone width go to REAPI_SCREENSHOTS when set."""

from __future__ import annotations

import os
import re
from pathlib import Path

import openai
import pytest
import stripe
from django.core import mail
from django.urls import reverse

from accounts.models import User
from gateway.models import UsageRecord
from tests.billing.conftest import SECRET, stripe_on_sale
from tests.conftest import CREDIT
from tests.stripe_standin import start_standin

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")

EMAIL, PASSWORD = "erin@example.com", "erin-long-password-2026"
PAGES = ["/", "/models/", "/models/sim-chat/", "/docs/", "/settings/keys/", "/settings/billing/",
         "/settings/usage/", "/playground/"]  # fmt: skip


@pytest.fixture
def standin(settings):
    server = start_standin()
    saved = stripe.api_base, stripe.max_network_retries
    yield server
    stripe.api_base, stripe.max_network_retries = saved
    server.stop()


def test_a_customers_journey(gateway, chromium, standin, settings, beat):
    shots = Path(os.environ["REAPI_SCREENSHOTS"]) if os.environ.get("REAPI_SCREENSHOTS") else None
    endpoint = stripe_on_sale(standin, settings)
    hook = reverse("djstripe:djstripe_webhook_by_uuid", args=[endpoint.djstripe_uuid])
    standin.send_webhooks_to(gateway.url + hook, SECRET)
    context = chromium.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # "Rotate this key?" and the like
    url = gateway.url

    # Sign up and verify the email (the console backend's message, here the test outbox).
    page.goto(url + reverse("account_signup"))
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.get_by_role("button", name=re.compile("Sign up", re.I)).click()
    page.wait_for_load_state()
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+", mail.outbox[-1].body).group(0)
    page.goto(link)
    page.get_by_role("button", name=re.compile("Confirm", re.I)).click()
    page.wait_for_url("**/settings/keys/")
    user = User.objects.get(email=EMAIL)

    # Buy a pack: Checkout (the stand-in's page), its signed webhook, the balance rises.
    page.goto(url + reverse("billing:page"))
    assert page.locator("#balance").inner_text() == "0"
    page.locator("#packs li", has_text="5 dollars").get_by_role("button", name="Buy").click()
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url("**/settings/billing/?checkout=success")
    page.reload()
    assert page.locator("#balance").inner_text() == "5,000"
    assert "Credit pack: 5 dollars" in page.locator("#purchases").inner_text()

    # Create a key and copy it.
    page.goto(url + reverse("accounts:keys"))
    page.fill("input[name=name]", "journey")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-secret").inner_text()
    page.get_by_role("button", name="Copy").first.click()
    assert page.evaluate("navigator.clipboard.readText()") == secret

    # Call the API with it; the usage page shows the request and its cost.
    client = openai.OpenAI(base_url=url + "/v1", api_key=secret, max_retries=0, timeout=20)
    reply = client.chat.completions.create(
        model="sim-chat", messages=[{"role": "user", "content": "Hello from the journey"}]
    )
    charged = UsageRecord.objects.get(user=user).charged_micros
    assert reply.usage.model_extra["credits_charged"] == f"{charged / CREDIT:g}"
    page.goto(url + reverse("gateway:usage"))
    row = page.locator("table.usage tbody tr").first
    assert "sim-chat" in row.inner_text() and f"{charged / CREDIT:g}" in row.inner_text()

    # The playground: chat streams in and its cost is shown.
    page.goto(url + reverse("gateway:playground"))
    page.fill("#chat-input", "Tell me a story")
    page.click("#chat-send")
    page.wait_for_selector("#chat-cost:has-text('Charged')")
    assert len(page.locator(".msg.assistant").inner_text().split()) > 3

    # Screenshots of the main pages, desktop and phone.
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
        for width, label in ((1280, "desktop"), (390, "phone")):
            page.set_viewport_size({"width": width, "height": 900})
            for path in PAGES:
                page.goto(url + path)
                name = path.strip("/").replace("/", "-") or "home"
                page.screenshot(path=str(shots / f"{name}-{label}.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})

    # Rotate the key: the old secret dies at once; revoke the new one: it dies too.
    page.goto(url + reverse("accounts:keys"))
    page.get_by_role("button", name="Rotate").first.click()
    rotated = page.locator("#new-secret").inner_text()
    assert rotated != secret
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    fresh = openai.OpenAI(base_url=url + "/v1", api_key=rotated, max_retries=0, timeout=20)
    assert fresh.models.list().data
    page.goto(url + reverse("accounts:keys"))
    page.get_by_role("button", name="Revoke").first.click()
    page.wait_for_load_state()
    with pytest.raises(openai.AuthenticationError):
        fresh.models.list()

    # Close the account: a key made before closing is dead after it.
    page.goto(url + reverse("accounts:keys"))
    page.fill("input[name=name]", "last")
    page.get_by_role("button", name="Create key").click()
    last = openai.OpenAI(base_url=url + "/v1", api_key=page.locator("#new-secret").inner_text(),
                         max_retries=0, timeout=20)  # fmt: skip
    assert last.models.list().data
    page.goto(url + reverse("accounts:profile"))
    page.fill("input[name=password]", PASSWORD)
    page.check("input[name=confirm]")
    page.get_by_role("button", name="Close my account").click()
    page.wait_for_url(url + "/")
    with pytest.raises(openai.AuthenticationError):
        last.models.list()
    assert not standin.unhandled and not standin.errors
    context.close()
