"""Public pages: legal and about (editable in admin), blog and API updates with feeds,
docs (quick start and FAQ), contact."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.db.models import Case, When
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from brands import mail
from content import contact
from content.forms import ContactForm
from content.models import Page, Post

DEFAULT_PAGES = {
    "terms": gettext_noop("Terms of Service"),
    "privacy": gettext_noop("Privacy Policy"),
    "cookies": gettext_noop("Cookie Policy"),
    "about": gettext_noop("About %(site)s"),
}
PAGE_LANGUAGES = [code for code, _name in settings.LANGUAGES]


def page_language() -> str:
    """The active language reduced to one the pages come in ("ko-kr" → "ko"), else the
    default."""
    code = (translation.get_language() or "").lower()
    for candidate in (code, code.split("-")[0]):
        if candidate in PAGE_LANGUAGES:
            return candidate
    return settings.LANGUAGE_CODE


def page(request: HttpRequest, slug: str) -> HttpResponse:
    """A standing page in the active language: staff's text from admin, first made from that
    language's default template. Each language is its own row, edited on its own."""
    language = page_language()
    brand = getattr(request, "brand", None)  # a white-label brand has its own pages
    pages = Page.objects.filter(brand_id=brand.id if brand else None)
    found = pages.filter(slug=slug, language=language).first()
    if found is None and slug in DEFAULT_PAGES:
        found, _created = pages.get_or_create(
            slug=slug, language=language, brand_id=brand.id if brand else None,
            defaults=default_page(slug, language, site_name=brand.name if brand else None),
        )  # fmt: skip
    if found is None:  # a page staff added in admin, not (yet) in this language
        found = (
            pages.filter(slug=slug)
            .order_by(Case(When(language=settings.LANGUAGE_CODE, then=0), default=1), "language")
            .first()
        )
    if found is None:
        raise Http404("No such page.")
    return render(request, "content/page.html", {"page": found})


def default_page(slug: str, language: str, *, site_name: str | None = None) -> dict[str, str]:
    """The title and body a standing page starts from in a language, naming the site."""
    from reapi.context_processors import OPERATOR_NAME

    templates = [f"content/defaults/{code}/{slug}.html" for code in (language, "en")]
    context = {"SITE_NAME": site_name or OPERATOR_NAME}
    with translation.override(language):
        title = _(DEFAULT_PAGES[slug]) % {"site": context["SITE_NAME"]}
        return {"title": title, "body": render_to_string(templates, context)}


def operator_site_only(request: HttpRequest) -> None:
    """The blog and the changelog are the operator's own voice: not on a brand's domain."""
    if getattr(request, "brand", None) is not None:
        raise Http404("No such page.")


def posts(request: HttpRequest, kind: str) -> HttpResponse:
    operator_site_only(request)
    return render(request, "content/posts.html", {"kind": kind, "posts": Post.live(kind)[:50]})


def post(request: HttpRequest, slug: str) -> HttpResponse:
    operator_site_only(request)
    found = get_object_or_404(Post.objects.filter(published=True), slug=slug)
    if found not in Post.live(found.kind):
        raise Http404("Not published yet.")
    return render(request, "content/post.html", {"post": found})


def docs(request: HttpRequest) -> HttpResponse:
    return render(request, "content/docs.html")


def faq(request: HttpRequest) -> HttpResponse:
    return render(request, "content/faq.html")


def contact_page(request: HttpRequest) -> HttpResponse:
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if data["website"]:  # a bot: pretend it worked, send nothing
            messages.success(request, _("Thank you: your message is on its way to support."))
            return redirect("content:contact")
        try:
            contact.send(
                name=data["name"], email=data["email"], subject=data["subject"],
                message=data["message"], ip=request.META.get("REMOTE_ADDR", ""),
                to=mail.site_for(getattr(request, "brand", None)).support_email,
            )  # fmt: skip
        except contact.TooMany as error:
            return render(request, "content/contact.html", {"form": form, "error": str(error)},
                          status=429)  # fmt: skip
        messages.success(request, _("Thank you: your message is on its way to support."))
        return redirect("content:contact")
    status = 400 if request.method == "POST" else 200
    return render(request, "content/contact.html", {"form": form}, status=status)
