from __future__ import annotations

from django.contrib import admin

from brands.models import Brand, BrandModel


class BrandModelInline(admin.TabularInline):
    model = BrandModel
    extra = 0
    autocomplete_fields = ["model"]


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    list_display = ["name", "domain", "owner", "markup_bp", "all_models", "enabled"]
    list_filter = ["enabled"]
    search_fields = ["name", "slug", "domain", "owner__email"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["owner"]
    inlines = [BrandModelInline]
    fieldsets = [
        (None, {"fields": ["name", "slug", "domain", "enabled", "owner"]}),
        (
            "Look and contact",
            {
                "fields": [
                    "logo_url",
                    "primary_color",
                    "support_email",
                    "from_email",
                    "disclose_operator",
                ]
            },
        ),  # fmt: skip
        ("Catalog and prices", {"fields": ["markup_bp", "all_models"]}),
    ]
