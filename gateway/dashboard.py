"""The staff dashboard's figures (/admin/dashboard/): the last 24 hours of traffic from the
usage rows and upstream failures, and the routes whose breakers are open now."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Case, Count, F, Q, Sum, When
from django.utils import timezone

from gateway import health
from gateway.models import UpstreamFailure, UsageRecord

WINDOW = timedelta(hours=24)

# What a request earned the operator: its own customer's charge; for a white-label brand's
# customer, what the reseller paid (the wholesale price), not the brand's own retail price.
EARNED = Case(
    When(user__brand__isnull=True, then=F("charged_micros")), default=F("wholesale_micros")
)


def last_day() -> dict:
    since = timezone.now() - WINDOW
    rows = UsageRecord.objects.filter(created_at__gte=since)
    totals = rows.aggregate(
        requests=Count("id"),
        errors=Count("id", filter=~Q(status=UsageRecord.Status.OK)),
        charged=Sum(EARNED),
        brand_retail=Sum("charged_micros", filter=Q(user__brand__isnull=False)),
        failovers=Sum("failovers"),
    )
    top_models = list(
        rows.values("model_slug")
        .annotate(requests=Count("id"), charged=Sum(EARNED),
                  errors=Count("id", filter=~Q(status=UsageRecord.Status.OK)))
        .order_by("-requests")[:10]
    )  # fmt: skip
    failures = list(
        UpstreamFailure.objects.filter(created_at__gte=since)
        .values("provider_slug")
        .annotate(failures=Count("id"))
        .order_by("-failures")[:10]
    )
    served = dict(
        rows.exclude(provider_slug="").values_list("provider_slug").annotate(n=Count("id"))
    )
    for row in failures:
        attempts = row["failures"] + served.get(row["provider_slug"], 0)
        row["share"] = round(100 * row["failures"] / attempts) if attempts else 0
    open_breakers = [(p, m) for p, m, is_open in health.breaker_states() if is_open]
    return {
        "since": since,
        "requests": totals["requests"] or 0,
        "errors": totals["errors"] or 0,
        "charged": totals["charged"] or 0,
        "brand_retail": totals["brand_retail"] or 0,
        "failovers": totals["failovers"] or 0,
        "top_models": top_models,
        "providers_in_trouble": failures,
        "open_breakers": open_breakers,
    }


def customer_activity(user) -> list[tuple[str, object, str]]:
    """(label, value, admin list filtered to this customer) rows for the user's admin page."""
    from django.urls import reverse

    from billing.models import Hold
    from billing.templatetags.credits import credits
    from gateway.models import VideoJob

    since = timezone.now() - timedelta(days=30)
    usage = UsageRecord.objects.filter(user=user, created_at__gte=since).aggregate(
        n=Count("id"), charged=Sum("charged_micros")
    )
    account = getattr(user, "credit_account", None)
    mine = f"?account__user__id__exact={user.pk}"
    holds = Hold.objects.filter(account__user=user, state=Hold.State.OPEN).count()
    jobs = VideoJob.objects.filter(user=user, status__in=("queued", "in_progress")).count()
    return [
        ("Balance", f"{credits(account.balance_micros if account else 0)} credits",
         reverse("admin:billing_ledgerentry_changelist") + mine),
        ("Plan", user.plan.name if user.plan_id else "none", ""),
        ("Open holds", holds, reverse("admin:billing_hold_changelist") + mine),
        ("Requests in 30 days", f"{usage['n']} ({credits(usage['charged'] or 0)} credits)",
         reverse("admin:gateway_usagerecord_changelist") + f"?user__id__exact={user.pk}"),
        ("Video jobs in flight", jobs,
         reverse("admin:gateway_videojob_changelist") + f"?user__id__exact={user.pk}"),
    ]  # fmt: skip
