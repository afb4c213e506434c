"""The reseller's console at /reseller/: a restricted admin where a brand's owner edits the
brand's look, contact and markups, looks after the brand's customers (suspend, lift, adjust
credits through the ledger) and reads its revenue and usage. Only its own brand, ever:
every queryset here starts from `request.user.reseller_brand`.

The owner signs in on the operator's site (it is the operator's customer, whose credits pay
wholesale); domain, owner and whether the operator is named stay the operator's to set."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from accounts import services
from accounts.models import User
from billing import ledger
from billing.admin import adjustment_page
from billing.models import CreditAccount, PaymentIssue
from brands.forms import BrandForm
from brands.models import Brand, BrandModel, BrandPack, Customer
from content.models import Page
from gateway.models import UsageRecord
from reapi.money import credits_text

REPORT_DAYS = (7, 30, 90)


def brand_of(request: HttpRequest) -> Brand | None:
    user = request.user
    if not (user.is_active and user.is_authenticated) or user.brand_id is not None:
        return None
    return Brand.objects.filter(owner=user).first()


class ResellerSite(admin.AdminSite):
    site_header = "Reseller console"
    site_title = "Reseller console"
    index_title = "Your brand"
    index_template = "reseller/index.html"
    site_url = None

    def has_permission(self, request: HttpRequest) -> bool:
        brand = brand_of(request)
        request.reseller_brand = brand
        return brand is not None

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """Resellers sign in like every customer (allauth's page), then come back here."""
        target = request.GET.get("next", "")
        if not target.startswith("/reseller/") or not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}
        ):
            target = reverse("reseller:index")
        if request.user.is_authenticated:
            if self.has_permission(request):
                return redirect(target)
            raise Http404  # signed in, but not a reseller: nothing here for them
        return redirect(f"{reverse('account_login')}?{urlencode({'next': target})}")

    def get_urls(self) -> list:
        report = path("report/", self.admin_view(self.report_view), name="report")
        return [report, *super().get_urls()]

    def each_context(self, request: HttpRequest) -> dict:
        return {**super().each_context(request), "brand": getattr(request, "reseller_brand", None)}

    def report_view(self, request: HttpRequest) -> HttpResponse:
        brand = request.reseller_brand
        days = (
            int(request.GET.get("days", 30)) if request.GET.get("days") in {"7", "30", "90"} else 30
        )
        rows = UsageRecord.objects.filter(
            user__brand=brand, created_at__gte=timezone.now() - timedelta(days=days)
        )
        totals = rows.aggregate(
            requests=Count("id"), retail=Sum("charged_micros"), wholesale=Sum("wholesale_micros")
        )
        by_model = (
            rows.values("model_slug")
            .annotate(requests=Count("id"), retail=Sum("charged_micros"),
                      wholesale=Sum("wholesale_micros"))
            .order_by("-retail", "model_slug")
        )  # fmt: skip
        by_day = (
            rows.annotate(day=TruncDate("created_at"))
            .values("day")
            .annotate(requests=Count("id"), retail=Sum("charged_micros"),
                      wholesale=Sum("wholesale_micros"))
            .order_by("-day")
        )  # fmt: skip
        wholesale_balance = (
            CreditAccount.objects.filter(user_id=brand.owner_id)
            .values_list("balance_micros", flat=True)
            .first()
        ) or 0
        context = {
            **self.each_context(request),
            "title": f"Revenue and usage, last {days} days",
            "days": days,
            "choices": REPORT_DAYS,
            "totals": _with_margin(totals),
            "by_model": [_with_margin(r) for r in by_model],
            "by_day": [_with_margin(r) for r in by_day],
            "customers": User.objects.filter(brand=brand).count(),
            "wholesale_balance": credits_text(wholesale_balance, grouping=True),
        }
        return TemplateResponse(request, "reseller/report.html", context)


def _with_margin(row: dict) -> dict:
    retail, wholesale = row.get("retail") or 0, row.get("wholesale") or 0
    return {
        **row,
        "retail": credits_text(retail, grouping=True),
        "wholesale": credits_text(wholesale, grouping=True),
        "margin": credits_text(retail - wholesale, grouping=True),
    }


site = ResellerSite(name="reseller")


class _Own:
    """Every model here: the reseller's own rows only, nothing added or deleted but offers."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return True

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class _OwnEditable(_Own):
    """Rows the reseller writes itself (its offers, its pages): added, changed, deleted."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return True

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return True

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return True


class OfferInline(_OwnEditable, admin.TabularInline):
    model = BrandModel
    extra = 0
    fields = ["model", "markup_bp"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):  # noqa: ANN001
        if db_field.name == "model":
            from catalog.models import Model

            kwargs["queryset"] = Model.objects.filter(enabled=True).order_by("slug")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class PackInline(_OwnEditable, admin.TabularInline):
    """The brand's packs, sold by card through its own Stripe account (brands/stripe.py)."""

    model = BrandPack
    extra = 0
    fields = ["name", "credits_micros", "price_cents", "currency", "active", "sort_order"]


@admin.register(Brand, site=site)
class BrandSettings(_Own, admin.ModelAdmin):
    form = BrandForm
    list_display = ["name", "domain", "markup_bp", "all_models"]
    fields = ["name", "domain", "logo_url", "primary_color", "support_email", "from_email",
              "markup_bp", "all_models", "disclose_operator", "stripe_secret_key",
              "stripe_webhook_secret", "clear_stripe"]  # fmt: skip
    readonly_fields = ["domain", "disclose_operator"]  # the operator's to set
    inlines = [OfferInline, PackInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Brand]:
        return super().get_queryset(request).filter(pk=request.reseller_brand.pk)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return True


@admin.register(Customer, site=site)
class Customers(_Own, admin.ModelAdmin):
    list_display = ["email", "date_joined", "balance", "open_issues", "suspended_at",
                    "closed_at"]  # fmt: skip
    list_filter = ["suspended_at"]
    search_fields = ["email"]
    fields = ["email", "date_joined", "balance", "adjust_link", "payment_issues",
              "suspended_at", "suspension_reason", "closed_at"]  # fmt: skip
    readonly_fields = fields
    actions = ["suspend", "lift_suspension"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return (
            super().get_queryset(request)
            .filter(brand=request.reseller_brand)
            .select_related("credit_account")
        )  # fmt: skip

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="Balance (credits)")
    def balance(self, obj: User) -> str:
        account = getattr(obj, "credit_account", None)
        return credits_text(account.balance_micros if account else 0, grouping=True)

    @admin.display(description="Open payment issues")
    def open_issues(self, obj: User) -> int:
        return PaymentIssue.objects.filter(user=obj, resolved_at__isnull=True).count()

    @admin.display(description="Payment issues")
    def payment_issues(self, obj: User) -> str:
        """Refunds, disputes and failed payments in the brand's Stripe account, with the
        credits each took back (billing/payments.py)."""
        from django.utils.html import format_html_join

        from billing.templatetags.credits import money

        issues = PaymentIssue.objects.filter(user=obj)[:20]
        if not issues:
            return "None"
        return format_html_join(
            "", "<div>{} · {} of {} · {} credits taken back · {}</div>",
            ((i.created_at.date(), i.get_kind_display(), money(i.amount_cents, i.currency),
              credits_text(i.credits_removed_micros, grouping=True),
              "resolved" if i.resolved_at else "open") for i in issues),
        )  # fmt: skip

    @admin.display(description="Credits")
    def adjust_link(self, obj: User) -> str:
        from django.utils.html import format_html

        url = reverse("reseller:customer_adjust", args=[obj.pk])
        return format_html('<a href="{}">Adjust the balance</a>', url)

    @admin.action(description="Suspend selected customers (API calls get 403 at once)")
    def suspend(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        count = services.suspend(queryset, by=request.user)
        self.message_user(request, f"{count} customer(s) suspended.", messages.SUCCESS)

    @admin.action(description="Lift suspension of selected customers")
    def lift_suspension(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        count = services.lift_suspension(queryset)
        self.message_user(request, f"{count} suspension(s) lifted.", messages.SUCCESS)

    def get_urls(self) -> list:
        adjust = path("<int:user_id>/adjust/", self.admin_site.admin_view(self.adjust_view),
                      name="customer_adjust")  # fmt: skip
        return [adjust, *super().get_urls()]

    def adjust_view(self, request: HttpRequest, user_id: int) -> HttpResponse:
        customer = self.get_queryset(request).filter(pk=user_id).first()
        if customer is None:
            raise Http404  # not this reseller's customer
        done = reverse("reseller:brands_customer_change", args=[customer.pk])
        return adjustment_page(self, request, ledger.account_for(customer), done=done)


@admin.register(Page, site=site)
class Pages(_OwnEditable, admin.ModelAdmin):
    """The brand's Terms, Privacy, Cookies and About (made from the defaults, in the brand's
    name, the first time each is shown on the brand's domain)."""

    list_display = ["title", "slug", "language", "updated_at"]
    fields = ["slug", "language", "title", "body"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Page]:
        return super().get_queryset(request).filter(brand=request.reseller_brand)

    def save_model(self, request: HttpRequest, obj: Page, form: object, change: bool) -> None:
        obj.brand = request.reseller_brand
        super().save_model(request, obj, form, change)
