"""Pages of the gateway app: Settings → Usage (rules in gateway/usage_report.py) and the API
reference (gateway/openapi.py)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from gateway import dashboard, openapi, usage_report
from gateway.usage_report import UsageFilterForm
from reapi.context_processors import site, site_url

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
    white_label = request.user.brand_id is not None  # which provider answered is not said
    lines = usage_report.csv_lines(found, providers=not white_label)
    response = StreamingHttpResponse(lines, content_type="text/csv")
    name = f"usage-{form.cleaned_data['start']}-to-{form.cleaned_data['end']}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


def api_schema(request: HttpRequest) -> HttpResponse:
    """The OpenAPI 3.1 document of /v1 (gateway/openapi.py)."""
    title = site(request)["SITE_NAME"]
    document = openapi.document(site_url(request), title=title)
    return JsonResponse(document, json_dumps_params={"indent": 2})


def api_reference(request: HttpRequest) -> HttpResponse:
    """The same document as a page: each operation, its parameters and body fields."""
    tags: dict[str, list[dict]] = {}
    for (path, method), op in openapi.operations().items():
        body = (op.get("requestBody") or {}).get("content", {})
        schema = (body.get("application/json") or body.get("multipart/form-data") or {}).get(
            "schema", {}
        )
        required = set(schema.get("required", []))
        fields = [
            {"name": name, "type": _type_of(spec), "required": name in required,
             "description": spec.get("description", "")}
            for name, spec in sorted(schema.get("properties", {}).items(),
                                     key=lambda item: (item[0] not in required, item[0]))
        ]  # fmt: skip
        tags.setdefault(op["tags"][0], []).append({
            "method": method.upper(), "path": path, "summary": op["summary"],
            "description": op["description"], "fields": fields,
            "multipart": "multipart/form-data" in body,
            "parameters": op.get("parameters", []),
            "errors": sorted(code for code in op["responses"] if code != "200"),
        })  # fmt: skip
    return render(request, "gateway/api_reference.html", {"tags": tags})


def _type_of(spec: dict) -> str:
    if "type" in spec:
        return spec["type"] if isinstance(spec["type"], str) else " | ".join(spec["type"])
    if "enum" in spec:
        return " | ".join(f'"{value}"' for value in spec["enum"])
    if "oneOf" in spec:
        return " | ".join(_type_of(option) for option in spec["oneOf"])
    return "as the protocol defines it"


def staff_dashboard(request: HttpRequest) -> HttpResponse:
    """Requests, errors, credits and failovers over the last 24 h (staff who may read usage)."""
    if not request.user.has_perm("gateway.view_usagerecord"):
        raise PermissionDenied
    context = {**admin.site.each_context(request), "title": "Last 24 hours",
               **dashboard.last_day()}  # fmt: skip
    return render(request, "admin/dashboard.html", context)
