"""The staff dashboard's figures (/admin/dashboard/): the last 24 hours of traffic from the
usage rows and upstream failures, and the routes whose breakers are open now."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone

from gateway import health
from gateway.models import UpstreamFailure, UsageRecord

WINDOW = timedelta(hours=24)


def last_day() -> dict:
    since = timezone.now() - WINDOW
    rows = UsageRecord.objects.filter(created_at__gte=since)
    totals = rows.aggregate(
        requests=Count("id"),
        errors=Count("id", filter=~Q(status=UsageRecord.Status.OK)),
        charged=Sum("charged_micros"),
        failovers=Sum("failovers"),
    )
    top_models = list(
        rows.values("model_slug")
        .annotate(requests=Count("id"), charged=Sum("charged_micros"),
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
        "failovers": totals["failovers"] or 0,
        "top_models": top_models,
        "providers_in_trouble": failures,
        "open_breakers": open_breakers,
    }
