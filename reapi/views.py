from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from catalog.models import Model


def home(request: HttpRequest) -> HttpResponse:
    models = Model.objects.filter(enabled=True).order_by("kind", "sort_order", "slug")
    return render(request, "home.html", {"models": models})
