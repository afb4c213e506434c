"""Settings → Billing: the balance, the plan, packs to buy, invoices, payment issues.

Thin: every rule is in billing/stripe_api.py (calls to Stripe) and billing/payments.py
(credits from Stripe's webhooks). A button here never grants credits; it sends the user to
Stripe, and the webhook that reports the payment does.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from billing import ledger, stripe_api
from billing.forms import LowBalanceAlertForm
from billing.models import CreditPack, LedgerEntry, PaymentIssue, Plan
from brands.models import BrandPack


def _absolute(request: HttpRequest, name: str, query: str = "") -> str:
    return request.build_absolute_uri(reverse(name)) + query


def _operator_customers_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Buying from the operator through Stripe: not for a white-label brand's customers,
    whose money is the brand's business (docs/white-label.md)."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if request.user.brand_id is not None:
            messages.error(request, _("Credits are added by your provider: contact support."))
            return redirect("billing:page")
        return view(request, *args, **kwargs)

    return guarded


@never_cache
@login_required
def billing_page(request: HttpRequest) -> HttpResponse:
    return _page(request)


def _page(request: HttpRequest, alert_form: LowBalanceAlertForm | None = None) -> HttpResponse:
    user = request.user
    threshold = user.low_balance_threshold_micros
    subscription = stripe_api.current_subscription(user)
    plan = stripe_api.plan_of(subscription) if subscription is not None else None
    from djstripe.models import Invoice

    account = ledger.account_for(user)
    white_label = user.brand_id is not None
    context = {
        "account": account,
        "purchases": LedgerEntry.objects.filter(
            account=account, kind__in=[LedgerEntry.Kind.PURCHASE, LedgerEntry.Kind.SUBSCRIPTION]
        ).order_by("-created_at", "-id")[:24],
        "subscription": subscription,
        "plan": plan,
        "renews_at": stripe_api.renews_at(subscription) if subscription else None,
        # The operator's plans and packs are sold on the operator's site only: a white-label
        # brand's customer gets credits from the brand (its reseller console, for now).
        "plans": Plan.objects.none()
        if white_label
        else Plan.objects.filter(active=True).exclude(stripe_price_id=""),
        "packs": CreditPack.objects.none()
        if white_label
        else CreditPack.objects.filter(active=True).exclude(stripe_price_id=""),
        "invoices": Invoice.objects.filter(customer__subscriber=user).order_by(
            "-created", "-djstripe_id"
        )[:24],
        "issues": PaymentIssue.objects.filter(user=user)[:10],
        # A brand with its own Stripe account sells its own packs (brands/stripe.py).
        "brand_packs": BrandPack.objects.filter(
            brand_id=user.brand_id,
            active=True,
            brand__stripe_secret_key__gt="",
            brand__stripe_webhook_secret__gt="",
        )
        if white_label
        else (),  # fmt: skip
        "checkout": request.GET.get("checkout", ""),
        "alert_form": alert_form
        or LowBalanceAlertForm(
            initial={"threshold": None if threshold is None else threshold // 1_000_000}
        ),
    }
    return render(request, "billing/billing.html", context, status=400 if alert_form else 200)


@require_POST
@login_required
def alert(request: HttpRequest) -> HttpResponse:
    """Set or clear the low-balance alert; a new threshold re-arms it."""
    form = LowBalanceAlertForm(request.POST)
    if not form.is_valid():
        return _page(request, alert_form=form)
    get_user_model().objects.filter(pk=request.user.pk).update(
        low_balance_threshold_micros=form.threshold_micros(), low_balance_alerted_at=None
    )
    messages.success(request, _("Low-balance alert saved.") if form.threshold_micros() is not None
                     else _("Low-balance alert turned off."))  # fmt: skip
    return redirect("billing:page")


def _unavailable(request: HttpRequest, error: stripe_api.BillingUnavailable) -> HttpResponse:
    messages.error(request, str(error))
    return redirect("billing:page")


@require_POST
@login_required
@_operator_customers_only
def buy(request: HttpRequest, kind: str, slug: str) -> HttpResponse:
    """Off to Stripe Checkout for a pack or a plan."""
    model = CreditPack if kind == "pack" else Plan
    offer = get_object_or_404(model, slug=slug, active=True)
    if kind == "plan" and stripe_api.current_subscription(request.user) is not None:
        messages.error(request, _("You already have a plan: change it below instead."))
        return redirect("billing:page")
    try:
        url = stripe_api.checkout_url(
            request.user, offer,
            success_url=_absolute(request, "billing:page", "?checkout=success"),
            cancel_url=_absolute(request, "billing:page", "?checkout=cancelled"),
        )  # fmt: skip
    except stripe_api.BillingUnavailable as error:
        return _unavailable(request, error)
    return redirect(url)


def _own_subscription(request: HttpRequest):
    subscription = stripe_api.current_subscription(request.user)
    if subscription is None:
        messages.error(request, _("You have no plan to change."))
    return subscription


def _cancel_at_period_end(request: HttpRequest, cancel: bool, done: str) -> HttpResponse:
    subscription = _own_subscription(request)
    if subscription is not None:
        try:
            stripe_api.set_cancel_at_period_end(subscription, cancel)
        except stripe_api.BillingUnavailable as error:
            return _unavailable(request, error)
        messages.success(request, done)
    return redirect("billing:page")


@require_POST
@login_required
@_operator_customers_only
def cancel(request: HttpRequest) -> HttpResponse:
    return _cancel_at_period_end(
        request, True, _("Your plan ends at the end of the paid period. Credits you have stay "
                         "yours; they never expire while your account is open."),
    )  # fmt: skip


@require_POST
@login_required
@_operator_customers_only
def resume(request: HttpRequest) -> HttpResponse:
    return _cancel_at_period_end(request, False, _("Your plan renews again."))


@require_POST
@login_required
@_operator_customers_only
def change(request: HttpRequest, slug: str) -> HttpResponse:
    plan = get_object_or_404(Plan, slug=slug, active=True)
    subscription = _own_subscription(request)
    if subscription is not None:
        try:
            stripe_api.change_plan(subscription, plan, stripe_api.plan_of(subscription))
        except stripe_api.BillingUnavailable as error:
            return _unavailable(request, error)
        messages.success(
            request,
            _(
                "You are now on %(plan)s. Stripe prorates the difference; an upgrade's "
                "extra credits arrive once it is paid."
            )
            % {"plan": plan.name},
        )
    return redirect("billing:page")


@require_POST
@login_required
@_operator_customers_only
def portal(request: HttpRequest) -> HttpResponse:
    """Stripe's customer portal: cards and billing details."""
    try:
        url = stripe_api.portal_url(request.user, return_url=_absolute(request, "billing:page"))
    except stripe_api.BillingUnavailable as error:
        return _unavailable(request, error)
    return redirect(url)
