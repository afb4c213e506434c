from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from catalog.models import Model


def home(request: HttpRequest) -> HttpResponse:
    order = ["image", "video", "tool", "chat", "embedding"]
    brand = getattr(request, "brand", None)
    enabled = Model.objects.filter(enabled=True)
    if brand is not None and not brand.all_models:
        enabled = enabled.filter(slug__in=brand.models)
    models = sorted(
        enabled,
        key=lambda m: (order.index(m.kind) if m.kind in order else 9, m.sort_order, m.slug),
    )
    return render(request, "home.html", {"models": models})
