"""Public catalog pages: every model with its price in credits, worked examples, announced
price changes and code to copy. Thin: prices come from catalog/pricing.py."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from brands import selectors as brands
from catalog import pricing
from catalog.models import Model

KIND_ORDER = ("chat", "image", "video", "tool", "embedding")


def model_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    rows = []
    for info in brands.catalog(getattr(request, "brand", None)):  # a brand's offer and prices
        price = info.price_at(now)
        upcoming = [p for p in reversed(info.prices) if p.effective_from > now]
        examples = pricing.examples(price, info.kind) if price else []
        shown = [e for e in examples if e.kind != "cached"]
        rows.append({"model": info, "examples": shown[:2],
                     "upcoming": upcoming[:1]})  # fmt: skip
    rows.sort(key=lambda row: (KIND_ORDER.index(row["model"].kind)
                               if row["model"].kind in KIND_ORDER else 9,
                               row["model"].display_name))  # fmt: skip
    kinds = [(kind, [r for r in rows if r["model"].kind == kind]) for kind in KIND_ORDER]
    return render(request, "catalog/models.html", {"kinds": [k for k in kinds if k[1]]})


def model_detail(request: HttpRequest, slug: str) -> HttpResponse:
    info = next((m for m in brands.catalog(getattr(request, "brand", None)) if m.slug == slug),
                None)  # fmt: skip
    if info is None:
        raise Http404("No such model.")
    model = Model.objects.get(pk=info.id)
    now = timezone.now()
    price = info.price_at(now)
    upcoming = [
        {"price": p, "examples": pricing.examples(p, info.kind)}
        for p in reversed(info.prices)
        if p.effective_from > now
    ]
    context = {
        "model": model,
        "info": info,
        "price": price,
        "examples": pricing.examples(price, info.kind) if price else [],
        "upcoming": upcoming,
    }
    return render(request, "catalog/model_detail.html", context)
