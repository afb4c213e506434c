from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from billing.forms import AdjustmentForm
from billing.models import CreditAccount, CreditPack, Hold, LedgerEntry, PaymentIssue, Plan
from billing.templatetags.credits import credits


class ReadOnlyAdmin(admin.ModelAdmin):
    """Ledger rows are history: nobody edits or deletes them, staff included."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "account", "kind", "amount", "balance_after", "reference")
    list_filter = ("kind",)
    search_fields = ("account__user__email", "reference", "idempotency_key")
    date_hierarchy = "created_at"
    list_select_related = ("account__user",)

    @admin.display(description="Amount (credits)")
    def amount(self, obj: LedgerEntry) -> str:
        return credits(obj.amount_micros, signed=True)

    @admin.display(description="Balance after")
    def balance_after(self, obj: LedgerEntry) -> str:
        return credits(obj.balance_after_micros)


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ("request_id", "account", "model_slug", "amount", "state", "expires_at")
    list_filter = ("state",)
    search_fields = ("request_id", "account__user__email")
    list_select_related = ("account__user",)

    @admin.display(description="Held (credits)")
    def amount(self, obj: Hold) -> str:
        return credits(obj.amount_micros)


class EntryInline(admin.TabularInline):
    model = LedgerEntry
    fk_name = "account"
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-id",)
    fields = ("created_at", "kind", "amount_micros", "balance_after_micros", "reference", "memo")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):  # the last 50 only
        qs = super().get_queryset(request)
        ids = list(qs.order_by("-id").values_list("id", flat=True)[:50])
        return qs.filter(id__in=ids)


@admin.register(CreditAccount)
class CreditAccountAdmin(admin.ModelAdmin):
    list_display = ("user", "balance", "updated_at")
    search_fields = ("user__email",)
    readonly_fields = ("user", "balance", "adjust_link", "updated_at")
    fields = readonly_fields
    inlines = [EntryInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="Balance (credits)")
    def balance(self, obj: CreditAccount) -> str:
        return credits(obj.balance_micros)

    @admin.display(description="Adjust")
    def adjust_link(self, obj: CreditAccount) -> str:
        url = reverse("admin:billing_creditaccount_adjust", args=[obj.pk])
        return format_html('<a class="button" href="{}">Adjust balance…</a>', url)

    def get_urls(self):
        extra = [
            path(
                "<int:account_id>/adjust/",
                self.admin_site.admin_view(self.adjust_view),
                name="billing_creditaccount_adjust",
            )
        ]
        return extra + super().get_urls()

    def adjust_view(self, request: HttpRequest, account_id: int) -> HttpResponse:
        if not request.user.has_perm("billing.add_ledgerentry"):
            return HttpResponse("You may not adjust balances.", status=403)
        account = get_object_or_404(CreditAccount, pk=account_id)
        done = reverse("admin:billing_creditaccount_change", args=[account.pk])
        return adjustment_page(self, request, account, done=done)


def adjustment_page(
    model_admin: admin.ModelAdmin, request: HttpRequest, account: CreditAccount, *, done: str
) -> HttpResponse:
    """The adjustment form for one account, in any admin site (staff's, a reseller's): posts
    through the ledger once, then goes to `done`."""
    form = AdjustmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and form.apply(account, by=request.user):
        model_admin.message_user(request, "Balance adjusted.", messages.SUCCESS)
        return redirect(done)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Adjust the balance of {account.user}",
        "account": account,
        "form": form,
        "opts": model_admin.model._meta,
    }
    return TemplateResponse(request, "admin/billing/adjust.html", context)


class OfferAdmin(admin.ModelAdmin):
    """Plans and packs; `manage.py sync_stripe_products` puts them on sale in Stripe."""

    list_display = ("name", "slug", "price", "credits", "active", "on_sale")
    list_filter = ("active",)
    search_fields = ("name", "slug")
    readonly_fields = ("stripe_product_id", "stripe_price_id")
    prepopulated_fields = {"slug": ("name",)}

    @admin.display(description="Price")
    def price(self, obj) -> str:
        from billing.templatetags.credits import money

        return money(obj.price_cents, obj.currency)

    @admin.display(description="Credits")
    def credits(self, obj) -> str:
        return credits(obj.credits_micros)

    @admin.display(description="In Stripe", boolean=True)
    def on_sale(self, obj) -> bool:
        return bool(obj.stripe_price_id)


@admin.register(Plan)
class PlanAdmin(OfferAdmin):
    list_display = (*OfferAdmin.list_display, "interval")
    fields = ("name", "slug", "interval", "price_cents", "currency", "credits_micros",
              "rpm_limit", "tpm_limit", "concurrency_limit", "active", "sort_order",
              "stripe_product_id", "stripe_price_id")  # fmt: skip


@admin.register(CreditPack)
class CreditPackAdmin(OfferAdmin):
    fields = ("name", "slug", "price_cents", "currency", "credits_micros", "active",
              "sort_order", "stripe_product_id", "stripe_price_id")  # fmt: skip


@admin.register(PaymentIssue)
class PaymentIssueAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "user", "kind", "stripe_id", "amount_cents", "resolved_at")
    list_filter = ("kind", "resolved_at")
    search_fields = ("user__email", "stripe_id")
    list_select_related = ("user",)
