"""RSS and Atom feeds of the blog and of the API updates changelog."""

from __future__ import annotations

from django.contrib.syndication.views import Feed
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed

from content.models import Post

TITLES = {Post.Kind.BLOG: "reAPI blog", Post.Kind.UPDATE: "reAPI API updates"}


class PostsFeed(Feed):
    def get_object(self, request, kind: str):
        from content.views import operator_site_only

        operator_site_only(request)
        return kind

    def title(self, kind: str) -> str:
        return TITLES[kind]

    def link(self, kind: str) -> str:
        return reverse("content:blog" if kind == Post.Kind.BLOG else "content:updates")

    def description(self, kind: str) -> str:
        return "Models added, prices announced, models retired." if kind == Post.Kind.UPDATE else ""

    def items(self, kind: str):
        return Post.live(kind)[:30]

    def item_title(self, item: Post) -> str:
        return item.title

    def item_description(self, item: Post) -> str:
        return item.summary or item.body

    def item_pubdate(self, item: Post):
        return item.published_at


class AtomPostsFeed(PostsFeed):
    feed_type = Atom1Feed
    subtitle = PostsFeed.description
