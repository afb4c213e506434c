from __future__ import annotations

from django.conf import settings
from django.db.models.signals import post_save

from billing.models import CreditAccount


def create_credit_account(sender: type, instance: object, created: bool, **_: object) -> None:
    if created:
        CreditAccount.objects.get_or_create(user=instance)


post_save.connect(
    create_credit_account, sender=settings.AUTH_USER_MODEL, dispatch_uid="billing-account"
)
