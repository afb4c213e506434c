"""Public pages: legal pages staff edit, the blog and API updates with their feeds, docs,
the contact form (email to support, rate-limited, not stored), and the error pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from content.models import Page, Post


@pytest.mark.parametrize("slug", ["terms", "privacy", "cookies"])
def test_legal_pages_start_from_their_template_and_staff_edit_them(db, staff, slug):
    page = Client().get(reverse("content:page", args=[slug]))
    assert page.status_code == 200
    row = Page.objects.get(slug=slug)
    admin = Client()
    admin.force_login(staff)
    answer = admin.post(
        reverse("admin:content_page_change", args=[row.pk]),
        {
            "slug": slug,
            "language": row.language,
            "title": row.title,
            "body": "<p>Edited by staff.</p>",
        },
    )
    assert answer.status_code == 302
    assert "Edited by staff." in Client().get(reverse("content:page", args=[slug])).content.decode()


def test_privacy_says_we_store_no_content_and_unknown_pages_are_404(db):
    html = Client().get(reverse("content:page", args=["privacy"])).content.decode()
    assert "never store what you ask" in html
    assert Client().get(reverse("content:page", args=["nope"])).status_code == 404
    assert "could not find that page" in Client().get("/no/such/page/").content.decode()


def test_posts_show_when_published_and_their_feeds_list_them(db):
    now = timezone.now()
    Post.objects.create(kind="update", slug="veo-added", title="VEO 3.1 added", body="<p>x</p>",
                        published=True, published_at=now - timedelta(hours=1))  # fmt: skip
    Post.objects.create(kind="update", slug="draft", title="Draft", body="x", published=False)
    Post.objects.create(kind="update", slug="later", title="Later", body="x", published=True,
                        published_at=now + timedelta(days=1))  # fmt: skip
    Post.objects.create(kind="blog", slug="hello", title="Hello", body="x", published=True,
                        published_at=now - timedelta(days=1))  # fmt: skip
    listing = Client().get(reverse("content:updates")).content.decode()
    assert "VEO 3.1 added" in listing and "Draft" not in listing and "Later" not in listing
    assert "Hello" not in listing
    assert Client().get(reverse("content:post", args=["veo-added"])).status_code == 200
    assert Client().get(reverse("content:post", args=["draft"])).status_code == 404
    assert Client().get(reverse("content:post", args=["later"])).status_code == 404
    atom = Client().get(reverse("content:updates-atom"))
    assert atom["Content-Type"].startswith("application/atom+xml")
    assert b"VEO 3.1 added" in atom.content and b"Later" not in atom.content
    rss = Client().get(reverse("content:blog-rss"))
    assert rss["Content-Type"].startswith("application/rss+xml") and b"Hello" in rss.content


def test_the_contact_form_emails_support_and_limits_senders(db, settings):
    settings.SUPPORT_EMAIL = "help@reapi.example"
    form = {"name": "Ana", "email": "ana@example.com", "subject": "Invoice", "message": "Hi!"}
    answer = Client().post(reverse("content:contact"), form, follow=True)
    assert "on its way to support" in answer.content.decode()
    assert mail.outbox[0].to == ["help@reapi.example"]
    assert mail.outbox[0].reply_to == ["ana@example.com"] and "Hi!" in mail.outbox[0].body
    for _ in range(2):
        Client().post(reverse("content:contact"), form)
    assert Client().post(reverse("content:contact"), form).status_code == 429
    assert len(mail.outbox) == 3


def test_bots_and_bad_input_send_nothing(db):
    bot = {"name": "x", "email": "bot@example.com", "subject": "s", "message": "m",
           "website": "http://spam"}  # fmt: skip
    assert Client().post(reverse("content:contact"), bot).status_code == 302
    injected = {"name": "x", "email": "a@example.com", "subject": "a\r\nBcc: all@x", "message": "m"}
    assert Client().post(reverse("content:contact"), injected).status_code == 400
    assert Client().post(reverse("content:contact"), {"email": "nope"}).status_code == 400
    assert not mail.outbox


def test_docs_faq_and_home_give_the_real_base_url(db):
    for name in ("content:docs", "content:faq"):
        html = Client().get(reverse(name)).content.decode()
        assert "http://testserver/v1" in html
    faq = Client().get(reverse("content:faq")).content.decode()
    for client in ("LibreChat", "Codex CLI", "Claude Code", "Continue", "Cline"):
        assert client in faq
    assert "http://testserver/v1" in Client().get("/").content.decode()
