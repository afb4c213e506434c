"""Catalog changes staff make in one step."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from catalog import selectors
from catalog.models import Model, Price, Route


@transaction.atomic
def clone_model(model: Model) -> Model:
    """A disabled copy (slug `<slug>-copy`, `-copy-2`, ...) with the same routes and the price
    in force, to edit into a new model; nothing reaches customers until staff enable it."""
    slug, n = f"{model.slug}-copy", 1
    while Model.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{model.slug}-copy-{n}"
    routes = list(model.routes.all())
    price = model.prices.filter(effective_from__lte=timezone.now()).first()
    copy = Model.objects.get(pk=model.pk)
    copy.pk, copy.slug, copy.enabled = None, slug, False
    copy.display_name = f"{model.display_name} (copy)"
    copy.save()
    for route in routes:
        Route.objects.create(model=copy, provider_id=route.provider_id,
                             upstream_model=route.upstream_model, priority=route.priority,
                             weight=route.weight, enabled=route.enabled)  # fmt: skip
    if price is not None:
        skip = {"id", "model", "announced_at", "notice_override_reason", "effective_from"}
        fields = {
            f.name: getattr(price, f.name)
            for f in Price._meta.concrete_fields
            if f.name not in skip
        }
        Price.objects.create(model=copy, effective_from=timezone.now(), **fields)
    selectors.invalidate()
    return copy
