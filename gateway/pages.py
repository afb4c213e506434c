"""Settings → Usage (rules in gateway/usage_report.py)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from gateway import usage_report
from gateway.usage_report import UsageFilterForm

CHART_HEIGHT = 120  # px of the tallest bar


@never_cache
@login_required
def usage(request: HttpRequest) -> HttpResponse:
    form = UsageFilterForm(request.GET, user=request.user)  # empty: the last 30 days
    if not form.is_valid():
        return render(request, "gateway/usage.html", {"form": form}, status=400)
    filters = form.cleaned_data
    found = usage_report.rows(request.user, filters)
    days = usage_report.daily(found, filters["start"], filters["end"])
    peak = max((d.charged_micros for d in days), default=0) or 1
    bars = [
        {"day": d, "height": max(1, d.charged_micros * CHART_HEIGHT // peak) if d.charged_micros
         else 0}
        for d in days
    ]  # fmt: skip
    newest_first = found.select_related("api_key").order_by("-created_at", "-id")
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "filters": filters,
        "bars": bars,
        "chart_height": CHART_HEIGHT,
        "models": usage_report.by_model(found),
        "totals": {
            "requests": sum(d.requests for d in days),
            "charged": sum(d.charged_micros for d in days),
        },  # fmt: skip
        "page": Paginator(newest_first, 50).get_page(request.GET.get("page")),
        "query": query.urlencode(),
    }
    return render(request, "gateway/usage.html", context)


@login_required
def usage_csv(request: HttpRequest) -> HttpResponse:
    form = UsageFilterForm(request.GET, user=request.user)
    if not form.is_valid():
        problems = [str(e) for errors in form.errors.values() for e in errors]
        return HttpResponse("Bad filters: " + " ".join(problems), status=400,
                            content_type="text/plain; charset=utf-8")  # fmt: skip
    found = usage_report.rows(request.user, form.cleaned_data)
    response = StreamingHttpResponse(usage_report.csv_lines(found), content_type="text/csv")
    name = f"reapi-usage-{form.cleaned_data['start']}-to-{form.cleaned_data['end']}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response
