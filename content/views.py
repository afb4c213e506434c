"""Public pages: legal and about (editable in admin), blog and API updates with feeds,
docs (quick start and FAQ), contact."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from content import contact
from content.forms import ContactForm
from content.models import Page, Post

DEFAULT_PAGES = {
    "terms": "Terms of Service",
    "privacy": "Privacy Policy",
    "cookies": "Cookie Policy",
    "about": "About reAPI",
}


def page(request: HttpRequest, slug: str) -> HttpResponse:
    """A standing page: staff's text from admin, first made from its default template."""
    if slug not in DEFAULT_PAGES and not Page.objects.filter(slug=slug).exists():
        raise Http404("No such page.")
    found, _ = Page.objects.get_or_create(
        slug=slug,
        defaults={"title": DEFAULT_PAGES.get(slug, slug),
                  "body": render_to_string(f"content/defaults/{slug}.html")},
    )  # fmt: skip
    return render(request, "content/page.html", {"page": found})


def posts(request: HttpRequest, kind: str) -> HttpResponse:
    return render(request, "content/posts.html", {"kind": kind, "posts": Post.live(kind)[:50]})


def post(request: HttpRequest, slug: str) -> HttpResponse:
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
            )  # fmt: skip
        except contact.TooMany as error:
            return render(request, "content/contact.html", {"form": form, "error": str(error)},
                          status=429)  # fmt: skip
        messages.success(request, _("Thank you: your message is on its way to support."))
        return redirect("content:contact")
    status = 400 if request.method == "POST" else 200
    return render(request, "content/contact.html", {"form": form}, status=status)
