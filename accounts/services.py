"""Account-level changes that touch several rows."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts import keys
from accounts.models import User


def user_close(user: User) -> None:
    """Close an account: revoke every key and deactivate the login. Rows stay for the ledger."""
    with transaction.atomic():
        keys.revoke_all_for(user)
        User.objects.filter(pk=user.pk).update(is_active=False, closed_at=timezone.now())
