"""A brand saved or deleted in admin reaches every process's snapshot (brands/selectors.py)."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from brands.models import Brand, BrandModel
from catalog.signals import bump

for _model in (Brand, BrandModel):
    post_save.connect(bump, sender=_model, dispatch_uid=f"brand-bump-save-{_model.__name__}")
    post_delete.connect(bump, sender=_model, dispatch_uid=f"brand-bump-del-{_model.__name__}")
