from __future__ import annotations

from django.contrib import admin

from brands.forms import BrandForm
from brands.models import Brand, BrandModel, BrandPack


class BrandModelInline(admin.TabularInline):
    model = BrandModel
    extra = 0
    autocomplete_fields = ["model"]


class BrandPackInline(admin.TabularInline):
    model = BrandPack
    extra = 0
    fields = ["name", "credits_micros", "price_cents", "currency", "active", "sort_order"]


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    form = BrandForm
    list_display = ["name", "domain", "owner", "markup_bp", "all_models", "enabled"]
    list_filter = ["enabled"]
    search_fields = ["name", "slug", "domain", "owner__email"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["owner"]
    inlines = [BrandModelInline, BrandPackInline]
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
        ("The brand's own Stripe account (its packs)",
         {"fields": ["stripe_secret_key", "stripe_webhook_secret", "clear_stripe"]}),
    ]  # fmt: skip
