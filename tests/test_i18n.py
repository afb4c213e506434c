"""The customer pages in English and Korean: chosen by Accept-Language or by the footer's
switcher (a cookie), with every Korean message translated."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from catalog import selectors
from catalog.demo import load_demo_catalog

PO_FILE = Path(settings.BASE_DIR) / "locale" / "ko" / "LC_MESSAGES" / "django.po"


@pytest.fixture
def catalog(db):
    load_demo_catalog()
    selectors.invalidate()


def html_of(client: Client, url: str, **headers: str) -> str:
    answer = client.get(url, **headers)
    assert answer.status_code == 200, (url, answer.status_code)
    return answer.content.decode()


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def playground_strings(page: str) -> dict[str, str]:
    found = re.search(
        r'<script id="playground-config" type="application/json">(.*?)</script>', page, re.S
    )
    assert found, "the playground config is missing"
    return json.loads(found.group(1))["strings"]


def test_korean_from_accept_language(catalog, alice):
    home = html_of(Client(), "/", HTTP_ACCEPT_LANGUAGE="ko")
    assert '<html lang="ko">' in home
    assert "이미지, 동영상, 도구, 채팅 모델을 위한 하나의 OpenAI 호환 엔드포인트" in home
    assert "빠른 시작" in home and "회원가입" in home
    assert "<h2>채팅</h2>" in home

    models = html_of(Client(), reverse("catalog:models"), HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9")
    assert '<html lang="ko">' in models
    assert "<h1>모델 및 가격</h1>" in models
    assert "<h2>이미지</h2>" in models and "<th>가격</th>" in models

    client = logged_in(alice)
    billing = html_of(client, reverse("billing:page"), HTTP_ACCEPT_LANGUAGE="ko")
    assert '<html lang="ko">' in billing
    assert "<h2>잔액</h2>" in billing and "<h2>크레딧 구매</h2>" in billing
    assert "알림 저장" in billing and "카드 및 결제 정보" in billing
    assert "잔액이 다음 크레딧 미만이 되면 이메일로 알림" in billing  # a form label

    playground = html_of(client, reverse("gateway:playground"), HTTP_ACCEPT_LANGUAGE="ko")
    assert '<html lang="ko">' in playground
    assert "<h1>플레이그라운드</h1>" in playground
    assert ">새 채팅</button>" in playground and ">작업 시작</button>" in playground
    strings = playground_strings(playground)
    assert strings["charged"] == "{n} 크레딧 청구됨"
    assert strings["generating"] == "생성 중…"


def test_english_from_accept_language(catalog, alice):
    home = html_of(Client(), "/", HTTP_ACCEPT_LANGUAGE="en")
    assert '<html lang="en">' in home
    assert "One OpenAI-compatible endpoint for image, video, tool and chat models" in home
    assert "<h2>Chat</h2>" in home

    models = html_of(Client(), reverse("catalog:models"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert '<html lang="en">' in models and "<h1>Models and prices</h1>" in models

    client = logged_in(alice)
    billing = html_of(client, reverse("billing:page"), HTTP_ACCEPT_LANGUAGE="en")
    assert "<h2>Balance</h2>" in billing and "Cards and billing details" in billing
    assert "잔액" not in billing

    playground = html_of(client, reverse("gateway:playground"), HTTP_ACCEPT_LANGUAGE="en")
    assert "<h1>Playground</h1>" in playground and ">Start the job</button>" in playground
    assert playground_strings(playground)["charged"] == "Charged {n} credits"


def test_no_accept_language_means_english(catalog):
    home = html_of(Client(), "/")
    assert '<html lang="en">' in home and "Quick start" in home


def test_the_footer_switcher_sets_the_language(catalog, alice):
    client = logged_in(alice)
    home = html_of(client, "/")
    assert 'action="/i18n/setlang/"' in home
    assert 'name="language" value="ko"' in home
    assert re.search(r'value="en"[^>]*aria-current="true"', home)

    answer = client.post("/i18n/setlang/", {"language": "ko", "next": "/models/"})
    assert answer.status_code == 302
    assert answer["Location"] == "/models/"

    models = html_of(client, "/models/")  # no Accept-Language: the cookie decides
    assert '<html lang="ko">' in models and "<h1>모델 및 가격</h1>" in models
    assert re.search(r'value="ko"[^>]*aria-current="true"', models)
    billing = html_of(client, reverse("billing:page"))
    assert "<h2>잔액</h2>" in billing

    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert "<h1>Models and prices</h1>" in html_of(client, "/models/")


def po_entries(path: Path) -> list[dict]:
    """The catalog's entries: flags, msgctxt, msgid and msgstr (continuation lines joined)."""
    entries: list[dict] = []
    current: dict | None = None
    field = None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        starts_entry = line.startswith(("#", "msgctxt ", "msgid "))
        if not line or (current and field == "msgstr" and starts_entry):
            if current:
                entries.append(current)
            current, field = None, None
            if not line:
                continue
        if current is None:
            current = {"flags": set(), "msgctxt": None, "msgid": "", "msgstr": ""}
        if line.startswith("#,"):
            current["flags"] |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            current[field] += ast.literal_eval(line)
        else:
            field, _, value = line.partition(" ")
            current[field] = ast.literal_eval(value)
    if current:
        entries.append(current)
    return entries


def test_every_korean_message_is_translated():
    entries = po_entries(PO_FILE)
    assert entries[0]["msgid"] == "" and "Language: ko" in entries[0]["msgstr"]
    messages = entries[1:]
    assert len(messages) > 100
    assert [e["msgid"] for e in messages if "fuzzy" in e["flags"]] == []
    assert [e["msgid"] for e in entries if "fuzzy" in e["flags"]] == []
    assert [e["msgid"] for e in messages if not e["msgstr"].strip()] == []
    for entry in messages:  # placeholders survive translation
        for pattern in (r"%\(\w+\)s", r"\{n\}"):
            assert sorted(re.findall(pattern, entry["msgid"])) == sorted(
                re.findall(pattern, entry["msgstr"])
            ), entry["msgid"]


def test_the_compiled_catalog_is_there():
    assert PO_FILE.with_suffix(".mo").stat().st_size > 0


def test_a_suspended_account_sees_why_in_english_and_korean(alice):
    from django.utils import timezone

    alice.suspended_at = timezone.now()
    alice.save()
    client = Client()
    client.force_login(alice)
    page = client.get(reverse("billing:page"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Your account is suspended" in page
    answer = client.get(reverse("gateway:playground"), HTTP_ACCEPT_LANGUAGE="ko")
    assert answer.status_code == 403 and "계정이 정지되었습니다" in answer.content.decode()
    assert "pgt_" not in answer.content.decode()  # no token for a suspended account


def test_docs_and_faq_in_korean_keep_the_code_and_base_url(db):
    docs = html_of(Client(), reverse("content:docs"), HTTP_ACCEPT_LANGUAGE="ko")
    assert "<title>" in docs and "<h1>빠른 시작</h1>" in docs
    assert "<h2>엔드포인트</h2>" in docs and "<th>형식</th>" in docs
    assert "OpenAI 채팅(스트리밍, 도구, 이미지)" in docs
    assert "설정 → API 키</a>에서 키를 만드세요." in docs
    assert "기본 URL <code>http://testserver/v1</code>로" in docs
    assert 'client = OpenAI(base_url="http://testserver/v1", api_key=REAPI_API_KEY)' in docs
    assert "Quick start</h1>" not in docs and "Every billable POST" not in docs

    faq = html_of(Client(), reverse("content:faq"), HTTP_ACCEPT_LANGUAGE="ko")
    assert "<h1>자주 묻는 질문</h1>" in faq
    assert '<h2 id="base-url">어떤 기본 URL과 키를 사용하나요?</h2>' in faq
    assert '<h2 id="payments">요금제 및 결제</h2>' in faq
    assert "크레딧 팩을 구매하거나 요금제를 구독하세요" in faq
    for client in ("LibreChat", "Codex CLI", "Claude Code", "Continue", "Cline"):
        assert client in faq
    assert 'base_url = "http://testserver/v1"' in faq  # the code samples stay as they are
    assert "Frequently asked questions" not in faq and "Do you store my prompts?" not in faq


def test_legal_and_about_pages_in_korean(db):
    terms = html_of(Client(), reverse("content:page", args=["terms"]), HTTP_ACCEPT_LANGUAGE="ko")
    assert "<h1>이용약관</h1>" in terms and "<h2>크레딧</h2>" in terms
    assert "계정이 활성 상태인 동안 크레딧은 소멸되지 않습니다." in terms
    assert "최종 수정일:" in terms and "These terms govern" not in terms
    privacy = html_of(Client(), "/legal/privacy/", HTTP_ACCEPT_LANGUAGE="ko")
    assert "<h1>개인정보처리방침</h1>" in privacy
    assert "요청 내용과 모델의 답변은 절대 저장하지 않습니다." in privacy
    about = html_of(Client(), reverse("content:about"), HTTP_ACCEPT_LANGUAGE="ko")
    assert "<h1>reAPI 소개</h1>" in about
    english = html_of(Client(), "/legal/terms/", HTTP_ACCEPT_LANGUAGE="en")
    assert "<h1>Terms of Service</h1>" in english and "These terms govern" in english


def test_english_and_korean_legal_pages_are_separate_rows_staff_edit_apart(db, staff):
    from content.models import Page

    html_of(Client(), "/legal/terms/", HTTP_ACCEPT_LANGUAGE="en")
    html_of(Client(), "/legal/terms/", HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9")
    rows = {row.language: row for row in Page.objects.filter(slug="terms")}
    assert set(rows) == {"en", "ko"}
    assert rows["en"].title == "Terms of Service" and rows["ko"].title == "이용약관"

    admin = logged_in(staff)
    listing = html_of(admin, reverse("admin:content_page_changelist") + "?language__exact=ko")
    assert "이용약관" in listing and "Terms of Service" not in listing
    answer = admin.post(
        reverse("admin:content_page_change", args=[rows["ko"].pk]),
        {"slug": "terms", "language": "ko", "title": "이용약관", "body": "<p>운영자가 수정함.</p>"},
    )
    assert answer.status_code == 302
    korean = html_of(Client(), "/legal/terms/", HTTP_ACCEPT_LANGUAGE="ko")
    english = html_of(Client(), "/legal/terms/", HTTP_ACCEPT_LANGUAGE="en")
    assert "운영자가 수정함." in korean and "These terms govern" not in korean
    assert "These terms govern" in english and "운영자가 수정함." not in english

    answer = admin.post(
        reverse("admin:content_page_change", args=[rows["en"].pk]),
        {"slug": "terms", "language": "en", "title": "Terms", "body": "<p>Edited by staff.</p>"},
    )
    assert answer.status_code == 302
    assert "Edited by staff." in html_of(Client(), "/legal/terms/", HTTP_ACCEPT_LANGUAGE="en")
    assert "운영자가 수정함." in html_of(Client(), "/legal/terms/", HTTP_ACCEPT_LANGUAGE="ko")

    duplicate = admin.post(
        reverse("admin:content_page_add"),
        {"slug": "terms", "language": "ko", "title": "x", "body": "<p>x</p>"},
    )
    assert duplicate.status_code == 200  # one row per page and language
    assert Page.objects.filter(slug="terms").count() == 2


def test_model_price_examples_in_korean(catalog):
    def page(slug: str) -> str:
        return html_of(Client(), reverse("catalog:model", args=[slug]), HTTP_ACCEPT_LANGUAGE="ko")

    chat = page("gpt-5.1")
    assert "입력 토큰 1,000개</td><td>1.25</td>" in chat
    assert "출력 토큰 1,000개</td><td>10</td>" in chat
    image = page("gpt-image-2")
    assert "1024×1024 이미지 1장(품질: 높음)</td>" in image
    assert "이미지 1장</td>" in image
    assert "720p 동영상 5초</td><td>500</td>" in page("seedance-2.0")
    assert "처리한 720p 동영상 5초</td>" in page("enhance-video-1.0")
    assert " input tokens" not in chat and " image at " not in image

    listing = html_of(Client(), reverse("catalog:models"), HTTP_ACCEPT_LANGUAGE="ko")
    assert "입력 토큰 1,000개: <strong>1.25</strong> 크레딧" in listing
    assert "캐시된 입력 토큰" not in listing  # the list leaves cached input out in every language
