"""Invalidate the in-process catalog snapshot whenever staff change the catalog."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from catalog import selectors
from catalog.models import Model, Price, Provider, Route


def bump(**_: object) -> None:
    selectors.invalidate()


for _model in (Provider, Model, Route, Price):
    post_save.connect(bump, sender=_model, dispatch_uid=f"catalog-bump-save-{_model.__name__}")
    post_delete.connect(bump, sender=_model, dispatch_uid=f"catalog-bump-del-{_model.__name__}")
