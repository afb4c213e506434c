"""Settings → Usage: the caller's usage rows (metadata only: no prompt or answer is ever in
them), filtered by key, model, status and date range; totals by day and by model; CSV.

Every query starts from the user's own rows, so a filter naming somebody else's key or
model finds nothing rather than something."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django import forms
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import ApiKey
from gateway.models import UsageRecord
from reapi.money import credits_text

DEFAULT_DAYS = 30
MAX_DAYS = 366
# The statuses' names as the filter shows them, translated (the model keeps its English ones).
STATUS_LABELS = {
    UsageRecord.Status.OK: _("Succeeded"),
    UsageRecord.Status.UPSTREAM_ERROR: _("Upstream failed"),
    UsageRecord.Status.CLIENT_ERROR: _("Rejected by the upstream as invalid"),
    UsageRecord.Status.CUT: _("Upstream cut the stream"),
    UsageRecord.Status.ABORTED: _("Client disconnected"),
}


class UsageFilterForm(forms.Form):
    key = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label=_("API key"))
    model = forms.CharField(required=False, max_length=100, label=_("Model"))
    status = forms.ChoiceField(
        required=False,
        label=_("Status"),
        choices=[
            ("", _("Any status")),
            *((v, STATUS_LABELS.get(v, n)) for v, n in UsageRecord.Status.choices),
        ],
    )
    start = forms.DateField(
        required=False, label=_("From"), widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        required=False, label=_("To"), widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        keys = ApiKey.objects.filter(owner=user).order_by("-created_at")
        self.fields["key"].choices = [("", gettext("Any key"))] + [
            (key.pk, f"{key.name} ({key.prefix}…)") for key in keys
        ]

    def clean(self) -> dict:
        data = super().clean()
        today = timezone.localdate()
        end = data.get("end") or today
        start = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise forms.ValidationError(gettext("'From' must not be after 'To'."))
        if (end - start).days >= MAX_DAYS:
            raise forms.ValidationError(
                gettext("Choose at most %(days)s days.") % {"days": MAX_DAYS}
            )
        data["start"], data["end"] = start, end
        return data


@dataclass(frozen=True)
class Day:
    day: date
    requests: int
    charged_micros: int


def rows(user, filters: dict) -> QuerySet[UsageRecord]:
    start = timezone.make_aware(datetime.combine(filters["start"], time.min))
    end = timezone.make_aware(datetime.combine(filters["end"] + timedelta(days=1), time.min))
    found = UsageRecord.objects.filter(user=user, created_at__gte=start, created_at__lt=end)
    if filters.get("key"):
        found = found.filter(api_key_id=filters["key"])
    if filters.get("model"):
        found = found.filter(model_slug=filters["model"])
    if filters.get("status"):
        found = found.filter(status=filters["status"])
    return found


def daily(found: QuerySet[UsageRecord], start: date, end: date) -> list[Day]:
    """One entry per day of the range, zeros included (a chart without gaps)."""
    totals = {
        row["day"]: row
        for row in found.annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(requests=Count("id"), charged=Sum("charged_micros"))
    }
    days, current = [], start
    while current <= end:
        row = totals.get(current, {})
        days.append(Day(current, row.get("requests", 0), row.get("charged") or 0))
        current += timedelta(days=1)
    return days


def by_model(found: QuerySet[UsageRecord]) -> list[dict]:
    return list(
        found.values("model_slug")
        .annotate(
            requests=Count("id"),
            charged=Sum("charged_micros"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
        )  # fmt: skip
        .order_by("-charged", "model_slug")
    )


CSV_COLUMNS = (
    "time", "request_id", "key", "endpoint", "model", "provider", "status", "http_status",
    "stream", "input_tokens", "cached_input_tokens", "output_tokens", "units",
    "charged_credits", "latency_ms",
)  # fmt: skip


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(found: QuerySet[UsageRecord], *, providers: bool = True) -> Iterator[str]:
    """The rows as CSV, oldest first, read in chunks (a long range never sits in memory).
    `providers=False` (a white-label brand's customer) leaves the provider column empty."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for row in found.select_related("api_key").order_by("created_at", "id").iterator(2000):
        yield writer.writerow((
            row.created_at.isoformat(), row.request_id,
            row.api_key.prefix if row.api_key else "", row.endpoint, row.model_slug,
            row.provider_slug if providers else "", row.status, row.http_status,
            int(row.stream), row.input_tokens, row.cached_input_tokens, row.output_tokens,
            row.units, credits_text(row.charged_micros), row.latency_ms,
        ))  # fmt: skip
