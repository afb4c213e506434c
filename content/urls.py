from django.urls import path

from content import feeds, views
from content.models import Post

app_name = "content"

urlpatterns = [
    path("legal/<slug:slug>/", views.page, name="page"),
    path("about/", views.page, {"slug": "about"}, name="about"),
    path("blog/", views.posts, {"kind": Post.Kind.BLOG}, name="blog"),
    path("updates/", views.posts, {"kind": Post.Kind.UPDATE}, name="updates"),
    path("posts/<slug:slug>/", views.post, name="post"),
    path("blog/feed/rss/", feeds.PostsFeed(), {"kind": Post.Kind.BLOG}, name="blog-rss"),
    path("blog/feed/atom/", feeds.AtomPostsFeed(), {"kind": Post.Kind.BLOG}, name="blog-atom"),
    path("updates/feed/rss/", feeds.PostsFeed(), {"kind": Post.Kind.UPDATE}, name="updates-rss"),
    path(
        "updates/feed/atom/", feeds.AtomPostsFeed(), {"kind": Post.Kind.UPDATE}, name="updates-atom"
    ),  # fmt: skip
    path("docs/", views.docs, name="docs"),
    path("docs/faq/", views.faq, name="faq"),
    path("contact/", views.contact_page, name="contact"),
]
