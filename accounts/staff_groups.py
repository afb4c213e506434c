"""The staff roles, as Django groups made (and kept current) after every migrate:

- Catalog editors: providers, models, routes, prices; the site's pages, posts, plans, packs.
- Support: customers and their keys (suspend, lift, edit limits), balance adjustments with a
  reason (the ledger's "add" permission is what the adjustment form checks), and read access
  to usage, holds, video jobs and payment issues.
- Finance: read-only ledger, accounts, holds, usage, payment issues, plans and packs.

Nobody but a superuser edits ledger rows (the ledger admin refuses changes to everyone) or
sees a raw key or a provider secret (no admin page shows them)."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

CATALOG_EDITORS, SUPPORT, FINANCE = "Catalog editors", "Support", "Finance"

ALL = ("add", "change", "delete", "view")
ROLES: dict[str, dict[str, tuple[str, ...]]] = {
    CATALOG_EDITORS: {
        "catalog.provider": ALL, "catalog.model": ALL, "catalog.route": ALL,
        "catalog.price": ALL, "content.page": ALL, "content.post": ALL,
        "billing.plan": ALL, "billing.creditpack": ALL,
    },
    SUPPORT: {
        "accounts.user": ("view", "change"), "accounts.apikey": ("view", "change"),
        "billing.creditaccount": ("view",), "billing.ledgerentry": ("view", "add"),
        "billing.hold": ("view",), "billing.paymentissue": ("view",),
        "gateway.usagerecord": ("view",), "gateway.videojob": ("view",),
    },
    FINANCE: {
        "billing.creditaccount": ("view",), "billing.ledgerentry": ("view",),
        "billing.hold": ("view",), "billing.paymentissue": ("view",),
        "billing.plan": ("view",), "billing.creditpack": ("view",),
        "gateway.usagerecord": ("view",),
    },
}  # fmt: skip


def ensure_groups(**_: object) -> None:
    """Create the groups and set exactly their permissions (idempotent)."""
    for name, grants in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = []
        for label, actions in grants.items():
            app_label, model = label.split(".")
            for action in actions:
                permission = Permission.objects.filter(
                    content_type__app_label=app_label, codename=f"{action}_{model}"
                ).first()
                if permission is not None:
                    wanted.append(permission)
        group.permissions.set(wanted)
