"""The playground: its page holds a signed, short-lived token for the account's playground
key (never a key's secret); the token goes through the same /v1 pipeline and ledger; and the
page itself works in a real browser (chat streams, an image appears, a video job shows its
progress and then plays)."""

from __future__ import annotations

import json
import os
import re

import pytest
import requests
from django.test import Client
from django.urls import reverse

from accounts import keys
from accounts.models import ApiKey
from gateway.models import UsageRecord
from tests.conftest import login_cookie
from tests.gateway.conftest import MEDIUM, PER_SECOND_720P

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


def test_a_token_authenticates_as_the_playground_key_and_nothing_else(alice, settings):
    token = keys.playground_token(alice)
    found = keys.authenticate(token)
    key = ApiKey.objects.get(pk=found.id)
    assert (key.owner, key.purpose) == (alice, "playground")
    assert keys.playground_key(alice).pk == key.pk  # one per account
    with pytest.raises(keys.InvalidKey):
        keys.authenticate(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])
    settings.PLAYGROUND_TOKEN_TTL_S = -1
    with pytest.raises(keys.InvalidKey, match="expired"):
        keys.authenticate(token)


def test_the_playground_key_is_not_a_key_the_customer_manages(alice):
    keys.playground_key(alice)
    browser = Client()
    browser.force_login(alice)
    page = browser.get(reverse("accounts:keys")).content.decode()
    assert "pgt_…" not in page and "<td>Playground</td>" not in page
    key = ApiKey.objects.get(owner=alice, purpose="playground")
    assert browser.post(reverse("accounts:key-revoke", args=[key.pk])).status_code == 404
    assert browser.post(reverse("accounts:key-rotate", args=[key.pk])).status_code == 404


def test_the_page_embeds_a_token_and_no_key_secret(alice):
    _, raw = keys.create(alice, name="mine")
    browser = Client()
    browser.force_login(alice)
    answer = browser.get(reverse("gateway:playground"))
    html = answer.content.decode()
    assert "no-store" in answer["Cache-Control"]
    config = json.loads(re.search(r'id="playground-config"[^>]*>(.*?)</script>', html).group(1))
    assert config["token"].startswith("pgt_") and raw not in html and "sk-reapi-" not in html
    refreshed = browser.post(reverse("gateway:playground-token")).json()["token"]
    assert keys.authenticate(refreshed).id == keys.authenticate(config["token"]).id
    assert Client().get(reverse("gateway:playground")).status_code == 302  # login first


def test_a_token_pays_through_the_same_pipeline_and_dies_with_the_account(gateway):
    from billing.termination import terminate

    token = keys.playground_token(gateway.user)
    before = gateway.balance()
    reply = gateway.client(api_key=token).chat.completions.create(
        model="sim-chat", messages=[{"role": "user", "content": "Hi there"}]
    )
    row = UsageRecord.objects.get()
    assert row.api_key.purpose == "playground" and row.charged_micros > 0
    assert gateway.balance() == before - row.charged_micros
    assert reply.usage.model_extra["credits_charged"]
    terminate(gateway.user)
    answer = requests.post(
        gateway.url + "/v1/chat/completions",
        json={"model": "sim-chat", "messages": [{"role": "user", "content": "again"}]},
        headers={"authorization": f"Bearer {token}"}, timeout=5,
    )  # fmt: skip
    assert answer.status_code == 401
    gateway.assert_books_closed()


def test_the_playground_in_a_browser(gateway, image_model, video_model, chromium, beat):
    shots = os.environ.get("REAPI_SCREENSHOTS")
    context = chromium.new_context()
    context.add_cookies([login_cookie(gateway.user, gateway.url)])
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    before = gateway.balance()
    page.goto(gateway.url + reverse("gateway:playground"))
    page.wait_for_function("document.getElementById('chat-estimate').textContent !== ''")
    assert "credits" in page.locator("#chat-estimate").inner_text(), problems

    page.fill("#chat-input", "Tell me a story")
    page.click("#chat-send")
    try:
        page.wait_for_selector("#chat-cost:has-text('Charged')", timeout=10_000)
    except Exception:
        raise AssertionError((page.locator("#chat-log").inner_text(), problems)) from None
    reply = page.locator(".msg.assistant").inner_text()
    assert len(reply.split()) > 3
    chat_row = UsageRecord.objects.get(endpoint="chat.completions")
    assert chat_row.stream and chat_row.api_key.purpose == "playground"
    charged_text = page.locator("#chat-cost").inner_text()
    assert charged_text == f"Charged {chat_row.charged_micros / 1e6:g} credits"
    if shots:
        page.screenshot(path=f"{shots}/playground-chat.png", full_page=True)

    page.click("[data-tab=image]")
    page.select_option("#image-model", "sim-image")
    page.select_option("#image-size", "1024x1024")
    page.select_option("#image-quality", "medium")
    assert page.locator("#image-estimate").inner_text() == f"{MEDIUM / 1e6:g} credits"
    page.fill("#image-prompt", "A lighthouse")
    page.click("#image-send")
    page.wait_for_selector("#image-result img")
    assert page.locator("#image-result img").evaluate("img => img.complete && img.naturalWidth > 0")
    assert page.locator("#image-cost").inner_text() == f"Charged {MEDIUM / 1e6:g} credits"

    page.click("[data-tab=video]")
    page.select_option("#video-model", "sim-video")
    page.select_option("#video-seconds", "4")
    assert page.locator("#video-estimate").inner_text() == f"{4 * PER_SECOND_720P / 1e6:g} credits"
    page.fill("#video-prompt", "[sim job_ms=1500] Waves")
    page.click("#video-send")
    page.wait_for_selector("#video-progress:not([hidden])")
    page.wait_for_selector("#video-result video", timeout=20_000)
    assert page.locator("#video-bar").get_attribute("aria-valuenow") == "100"
    assert (
        page.locator("#video-cost").inner_text() == f"Charged {4 * PER_SECOND_720P / 1e6:g} credits"
    )
    if shots:
        page.screenshot(path=f"{shots}/playground-video.png", full_page=True)
    spent = chat_row.charged_micros + MEDIUM + 4 * PER_SECOND_720P
    assert gateway.balance() == before - spent
    gateway.assert_books_closed()
    assert not problems
    context.close()
