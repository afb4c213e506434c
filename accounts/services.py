"""Account-level changes that touch several rows."""

from __future__ import annotations

import base64
import secrets

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts import keys
from accounts.models import User


def user_close(user: User) -> None:
    """Close an account: revoke every key and deactivate the login. Rows stay for the ledger."""
    with transaction.atomic():
        keys.revoke_all_for(user)
        User.objects.filter(pk=user.pk).update(is_active=False, closed_at=timezone.now())


def webhook_secret(user: User, *, rotate: bool = False) -> str:
    """The account's webhook signing secret, made on first use (or anew when rotating)."""
    if user.webhook_secret and not rotate:
        return user.webhook_secret
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    User.objects.filter(pk=user.pk).update(webhook_secret=secret)
    user.webhook_secret = secret
    return secret


def suspend(users: QuerySet[User], *, by: object) -> int:
    """Suspend these accounts (every API call gets 403 at once); how many were not already."""
    count = users.filter(suspended_at__isnull=True).update(
        suspended_at=timezone.now(), suspension_reason=f"Suspended by {by}"
    )
    for user in users:
        keys.forget_cached_for(user)
    return count


def lift_suspension(users: QuerySet[User]) -> int:
    count = users.exclude(suspended_at__isnull=True).update(suspended_at=None, suspension_reason="")
    for user in users:
        keys.forget_cached_for(user)
    return count
