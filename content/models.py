"""Site content staff write in admin: the legal and about pages, the blog and the API
updates changelog. Bodies are HTML written by staff (trusted, never by customers)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class Page(models.Model):
    """A standing page (Terms, Privacy, Cookies, About) in one language: one row per slug and
    language. Made from its language's default template the first time it is shown in that
    language; from then on staff edit it in admin."""

    slug = models.SlugField(max_length=50)
    language = models.CharField(max_length=10, choices=settings.LANGUAGES, default="en")
    title = models.CharField(max_length=200)
    body = models.TextField(help_text="HTML.")
    updated_at = models.DateTimeField(auto_now=True)
    # A white-label brand's own page (its reseller edits it); empty: the operator's site.
    brand = models.ForeignKey(
        "brands.Brand", null=True, blank=True, on_delete=models.CASCADE, related_name="pages"
    )

    class Meta:
        ordering = ("slug", "language")
        constraints = [
            models.UniqueConstraint(
                fields=("slug", "language"), condition=models.Q(brand__isnull=True),
                name="page_slug_language_unique",
            ),
            models.UniqueConstraint(
                fields=("brand", "slug", "language"), condition=models.Q(brand__isnull=False),
                name="page_brand_slug_language_unique",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("content:page", args=[self.slug])


class Post(models.Model):
    """A blog post or an entry of the API updates changelog (model added, price announced,
    model retired), with a feed each."""

    class Kind(models.TextChoices):
        BLOG = "blog", "Blog post"
        UPDATE = "update", "API update"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.BLOG)
    slug = models.SlugField(max_length=120, unique=True)
    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=300, blank=True)
    body = models.TextField(help_text="HTML.")
    published_at = models.DateTimeField(default=timezone.now)
    published = models.BooleanField(default=False)

    class Meta:
        ordering = ("-published_at", "-id")

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("content:post", args=[self.slug])

    @classmethod
    def live(cls, kind: str):
        return cls.objects.filter(kind=kind, published=True, published_at__lte=timezone.now())
