from django.contrib import admin

from content.models import Page, Post


@admin.register(Page)
class PageAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "language", "brand", "updated_at")
    list_filter = ("language", "brand")
    search_fields = ("slug", "title", "body")
    fields = ("slug", "language", "brand", "title", "body")  # brand: empty for our own site


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = ("title", "kind", "published", "published_at")
    list_filter = ("kind", "published")
    search_fields = ("title", "summary", "body")
    prepopulated_fields = {"slug": ("title",)}
    date_hierarchy = "published_at"
